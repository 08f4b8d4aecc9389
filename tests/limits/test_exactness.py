"""Admission is one atomic step: exact under concurrency, on Redis and on the database."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connections

from tenants import limits
from tenants.limits.counters import Counters
from tenants.limits.db_counters import DatabaseCounters
from tenants.limits.policy import Level, checks_for, cost_of
from tests.limits.conftest import level

pytestmark = pytest.mark.django_db(transaction=True)

CALLS, QUOTA = 200, 50


Result = limits.Reservation | limits.LimitExceeded


async def _admit_all(
    counters: Counters,
    levels: list[Level],
    calls: int,
    *,
    metering: str = "stream",
    token_rpm: int | None = None,
    body: dict[str, Any] | None = None,
) -> list[Result]:
    async def one() -> Result:
        try:
            return await limits.admit(
                token_id="tok_test",
                token_rpm=token_rpm,
                levels=levels,
                metering=metering,
                body=body or {},
                counters=counters,
            )
        except limits.LimitExceeded as refusal:
            return refusal

    return await asyncio.gather(*(one() for _ in range(calls)))


def _split(
    results: list[Result],
) -> tuple[list[limits.Reservation], list[limits.LimitExceeded]]:
    admitted = [r for r in results if isinstance(r, limits.Reservation)]
    refused = [r for r in results if isinstance(r, limits.LimitExceeded)]
    return admitted, refused


def test_200_concurrent_calls_against_50_messages_admit_exactly_50(counters):
    acme = level(messages=QUOTA)
    admitted, refused = _split(asyncio.run(_admit_all(counters, [acme], CALLS)))
    assert (len(admitted), len(refused)) == (QUOTA, CALLS - QUOTA)
    assert {r.code for r in refused} == {"LIMITS_REACHED"}
    assert {r.details["used"] for r in refused} == {QUOTA}
    period = datetime.now(UTC).strftime("%Y-%m")
    used = asyncio.run(counters.read([f"account:{acme.pk}:{period}:messages"]))
    assert used == [QUOTA]


def test_200_threads_on_the_database_admit_exactly_50():
    """The database backend's atomic step itself, from many threads (own connections) at once."""
    acme = level(messages=QUOTA)
    checks = checks_for(
        token_id="tok_test",
        token_rpm=None,
        levels=[acme],
        cost=cost_of("stream", {}),
        now=datetime.now(UTC),
    )
    backend = DatabaseCounters()

    def admit_once(_: int) -> bool:
        try:
            return backend.admit_sync(checks).refused is None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(admit_once, range(CALLS)))
    assert results.count(True) == QUOTA
    assert backend.read_sync([checks[0].counter]) == [QUOTA]


def test_an_ancestors_limit_blocks_its_descendants(counters):
    partner = level("Reseller", messages=3)
    child = level("Acme Corp")
    grandchild = level("Acme Shop")
    sibling = level("Other Corp")
    as_grandchild = asyncio.run(_admit_all(counters, [partner, child, grandchild], 2))
    as_sibling = asyncio.run(_admit_all(counters, [partner, sibling], 2))
    assert len(_split(as_grandchild)[0]) == 2
    admitted, refused = _split(as_sibling)
    assert len(admitted) == 1
    assert refused[0].details == {
        "account": partner.public_id,
        "name": "messages",
        "limit": 3,
        "used": 3,
        "resetAt": refused[0].details["resetAt"],
    }
    assert refused[0].message.startswith("Reseller (above Other Corp) has used its 3 messages")


def test_a_refused_call_reserves_nothing_at_any_level(counters):
    partner = level("Reseller", messages=10)
    child = level("Acme Corp", messages=1)
    admitted, refused = _split(asyncio.run(_admit_all(counters, [partner, child], 3)))
    assert (len(admitted), len(refused)) == (1, 2)
    period = datetime.now(UTC).strftime("%Y-%m")
    used = asyncio.run(
        counters.read([f"account:{p.pk}:{period}:messages" for p in (partner, child)])
    )
    assert used == [1, 1]


def test_a_give_back_returns_the_reservation_at_every_level(counters):
    partner = level("Reseller", messages=1)
    child = level("Acme Corp", conversations=1)
    body = {"messages": [{"type": "user", "text": "hi"}]}
    (first,) = asyncio.run(
        _admit_all(counters, [partner, child], 1, metering="conversation", body=body)
    )
    assert isinstance(first, limits.Reservation)
    (second,) = asyncio.run(
        _admit_all(counters, [partner, child], 1, metering="conversation", body=body)
    )
    assert isinstance(second, limits.LimitExceeded)
    asyncio.run(limits.give_back(first))
    asyncio.run(limits.give_back(first))  # once only
    (third,) = asyncio.run(
        _admit_all(counters, [partner, child], 1, metering="conversation", body=body)
    )
    assert isinstance(third, limits.Reservation)


def test_tokens_are_settled_at_every_level_and_refuse_at_the_limit(counters):
    partner = level("Reseller", tokens=100)
    child = level("Acme Corp")
    (first,) = asyncio.run(_admit_all(counters, [partner, child], 1))
    assert isinstance(first, limits.Reservation)
    asyncio.run(limits.settle(first, tokens=60))
    (second,) = asyncio.run(_admit_all(counters, [partner, child], 1))
    assert isinstance(second, limits.Reservation)
    asyncio.run(limits.settle(second, tokens=60))  # a call admitted under the limit may pass it
    (third,) = asyncio.run(_admit_all(counters, [partner, child], 1))
    assert isinstance(third, limits.LimitExceeded)
    assert third.details["name"] == "tokens"
    assert third.details["used"] == 120
    period = datetime.now(UTC).strftime("%Y-%m")
    used = asyncio.run(counters.read([f"account:{p.pk}:{period}:tokens" for p in (partner, child)]))
    assert used == [120, 120]


def test_a_rate_limit_admits_exactly_its_requests_per_minute(counters):
    acme = level(rpm=5)
    admitted, refused = _split(asyncio.run(_admit_all(counters, [acme], 40, metering="none")))
    assert (len(admitted), len(refused)) == (5, 35)
    refusal = refused[0]
    assert refusal.code == "TOO_MANY_REQUESTS"
    assert refusal.details["name"] == "rpm"
    assert 0 < int(dict(refusal.headers)[b"retry-after"]) <= 60


def test_a_tokens_own_rate_limit_applies_before_its_accounts(counters):
    acme = level(rpm=100)
    admitted, refused = _split(
        asyncio.run(_admit_all(counters, [acme], 10, metering="none", token_rpm=2))
    )
    assert len(admitted) == 2
    assert refused[0].details["token"] == "tok_test"
    assert refused[0].message.startswith("This token has made 2 requests in the last minute")


def test_admitted_calls_carry_the_tightest_limit_in_ratelimit_headers(counters):
    acme = level(rpm=10, messages=3)
    (first,) = asyncio.run(_admit_all(counters, [acme], 1))
    headers = dict(first.headers)
    # 2 of 3 messages left (67 %) is tighter than 9 of 10 requests (90 %).
    assert headers[b"ratelimit-limit"] == b"3"
    assert headers[b"ratelimit-remaining"] == b"2"
    assert int(headers[b"ratelimit-reset"]) > 0


def test_an_account_without_limits_is_admitted_without_headers(counters):
    (reservation,) = asyncio.run(_admit_all(counters, [level()], 1, metering="none"))
    assert reservation.headers == []
