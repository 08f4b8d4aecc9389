"""Nightly reconciliation: each child's portal totals against the upstream's own ``usage/fetch``.

The upstream counts a child's usage for its current billing period (UPSTREAM.md §5; the
calendar month in UTC as far as the portal can tell, and in the sandbox). The portal's side is
the same period: hourly rollups for the hours the rollup task has settled, raw events for the
recent ones (the rollup lookback), so only events still in a worker's buffer (seconds) can be
missing. One ``Reconciliation`` row per
account and day (a re-run replaces it); drift above the tolerance is flagged and logged.

Known, legitimate sources of drift: calls made as the child without the portal (the partner's
secret used directly), and units the two sides count differently (the upstream also counts the
user's turn of a stateful ``complete`` with ``text`` as a message; the portal counts the call).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from portal.upstream import UpstreamClient, UpstreamHTTPError, run_sync
from tenants.metering.models import Reconciliation, UsageEvent, UsageRollup
from tenants.metering.rollups import floor_hour, totals
from tenants.models import Account
from tenants.services.upstream import partner_of

logger = logging.getLogger("tenants.metering")

_UNITS = ("tokens", "messages", "conversations")


@dataclass(frozen=True, slots=True)
class UpstreamUsage:
    tokens: int
    messages: int
    conversations: int


def period_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def children_to_reconcile() -> list[int]:
    """Every tenant below a partner that is not closed: each is an upstream child."""
    return list(
        Account.objects.filter(parent__isnull=False)
        .exclude(status=Account.Status.CLOSED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def fetch_upstream_usage(account: Account) -> UpstreamUsage:
    """``GET /v1/usage/fetch`` as the child, with its partner's connection."""
    connection = partner_of(account).upstream_connection()

    async def call(client: UpstreamClient) -> object:
        return await client.request_json(
            connection, "GET", "/v1/usage/fetch", run_as=account.public_id
        )

    data = run_sync(call)
    if not isinstance(data, dict):
        raise UpstreamHTTPError(
            "usage/fetch answered with no object", code="BAD_GATEWAY", status=502
        )
    return UpstreamUsage(*(_number(data.get(unit)) for unit in _UNITS))


def portal_usage(account_id: int, start: datetime, now: datetime) -> dict[str, int]:
    """The portal's totals of one account from ``start`` to ``now``."""
    recent = max(start, floor_hour(now - timedelta(hours=settings.METERING_ROLLUP_LOOKBACK_HOURS)))
    settled = totals(
        UsageRollup.objects.filter(
            granularity=UsageRollup.Granularity.HOUR,
            account_id=account_id,
            token_id=UsageRollup.ALL_TOKENS,
            bucket_start__gte=start,
            bucket_start__lt=recent,
        )
    )
    fresh = UsageEvent.objects.filter(
        account_id=account_id, created_at__gte=recent, created_at__lte=now
    ).aggregate(**{f"sum_{unit}": Sum(unit) for unit in _UNITS})
    return {unit: settled[unit] + (fresh[f"sum_{unit}"] or 0) for unit in _UNITS}


def reconcile_account(account_id: int, *, now: datetime | None = None) -> Reconciliation | None:
    """Compare one child with the upstream and store the result; None if the account is gone.

    Transient upstream failures (unreachable, timeouts) raise, for the task to retry; an
    answer refusing the call is stored as a flagged row with its error.
    """
    account = Account.objects.filter(pk=account_id, parent__isnull=False).first()
    if account is None:
        return None
    now = now or timezone.now()
    start = period_start(now)
    portal = portal_usage(account.pk, start, now)
    fields: dict[str, object] = {
        "checked_at": now,
        "period_start": start,
        **{f"portal_{unit}": portal[unit] for unit in _UNITS},
    }
    try:
        upstream = fetch_upstream_usage(account)
    except UpstreamHTTPError as error:
        if error.status in (429, 500, 502, 503, 504):
            raise
        logger.warning("usage reconciliation of %s failed: %s", account.public_id, error.message)
        fields.update(
            {f"upstream_{unit}": None for unit in _UNITS},
            **{f"drift_{unit}": 0 for unit in _UNITS},
            flagged=True,
            error=error.message,
        )
    else:
        drift = {unit: portal[unit] - getattr(upstream, unit) for unit in _UNITS}
        flagged = any(_beyond_tolerance(drift[unit], getattr(upstream, unit)) for unit in _UNITS)
        fields.update(
            {f"upstream_{unit}": getattr(upstream, unit) for unit in _UNITS},
            **{f"drift_{unit}": drift[unit] for unit in _UNITS},
            flagged=flagged,
            error="",
        )
        if flagged:
            logger.warning(
                "usage drift for %s (portal minus upstream): tokens %+d, messages %+d, "
                "conversations %+d",
                account.public_id,
                drift["tokens"],
                drift["messages"],
                drift["conversations"],
            )
    row, _ = Reconciliation.objects.update_or_create(
        account=account, checked_on=now.astimezone(UTC).date(), defaults=fields
    )
    return row


def _beyond_tolerance(drift: int, upstream: int) -> bool:
    allowed = abs(upstream) * settings.METERING_RECONCILE_TOLERANCE_PERCENT / 100
    return abs(drift) > allowed


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
