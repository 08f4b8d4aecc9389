"""Helpers of the live limits tests: fresh tenants on limits (no test sees another's counters),
and the live backend's counters."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from django.conf import settings

from tenants.limits.counters import backend
from tenants.limits.db_counters import DatabaseCounters
from tenants.limits.periods import period_at
from tenants.models import Account
from tenants.services import onboard_tenant
from tenants.services.limits import create_plan, set_account_limits


def limited_tenant(
    world,
    *,
    parent: Account | None = None,
    timezone: str = "UTC",
    rpm: int | None = None,
    **quotas: int,
) -> Account:
    """A new tenant (a real upstream child) on a new plan of partner A with these limits."""
    suffix = secrets.token_hex(3)
    tenant = onboard_tenant(
        parent=parent or world.partner_a,
        name=f"Tenant {suffix}",
        email=f"t-{suffix}@a.example",
        timezone=timezone,
    )
    if quotas or rpm is not None:
        plan = create_plan(
            world.partner_a, name=f"Plan {suffix}", limits={**quotas, "rpm": rpm}, actor=None
        )
        set_account_limits(tenant, plan=plan, actor=None)
    return tenant


def used(account: Account, name: str) -> int:
    """The account's counter of ``name`` this period, read from the live backend."""
    counter = f"account:{account.pk}:{period_at(account.timezone).key}:{name}"
    counters = backend()
    if isinstance(counters, DatabaseCounters):
        return counters.read_sync([counter])[0]
    import redis

    from tenants.limits.redis_counters import RedisCounters

    assert isinstance(counters, RedisCounters)
    with redis.Redis.from_url(settings.REDIS_URL) as client_:
        return int(client_.get(counters.key(counter)) or 0)


def this_month(timezone: str) -> tuple[str, str, int]:
    """(label, reset description, reset ms) of the current period in ``timezone``."""
    period = period_at(timezone, datetime.now(UTC))
    return period.label, period.describe_reset(), period.end_ms
