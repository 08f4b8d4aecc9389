"""The read side of metering: what the usage pages, the CSV export and the usage API show.

Everything here reads rollups (``UsageRollup``), with two deliberate exceptions on raw events,
each one bounded by an index:

- the *current period* adds the raw events newer than the newest hourly rollup (the
  "watermark"), so a tenant sees calls made since the last rollup run;
- *rejections* (429s, ``LIMITS_REACHED``, ``TOO_MANY_REQUESTS``) are individual calls with their
  request ids, which no rollup keeps.

Charts and the CSV export read daily rollups only. Daily buckets are UTC days, so the export's
``YYYY-MM`` is a UTC calendar month; the per-account period (and its reset) is the account's
own calendar month (``tenants.limits.periods``), summed from hourly rollups.

Usage of a tenant counts against itself and every ancestor (``tenants.limits.policy``), so
"used" against a limit is always the account's *subtree* total; the CSV rows are each account's
own calls (what it is billed for).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from tenants.limits.periods import Period, period_at
from tenants.limits.policy import LEVEL_FIELDS, QUOTAS, level_values
from tenants.metering.models import UsageEvent, UsageRollup
from tenants.metering.rollups import DAY, HOUR, floor_day, totals
from tenants.models import Account

# The series of the charts and the columns of the export, in this order.
SERIES = ("messages", "tokens", "conversations", "requests", "errors")
LIMIT_CODES = ("LIMITS_REACHED", "TOO_MANY_REQUESTS")
NEAR_PERCENT = 80


def limit_rejections() -> Q:
    """Calls refused for a limit: the portal's own 429s and the upstream's limit errors."""
    return Q(status=429) | Q(error_code__in=LIMIT_CODES)


def subtree_pks(account: Account) -> QuerySet[Account, Any]:
    """The account and everything below it, as a subquery (paths end in "/")."""
    return Account.objects.filter(path__startswith=account.path).values("pk")


def zeros() -> dict[str, int]:
    return dict.fromkeys(SERIES, 0)


# -- a period's totals ------------------------------------------------------------------------


def watermark() -> datetime | None:
    """The end of the newest hourly bucket: raw events from here on are not rolled up yet."""
    newest = (
        UsageRollup.objects.filter(granularity=UsageRollup.Granularity.HOUR)
        .order_by("-bucket_start")
        .values_list("bucket_start", flat=True)
        .first()
    )
    return newest + HOUR if newest is not None else None


def period_totals(
    account: Account,
    start: datetime,
    end: datetime,
    *,
    subtree: bool = True,
    now: datetime | None = None,
    mark: datetime | None = None,
) -> dict[str, int]:
    """Totals of ``account`` (and, with ``subtree``, everything below it) in [start, end).

    Hourly rollups up to the watermark, raw events after it (none when the period is over).
    ``mark`` is the watermark, when the caller already has it.
    """
    now = now or timezone.now()
    ids: Any = subtree_pks(account) if subtree else [account.pk]
    mark = mark or watermark() or start
    settled_end = min(end, max(mark, start))
    result = zeros()
    if settled_end > start:
        sums = totals(
            UsageRollup.objects.filter(
                granularity=UsageRollup.Granularity.HOUR,
                token_id=UsageRollup.ALL_TOKENS,
                account_id__in=ids,
                bucket_start__gte=start,
                bucket_start__lt=settled_end,
            )
        )
        result.update({name: sums[name] for name in SERIES})
    fresh_end = min(end, now + timedelta(seconds=1))
    if fresh_end > settled_end:
        fresh = UsageEvent.objects.filter(
            account_id__in=ids, created_at__gte=settled_end, created_at__lt=fresh_end
        ).aggregate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status__gte=400)),
            **{f"sum_{unit}": Sum(unit) for unit in QUOTAS},
        )
        result["requests"] += fresh["requests"] or 0
        result["errors"] += fresh["errors"] or 0
        for unit in QUOTAS:
            result[unit] += fresh[f"sum_{unit}"] or 0
    return result


# -- limits along the lineage -----------------------------------------------------------------


@dataclass(frozen=True)
class LevelUsage:
    """One account of a lineage: its limits, its period, and its subtree's use of it."""

    account_pk: int
    public_id: str
    name: str
    plan_name: str | None
    period: Period
    quotas: Mapping[str, int]
    rpm: int | None
    used: Mapping[str, int]
    is_self: bool


def _level_rows(pks: Iterable[int]) -> dict[int, dict[str, Any]]:
    rows = Account.objects.filter(pk__in=list(pks)).values(*LEVEL_FIELDS, "plan__name")
    return {row["pk"]: row for row in rows}


def lineage_usage(account: Account, *, now: datetime | None = None) -> list[LevelUsage]:
    """Every level whose limits apply to ``account``: itself first, then each ancestor."""
    now = now or timezone.now()
    rows = _level_rows(account.lineage_pks)
    mark = watermark()
    levels = []
    for pk in reversed(account.lineage_pks):
        row = rows.get(pk)
        if row is None:
            continue
        values = level_values(row)
        period = period_at(values["timezone"], now)
        level_account = account if pk == account.pk else Account(pk=pk, path=_path_of(account, pk))
        used = period_totals(level_account, period.start, period.end, now=now, mark=mark)
        levels.append(
            LevelUsage(
                account_pk=pk,
                public_id=values["public_id"],
                name=values["name"],
                plan_name=row["plan__name"],
                period=period,
                quotas=values["quotas"],
                rpm=values["rpm"],
                used=used,
                is_self=pk == account.pk,
            )
        )
    return levels


def _path_of(account: Account, ancestor_pk: int) -> str:
    pks = account.lineage_pks
    return "/" + "/".join(str(pk) for pk in pks[: pks.index(ancestor_pk) + 1]) + "/"


@dataclass(frozen=True)
class QuotaLine:
    """One quota of the account itself, and the level whose limit leaves the least room."""

    unit: str
    used: int
    limit: int | None
    tightest: LevelUsage | None  # None: no level limits this unit

    @property
    def percent(self) -> int | None:
        return percent_of(self.used, self.limit)

    @property
    def tightest_left(self) -> int | None:
        if self.tightest is None:
            return None
        return max(0, self.tightest.quotas[self.unit] - self.tightest.used[self.unit])


def percent_of(used: int, limit: int | None) -> int | None:
    if limit is None:
        return None
    if limit == 0:
        return 100 if used == 0 else 100 + used
    return round(used * 100 / limit)


def quota_lines(levels: Sequence[LevelUsage]) -> list[QuotaLine]:
    own = levels[0]
    lines = []
    for unit in QUOTAS:
        limited = [level for level in levels if unit in level.quotas]
        tightest = min(
            limited,
            key=lambda level: level.quotas[unit] - level.used[unit],
            default=None,
        )
        lines.append(QuotaLine(unit, own.used[unit], own.quotas.get(unit), tightest))
    return lines


# -- what a parent sold to its children -------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    unit: str
    own_limit: int | None
    allocated: int  # the sum of the children's limits
    unlimited_children: int  # children with no limit on this unit
    children_used: int

    @property
    def percent(self) -> int | None:
        return percent_of(self.allocated, self.own_limit)

    @property
    def oversold(self) -> int:
        if self.own_limit is None:
            return 0
        return max(0, self.allocated - self.own_limit)


def allocations(
    account: Account, own: LevelUsage, *, now: datetime | None = None
) -> tuple[int, list[Allocation]]:
    """How much of ``account``'s capacity its direct children hold; (children, per unit).

    One query for the children's limits, and the children's use is the subtree's minus the
    account's own calls (no query per child).
    """
    children = list(
        Account.objects.filter(parent=account)
        .exclude(status=Account.Status.CLOSED)
        .values(*LEVEL_FIELDS)
    )
    if not children:
        return 0, []
    own_calls = period_totals(account, own.period.start, own.period.end, subtree=False, now=now)
    result = []
    for unit in QUOTAS:
        limits = [level_values(child)["quotas"].get(unit) for child in children]
        result.append(
            Allocation(
                unit=unit,
                own_limit=own.quotas.get(unit),
                allocated=sum(limit for limit in limits if limit is not None),
                unlimited_children=sum(1 for limit in limits if limit is None),
                children_used=max(0, own.used[unit] - own_calls[unit]),
            )
        )
    return len(children), result


# -- daily series -----------------------------------------------------------------------------


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def daily_series(
    account: Account, first: date, last: date, *, subtree: bool = True
) -> list[tuple[date, dict[str, int]]]:
    """One point per UTC day in [first, last], zeros where there is no rollup; one query."""
    ids: Any = subtree_pks(account) if subtree else [account.pk]
    rows = (
        UsageRollup.objects.filter(
            granularity=UsageRollup.Granularity.DAY,
            token_id=UsageRollup.ALL_TOKENS,
            account_id__in=ids,
            bucket_start__gte=_day_start(first),
            bucket_start__lt=_day_start(last) + DAY,
        )
        .values("bucket_start")
        .annotate(**{f"sum_{name}": Sum(name) for name in SERIES})
        .order_by()
    )
    found: dict[date, dict[str, int]] = {}
    for row in cast(Iterable[dict[str, Any]], rows):
        day = floor_day(row["bucket_start"]).date()
        found[day] = {name: row[f"sum_{name}"] or 0 for name in SERIES}
    return [(day, found.get(day, zeros())) for day in days_between(first, last)]


# -- rejections -------------------------------------------------------------------------------


def recent_rejections(
    accounts: Any, *, limit: int = 20, since: datetime | None = None
) -> list[Any]:
    """The newest limit rejections of ``accounts`` (a pk list or subquery), newest first."""
    events = UsageEvent.objects.filter(limit_rejections(), account_id__in=accounts)
    if since is not None:
        events = events.filter(created_at__gte=since)
    return list(
        events.order_by("-created_at", "-pk").only(
            "account_id", "route", "method", "status", "error_code", "request_id", "created_at"
        )[:limit]
    )
