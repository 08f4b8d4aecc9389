"""The portal's side of the bench, run in the portal's environment as its own process.

    python -m bench.gateway.seed world --stub-url URL   # prints the world as JSON
    python -m bench.gateway.seed usage TOKEN_ID          # prints usage rows of a token as JSON

``world`` makes, through the project's services, a partner whose upstream is the stub, a tenant
under it with limits (so that every call goes through the Redis limiter: a requests-per-minute
rate on the tenant, quotas of messages and tokens), and the tokens the scenarios use:

- ``main``: the tenant's token for the measured calls (forwarded as the tenant, run-as);
- ``storm``: the same rights, used only by the disconnect storm so its usage rows can be counted;
- ``bad``: the main token's id with a wrong secret (valid checksum: refused after the hash check);
- ``scope``: a token without the ``bot:list`` scope;
- ``limited``: a token whose own rate is 0 requests per minute (refused by the limiter).
"""

from __future__ import annotations

import json
import os
import sys
import time


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def world(stub_url: str) -> dict[str, object]:
    from bench.gateway.targets import UPSTREAM_SECRET
    from tenants.credentials.format import API_PREFIX, compose, new_secret
    from tenants.services import create_partner, onboard_tenant
    from tenants.services.limits import set_account_limits, set_token_rpm
    from tenants.services.tokens import issue_token

    stamp = time.strftime("%Y%m%d%H%M%S")
    partner = create_partner(
        name=f"Bench partner {stamp}",
        upstream_base_url=stub_url,
        upstream_secret=UPSTREAM_SECRET,
    )
    tenant = onboard_tenant(parent=partner, name="Bench tenant", email="tenant@bench.example")
    set_account_limits(
        tenant,
        rpm=1_000_000_000,
        limits={"messages": 10**12, "tokens": 10**15},
        actor=None,
    )
    scopes = ["bot:*", "conversation:*"]
    main = issue_token(tenant, name="bench", scopes=scopes, actor=None)
    storm = issue_token(tenant, name="bench storm", scopes=scopes, actor=None)
    scope = issue_token(tenant, name="bench no bot:list", scopes=["usage:fetch"], actor=None)
    limited = issue_token(tenant, name="bench limited", scopes=scopes, actor=None)
    set_token_rpm(limited.token, rpm=0, actor=None)
    bad = compose(API_PREFIX, main.token.token_id, new_secret())
    return {
        "partner": partner.public_id,
        "tenant": tenant.public_id,
        "tokens": {
            "main": main.plaintext,
            "storm": storm.plaintext,
            "bad": bad,
            "scope": scope.plaintext,
            "limited": limited.plaintext,
        },
        "token_ids": {"main": main.token.token_id, "storm": storm.token.token_id},
    }


def usage(token_id: str) -> dict[str, int]:
    from django.db.models import Count, Q

    from tenants.metering.models import UsageEvent

    return UsageEvent.objects.filter(token_id=token_id).aggregate(
        rows=Count("id"),
        disconnected=Count("id", filter=Q(client_disconnected=True)),
    )


def main() -> None:
    _setup()
    command = sys.argv[1]
    if command == "world":
        result: object = world(sys.argv[sys.argv.index("--stub-url") + 1])
    elif command == "usage":
        result = usage(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
