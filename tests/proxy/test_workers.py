"""Several portal worker processes: a revocation in one is seen by the others within a second."""

from __future__ import annotations

import time

import httpx

from tenants.models import Token
from tenants.services.tokens import revoke_token
from tests.processes import wait_for
from tests.proxy.conftest import auth


def test_a_revocation_reaches_another_worker_process_within_a_second(world, portal, second_worker):
    token = world.token(world.a_child)
    headers = auth(token)
    # Both workers hold the token (and the account tree) warm in memory.
    for url in (portal.url, second_worker):
        for _ in range(3):
            assert httpx.get(f"{url}/v1/bot/list", headers=headers).status_code == 200

    revoke_token(Token.objects.get(last4=token[-4:]), actor=None)
    revoked_at = time.monotonic()

    def refused_everywhere() -> bool:
        return all(
            httpx.get(f"{url}/v1/bot/list", headers=headers).status_code == 401
            for url in (portal.url, second_worker)
        )

    wait_for(refused_everywhere, 3, "both workers to refuse the revoked token")
    assert time.monotonic() - revoked_at < 1.0
    body = httpx.get(f"{second_worker}/v1/bot/list", headers=headers).json()
    assert body["code"] == "NOT_AUTHENTICATED"
