"""Raw usage events ─► hourly and daily totals, per account and per token; raw retention.

Recomputing, never adding: a bucket's totals are always rebuilt from the raw events of that
bucket and written with an upsert, so running a rollup twice, or in two workers at once, gives
the same totals. Which buckets are rebuilt:

- every UTC hour of the last ``METERING_ROLLUP_LOOKBACK_HOURS`` (and the current one);
- any older hour that received a *late* event in that time (a row whose ``recorded_at`` is
  recent but whose ``created_at`` is older, e.g. a batch retried after a database outage);
- explicitly, ``rollup_usage(start=..., end=...)`` (backfills, tests).

Hours older than the raw retention are never rebuilt: their raw events may be gone, and their
rollups are what is left. A day is rebuilt from its hours whenever one of them was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from tenants.metering.models import UsageEvent, UsageRollup

logger = logging.getLogger("tenants.metering")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_TOTALS = ("requests", "errors", "messages", "conversations", "tokens", "estimated_tokens")
_ALL_FIELDS = (*_TOTALS, "client_disconnects")
_PURGE_BATCH = 5_000
_MAX_CHUNK = timedelta(days=1)
_UPSERT_BATCH = 2_000


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return floor_hour(moment).replace(hour=0)


def rollup_usage(
    *, start: datetime | None = None, end: datetime | None = None, now: datetime | None = None
) -> int:
    """Rebuild the hourly (then daily) rollups due now, or of the hours in [start, end).

    Returns how many hour buckets were rebuilt.
    """
    now = now or timezone.now()
    oldest_allowed = floor_hour(now - timedelta(days=settings.METERING_RAW_RETENTION_DAYS) + HOUR)
    if start is not None or end is not None:
        hours = set(_hours_between(start or oldest_allowed, end or now + HOUR))
    else:
        lookback_start = floor_hour(now - timedelta(hours=settings.METERING_ROLLUP_LOOKBACK_HOURS))
        hours = set(_hours_between(lookback_start, now + HOUR))
        hours |= _late_hours(since=now - timedelta(hours=settings.METERING_ROLLUP_LOOKBACK_HOURS))
    too_old = {hour for hour in hours if hour < oldest_allowed}
    if too_old:
        logger.warning(
            "usage rollup: %d hour(s) older than the raw retention left as they are (from %s)",
            len(too_old),
            min(too_old).isoformat(),
        )
    hours -= too_old
    for first, last in _runs(sorted(hours)):
        # At most a day per query, so that a backfill's memory does not grow with its range.
        chunk = first
        while chunk <= last:
            chunk_end = min(last + HOUR, chunk + _MAX_CHUNK)
            _rebuild_hours(chunk, chunk_end)
            chunk = chunk_end
    for day in sorted({floor_day(hour) for hour in hours}):
        _rebuild_day(day)
    return len(hours)


def _hours_between(start: datetime, end: datetime) -> Iterable[datetime]:
    hour = floor_hour(start)
    while hour < end:
        yield hour
        hour += HOUR


def _late_hours(*, since: datetime) -> set[datetime]:
    buckets = (
        UsageEvent.objects.filter(recorded_at__gte=since, created_at__lt=floor_hour(since))
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values_list("hour", flat=True)
        .distinct()
    )
    return {floor_hour(hour) for hour in buckets}


def _runs(hours: list[datetime]) -> Iterable[tuple[datetime, datetime]]:
    """Consecutive hours as (first, last) pairs: one query per run, not per hour."""
    run_start = previous = None
    for hour in hours:
        if previous is not None and hour - previous != HOUR:
            assert run_start is not None
            yield run_start, previous
            run_start = None
        if run_start is None:
            run_start = hour
        previous = hour
    if run_start is not None and previous is not None:
        yield run_start, previous


def _rebuild_hours(start: datetime, end: datetime) -> None:
    per_token = (
        UsageEvent.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(bucket=TruncHour("created_at", tzinfo=UTC))
        .values("bucket", "account_id", "token_id")
        .annotate(
            # Prefixed: an annotation may not take the name of a field it sums.
            sum_requests=Count("id"),
            sum_errors=Count("id", filter=Q(status__gte=400)),
            sum_messages=Sum("messages"),
            sum_conversations=Sum("conversations"),
            sum_tokens=Sum("tokens"),
            sum_estimated_tokens=Sum("tokens", filter=Q(estimated=True)),
            sum_client_disconnects=Count("id", filter=Q(client_disconnected=True)),
        )
        .order_by()
    )
    rows: dict[tuple[datetime, int, str], dict[str, int]] = {}
    for row in cast(Iterable[dict[str, Any]], per_token):
        bucket = floor_hour(row["bucket"])
        totals = {name: row[f"sum_{name}"] or 0 for name in _ALL_FIELDS}
        rows[(bucket, row["account_id"], row["token_id"])] = totals
        account_totals = rows.setdefault(
            (bucket, row["account_id"], UsageRollup.ALL_TOKENS), dict.fromkeys(_ALL_FIELDS, 0)
        )
        for name in _ALL_FIELDS:
            account_totals[name] += totals[name]
    _replace(UsageRollup.Granularity.HOUR, start, end, rows)


def _rebuild_day(day: datetime) -> None:
    hours = (
        UsageRollup.objects.filter(
            granularity=UsageRollup.Granularity.HOUR,
            bucket_start__gte=day,
            bucket_start__lt=day + DAY,
        )
        .values("account_id", "token_id")
        .annotate(**{f"sum_{name}": Sum(name) for name in _ALL_FIELDS})
        .order_by()
    )
    rows: dict[tuple[datetime, int, str], dict[str, int]] = {}
    for row in cast(Iterable[dict[str, Any]], hours):
        totals = {name: row[f"sum_{name}"] or 0 for name in _ALL_FIELDS}
        rows[(day, row["account_id"], row["token_id"])] = totals
    _replace(UsageRollup.Granularity.DAY, day, day + DAY, rows)


def _replace(
    granularity: str,
    start: datetime,
    end: datetime,
    rows: dict[tuple[datetime, int, str], dict[str, int]],
) -> None:
    """Make the buckets in [start, end) hold exactly ``rows``: upsert them, delete the rest."""
    existing: QuerySet[UsageRollup] = UsageRollup.objects.filter(
        granularity=granularity, bucket_start__gte=start, bucket_start__lt=end
    )
    with transaction.atomic():
        _upsert(granularity, rows)
        # Buckets whose events vanished (only an explicit rebuild after a manual delete).
        stale = [
            pk
            for pk, bucket, account_id, token_id in existing.values_list(
                "pk", "bucket_start", "account_id", "token_id"
            )
            if (floor_hour(bucket), account_id, token_id) not in rows
        ]
        if stale:
            UsageRollup.objects.filter(pk__in=stale).delete()


def _upsert(granularity: str, rows: dict[tuple[datetime, int, str], dict[str, int]]) -> None:
    """``INSERT ... ON CONFLICT DO UPDATE`` of ``rows``, with ``executemany``.

    What ``bulk_create(update_conflicts=True)`` does, without building a model instance and
    compiling a statement per batch: at a backfill's millions of rows that was most of the
    rollup's time. Both SQLite (3.24+) and PostgreSQL take this statement.
    """
    if not rows:
        return
    ops = connection.ops
    # The model's own column names (the fields have no db_column); every value is a parameter.
    key = ("granularity", "bucket_start", "account_id", "token_id")
    names = (*key, *_ALL_FIELDS, "updated_at")
    quoted = ", ".join(ops.quote_name(name) for name in names)
    updates = ", ".join(
        f"{ops.quote_name(name)} = excluded.{ops.quote_name(name)}"
        for name in (*_ALL_FIELDS, "updated_at")
    )
    sql = (
        f"INSERT INTO {ops.quote_name(UsageRollup._meta.db_table)} ({quoted}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(names))}) "
        f"ON CONFLICT ({', '.join(ops.quote_name(name) for name in key)}) DO UPDATE SET {updates}"
    )
    stamp = ops.adapt_datetimefield_value(timezone.now())
    params = [
        (
            granularity,
            ops.adapt_datetimefield_value(bucket),
            account_id,
            token_id,
            *(totals[name] for name in _ALL_FIELDS),
            stamp,
        )
        for (bucket, account_id, token_id), totals in rows.items()
    ]
    with connection.cursor() as cursor:
        for offset in range(0, len(params), _UPSERT_BATCH):
            cursor.executemany(sql, params[offset : offset + _UPSERT_BATCH])


def purge_usage_events(*, now: datetime | None = None) -> int:
    """Delete raw events older than the retention, in batches; rollups stay. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.METERING_RAW_RETENTION_DAYS)
    deleted = 0
    while True:
        batch = list(
            UsageEvent.objects.filter(created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:_PURGE_BATCH]
        )
        if not batch:
            return deleted
        deleted += UsageEvent.objects.filter(pk__in=batch).delete()[0]


def totals(queryset: QuerySet[Any]) -> dict[str, int]:
    """The summed totals of a rollup queryset, zeros when empty."""
    sums = queryset.aggregate(**{f"sum_{name}": Sum(name) for name in _ALL_FIELDS})
    return {name: sums[f"sum_{name}"] or 0 for name in _ALL_FIELDS}
