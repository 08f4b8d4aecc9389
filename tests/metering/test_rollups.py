"""Rollups: hourly and daily totals per account and token, idempotent, late events, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tenants.metering.models import UsageEvent, UsageRollup
from tenants.metering.rollups import purge_usage_events, rollup_usage

pytestmark = pytest.mark.django_db

HOUR = UsageRollup.Granularity.HOUR
DAY = UsageRollup.Granularity.DAY
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
TOKEN_A = "tok_a"


def _event(at: datetime, *, account: int = 1, token_id: str = TOKEN_A, **fields: Any) -> UsageEvent:
    values: dict[str, Any] = {
        "route": "/conversation/complete",
        "method": "POST",
        "status": 200,
        "duration_ms": 5,
        "messages": 1,
        "tokens": 10,
    }
    values.update(fields)
    return UsageEvent.objects.create(account_id=account, token_id=token_id, created_at=at, **values)


def _rollup(granularity: str, start: datetime, account: int = 1, token_id: str = "") -> UsageRollup:
    return UsageRollup.objects.get(
        granularity=granularity, bucket_start=start, account_id=account, token_id=token_id
    )


def _snapshot() -> list[tuple[Any, ...]]:
    return sorted(
        UsageRollup.objects.values_list(
            "granularity",
            "bucket_start",
            "account_id",
            "token_id",
            "requests",
            "messages",
            "tokens",
        )
    )


def test_events_on_both_sides_of_an_hour_land_in_their_own_hours_and_the_same_day():
    eleven, noon = NOW.replace(hour=11, minute=0), NOW.replace(minute=0)
    _event(noon - timedelta(microseconds=1), tokens=7)  # 11:59:59.999999
    _event(noon, tokens=5)
    _event(noon + timedelta(minutes=20), tokens=3, token_id="tok_b")
    _event(noon + timedelta(minutes=25), tokens=100, account=2)

    rollup_usage(now=NOW)

    assert _rollup(HOUR, eleven).tokens == 7
    assert (_rollup(HOUR, noon).tokens, _rollup(HOUR, noon).requests) == (8, 2)
    assert _rollup(HOUR, noon, token_id="tok_a").tokens == 5
    assert _rollup(HOUR, noon, token_id="tok_b").tokens == 3
    assert _rollup(HOUR, noon, account=2).tokens == 100
    day = NOW.replace(hour=0, minute=0)
    assert (_rollup(DAY, day).tokens, _rollup(DAY, day).messages) == (15, 3)
    assert _rollup(DAY, day, token_id="tok_a").tokens == 12
    assert _rollup(DAY, day, account=2).requests == 1


def test_errors_estimates_and_disconnects_are_counted_apart():
    noon = NOW.replace(minute=0)
    _event(noon, status=429, error_code="LIMITS_REACHED", messages=0, tokens=0)
    _event(noon, tokens=4, estimated=True, client_disconnected=True)
    _event(noon, tokens=6)

    rollup_usage(now=NOW)

    row = _rollup(HOUR, noon)
    assert (row.requests, row.errors, row.messages, row.tokens) == (3, 1, 2, 10)
    assert (row.estimated_tokens, row.client_disconnects) == (4, 1)


def test_running_the_rollup_twice_gives_the_same_totals():
    for minute in range(0, 60, 7):
        _event(NOW.replace(hour=10, minute=minute), tokens=minute)
        _event(NOW.replace(hour=11, minute=minute), token_id="tok_b")

    rollup_usage(now=NOW)
    first = _snapshot()
    rollup_usage(now=NOW)

    assert _snapshot() == first
    assert UsageRollup.objects.filter(granularity=DAY, token_id="").get().requests == 18


def test_a_late_event_recomputes_its_old_bucket():
    long_ago = NOW - timedelta(days=3)
    _event(long_ago, tokens=10)
    rollup_usage(start=long_ago, end=long_ago + timedelta(hours=1), now=NOW)
    assert _rollup(HOUR, long_ago.replace(minute=0)).tokens == 10

    _event(long_ago + timedelta(minutes=1), tokens=5)  # recorded now, about three days ago
    rollup_usage(now=NOW)

    assert _rollup(HOUR, long_ago.replace(minute=0)).tokens == 15
    assert _rollup(DAY, long_ago.replace(hour=0, minute=0)).tokens == 15


def test_hours_past_the_raw_retention_are_never_rebuilt(settings):
    settings.METERING_RAW_RETENTION_DAYS = 30
    old_hour = (NOW - timedelta(days=40)).replace(minute=0)
    UsageRollup.objects.create(
        granularity=HOUR, bucket_start=old_hour, account_id=1, token_id="", tokens=99
    )

    rollup_usage(start=old_hour, end=NOW, now=NOW)  # no raw events are left for that hour

    assert _rollup(HOUR, old_hour).tokens == 99


def test_retention_deletes_old_raw_events_only(settings):
    settings.METERING_RAW_RETENTION_DAYS = 30
    old = _event(NOW - timedelta(days=31), tokens=3)
    kept = _event(NOW - timedelta(days=29), tokens=4)
    rollup_usage(start=NOW - timedelta(days=31), end=NOW, now=NOW - timedelta(days=2))
    rollups_before = _snapshot()
    assert _rollup(DAY, (NOW - timedelta(days=31)).replace(hour=0, minute=0)).tokens == 3

    deleted = purge_usage_events(now=NOW)

    assert deleted == 1
    assert list(UsageEvent.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not UsageEvent.objects.filter(pk=old.pk).exists()
    assert _snapshot() == rollups_before  # rollups stay
    assert purge_usage_events(now=NOW) == 0
