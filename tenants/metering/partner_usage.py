"""The partner-wide read side of metering: the usage overview and the CSV export.

Reads daily rollups only (UTC days), so a ``YYYY-MM`` period here is a UTC calendar month; the
per-account reads (limits, charts, rejections) are in ``tenants.metering.usage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from django.db.models import Sum
from django.utils import timezone

from tenants.limits.policy import LEVEL_FIELDS, QUOTAS, level_values
from tenants.metering.models import UsageRollup

# The series of the charts and the columns of the export, in this order.
from tenants.metering.usage import NEAR_PERCENT, SERIES, percent_of, subtree_pks, zeros
from tenants.models import Account


def month_bounds(key: str) -> tuple[datetime, datetime]:
    """``2026-11`` → the UTC instants [1 Nov, 1 Dec); ``ValueError`` for anything else."""
    if len(key) != 7 or key[4] != "-":
        raise ValueError("period must be YYYY-MM")
    year, month = int(key[:4]), int(key[5:])
    if not (1 <= month <= 12 and 2000 <= year <= 9999):
        raise ValueError("period must be YYYY-MM")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = (
        datetime(year + 1, 1, 1, tzinfo=UTC)
        if month == 12
        else datetime(year, month + 1, 1, tzinfo=UTC)
    )
    return start, end


def utc_month(now: datetime | None = None) -> str:
    moment = (now or timezone.now()).astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def own_totals_by_account(
    root: Account, start: datetime, end: datetime
) -> dict[int, dict[str, Any]]:
    """Each account's own totals in [start, end) from daily rollups: one grouped query.

    Rows carry ``path``, ``name``, ``public_id`` and ``parent_id`` of the account (a join).
    """
    rows = (
        UsageRollup.objects.filter(
            granularity=UsageRollup.Granularity.DAY,
            token_id=UsageRollup.ALL_TOKENS,
            account_id__in=subtree_pks(root),
            bucket_start__gte=start,
            bucket_start__lt=end,
        )
        .values("account_id")
        .annotate(**{name: Sum(name) for name in SERIES})
        .order_by()
    )
    return {row["account_id"]: row for row in cast(Iterable[dict[str, Any]], rows)}


@dataclass(frozen=True)
class TenantUse:
    pk: int
    public_id: str
    name: str
    used: Mapping[str, int]  # own calls (top tenants) or subtree (limits)
    unit: str = ""
    limit: int | None = None

    @property
    def amount(self) -> int:
        return self.used.get(self.unit, 0)

    @property
    def percent(self) -> int | None:
        return percent_of(self.amount, self.limit)


@dataclass
class Overview:
    period: str
    top: list[TenantUse] = field(default_factory=list)
    near: list[TenantUse] = field(default_factory=list)  # one row per account and unit
    tenants_with_usage: int = 0
    totals: dict[str, int] = field(default_factory=zeros)


def overview(root: Account, *, now: datetime | None = None, top: int = 10) -> Overview:
    """Top tenants and tenants at ≥ NEAR_PERCENT of a quota, this UTC month, under ``root``.

    Two queries whatever the tree holds: own totals per account (grouped in the database),
    and the accounts of the tree with their limits (to add a tenant's use to its ancestors).
    """
    key = utc_month(now)
    start, end = month_bounds(key)
    own = own_totals_by_account(root, start, end)
    result = Overview(period=key, tenants_with_usage=len(own))
    for row in own.values():
        for name in SERIES:
            result.totals[name] += row[name] or 0
    accounts = {
        row["pk"]: row
        for row in Account.objects.filter(path__startswith=root.path).values(
            *LEVEL_FIELDS, "path", "status"
        )
    }
    # Subtree totals: a tenant's calls count for itself and each of its ancestors.
    subtree: dict[int, dict[str, int]] = {}
    for pk, usage in own.items():
        path = accounts[pk]["path"] if pk in accounts else ""
        for part in path.strip("/").split("/"):
            if part:
                sums = subtree.setdefault(int(part), zeros())
                for name in QUOTAS:
                    sums[name] += usage[name] or 0
    near: list[TenantUse] = []
    for pk, used in subtree.items():
        account = accounts.get(pk)
        if account is None or pk == root.pk or account["status"] == Account.Status.CLOSED:
            continue
        for unit, limit in level_values(account)["quotas"].items():
            percent = percent_of(used[unit], limit)
            if percent is not None and percent >= NEAR_PERCENT:
                near.append(TenantUse(pk, account["public_id"], account["name"], used, unit, limit))
    near.sort(key=lambda item: (-(item.percent or 0), item.name))
    result.near = near[:50]
    ranked = sorted(
        (pk for pk in own if pk != root.pk and pk in accounts),
        key=lambda pk: (own[pk]["tokens"] or 0, own[pk]["messages"] or 0),
        reverse=True,
    )[:top]
    result.top = [
        TenantUse(pk, accounts[pk]["public_id"], accounts[pk]["name"], _clean(own[pk]))
        for pk in ranked
    ]
    return result


def _clean(row: Mapping[str, Any]) -> dict[str, int]:
    return {name: row.get(name) or 0 for name in SERIES}


# -- the CSV export ---------------------------------------------------------------------------

CSV_HEADER = ("account_id", "name", "parent_id", *SERIES)


def export_rows(root: Account, period: str) -> Iterable[tuple[Any, ...]]:
    """One row per account under ``root`` (itself included) for the UTC month ``period``.

    Two queries: the grouped totals, then the accounts streamed in chunks.
    """
    start, end = month_bounds(period)
    own = own_totals_by_account(root, start, end)
    accounts = (
        Account.objects.filter(path__startswith=root.path)
        .order_by("path")
        .values_list("pk", "public_id", "name", "parent__public_id")
    )
    for pk, public_id, name, parent_id in accounts.iterator(chunk_size=2000):
        row = own.get(pk, {})
        yield (public_id, name, parent_id or "", *(row.get(name_) or 0 for name_ in SERIES))
