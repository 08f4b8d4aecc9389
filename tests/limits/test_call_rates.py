"""A call's other rates (a widget key's chat session, ``limits.Rate``): admitted in the same
atomic step as the token's and the accounts' limits, on Redis and on the database."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from tenants import limits
from tenants.limits.counters import Counters
from tenants.limits.db_counters import DatabaseCounters, prune_rate_windows
from tenants.limits.policy import checks_for, cost_of
from tenants.models import LimitCounter, RateHit
from tests.limits.conftest import level

pytestmark = pytest.mark.django_db(transaction=True)

Result = limits.Reservation | limits.LimitExceeded


def _session(limit: int) -> limits.Rate:
    return limits.Rate(
        subject=f"session:tok_{secrets.token_hex(4)}:{secrets.token_hex(16)}",
        limit=limit,
        label="This chat session",
    )


async def _admit(
    counters: Counters,
    levels,
    rates: list[limits.Rate],
    calls: int,
    *,
    token_rpm: int | None = None,
) -> list[Result]:
    async def one() -> Result:
        try:
            return await limits.admit(
                token_id="tok_key",
                token_rpm=token_rpm,
                levels=levels,
                metering="stream",
                body={},
                rates=rates,
                counters=counters,
            )
        except limits.LimitExceeded as refusal:
            return refusal

    return await asyncio.gather(*(one() for _ in range(calls)))


def _refusals(results: list[Result]) -> list[limits.LimitExceeded]:
    return [result for result in results if isinstance(result, limits.LimitExceeded)]


def test_a_session_admits_exactly_its_rate_out_of_concurrent_calls(counters):
    rate = _session(3)

    results = asyncio.run(_admit(counters, [level(messages=100)], [rate], 12))

    refused = _refusals(results)
    assert len(results) - len(refused) == 3
    assert {r.code for r in refused} == {"TOO_MANY_REQUESTS"}
    details = refused[0].details
    assert details["session"] == rate.subject.removeprefix("session:")
    assert (details["name"], details["limit"], details["used"]) == ("rpm", 3, 3)
    assert refused[0].message.startswith(
        "This chat session has made 3 requests in the last minute, its limit (retry in "
    )
    assert 0 < int(dict(refused[0].headers)[b"retry-after"]) <= 60


def test_a_session_refusal_reserves_nothing_else(counters):
    acme = level(messages=100)
    rate = _session(1)

    asyncio.run(_admit(counters, [acme], [rate], 4))

    period = datetime.now(UTC).strftime("%Y-%m")
    assert asyncio.run(counters.read([f"account:{acme.pk}:{period}:messages"])) == [1]


def test_an_account_refusal_takes_no_slot_of_the_session(counters):
    rate = _session(2)
    empty = level(messages=0)
    roomy = level(messages=10)

    refused = asyncio.run(_admit(counters, [empty], [rate], 3))
    admitted = asyncio.run(_admit(counters, [roomy], [rate], 3))

    assert len(_refusals(refused)) == 3
    assert {r.code for r in _refusals(refused)} == {"LIMITS_REACHED"}
    assert len(_refusals(admitted)) == 1  # the session still had both of its slots


def test_each_session_has_its_own_window_and_the_key_one_for_all(counters):
    acme = level(messages=100)
    first, second = _session(2), _session(2)

    one = asyncio.run(_admit(counters, [acme], [first], 3, token_rpm=3))
    other = asyncio.run(_admit(counters, [acme], [second], 3, token_rpm=3))

    assert len(_refusals(one)) == 1  # its own rate
    # The second session has room of its own, but the key's rate (3) has one slot left.
    refused = _refusals(other)
    assert len(refused) == 2
    assert all("token" in r.details for r in refused)


def test_idle_session_windows_are_pruned_and_come_back_when_used():
    counters = DatabaseCounters()
    acme = level(messages=100)
    rate = _session(1)
    try:
        asyncio.run(_admit(counters, [acme], [rate], 1, token_rpm=100))
        assert RateHit.objects.filter(subject=rate.subject).count() == 1
        a_minute_later = int(datetime.now(UTC).timestamp() * 1000) + 61_000

        hits, rows = prune_rate_windows(now_ms=a_minute_later)

        assert hits >= 2  # the session's hit and the key's
        assert rows >= 1
        assert not LimitCounter.objects.filter(subject=rate.subject).exists()
        assert LimitCounter.objects.filter(subject="token:tok_key").exists()  # kept: reused
        # The session comes back: its window starts again from nothing.
        again = asyncio.run(_admit(counters, [acme], [rate], 2, token_rpm=100))
        assert len(_refusals(again)) == 1
    finally:
        asyncio.run(sync_to_async(connections.close_all)())


def test_a_follow_up_call_is_held_to_the_quotas_but_counted_by_no_rate():
    partner, tenant = level("Reseller", rpm=100, messages=10), level("Shop", rpm=5, messages=3)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    cost = cost_of("stream", {})

    def checks(follow_up: bool) -> set[tuple[str, str]]:
        found = checks_for(
            token_id="tok_key",
            token_rpm=7,
            levels=[partner, tenant],
            cost=cost,
            now=now,
            rates=[_session(2)],
            follow_up=follow_up,
        )
        return {(check.subject, check.name) for check in found}

    first, later = checks(False), checks(True)

    assert {name for _, name in first} == {"rpm", "messages", "tokens"}
    assert sum(name == "rpm" for _, name in first) == 4  # token, session, tenant, partner
    assert later == {item for item in first if item[1] != "rpm"}
