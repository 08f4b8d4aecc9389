"""The Redis limiter's own connections: bounded, reused, and never lost to a cancelled call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from django.conf import settings

from tenants import limits
from tenants.limits import redis_counters
from tenants.limits.redis_counters import RedisCounters
from tests.limits.conftest import isolated_redis_counters, level

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


@pytest.fixture
def counters() -> Iterator[RedisCounters]:
    with isolated_redis_counters() as backend:
        yield backend


def _admit(counters: RedisCounters, account: limits.Level) -> asyncio.Future[object]:
    return asyncio.ensure_future(
        limits.admit(
            token_id="tok_lane",
            token_rpm=None,
            levels=[account],
            metering="none",
            body={},
            counters=counters,
        )
    )


def test_a_burst_shares_at_most_max_connections(counters, monkeypatch):
    monkeypatch.setattr(redis_counters, "MAX_CONNECTIONS", 2)
    account = level(rpm=1000)

    async def burst() -> tuple[int, int, int]:
        results = await asyncio.gather(*(_admit(counters, account) for _ in range(40)))
        lane = counters._lane()
        return len(results), lane._open, len(lane._idle)

    admitted, opened, idle = asyncio.run(burst())

    assert admitted == 40
    assert opened == idle == 2


def test_a_call_cancelled_as_a_connection_is_handed_to_it_gives_the_connection_back(
    counters, monkeypatch
):
    monkeypatch.setattr(redis_counters, "MAX_CONNECTIONS", 1)
    account = level(rpm=1000)

    async def race() -> tuple[int, int]:
        await _admit(counters, account)  # the lane's one connection, now idle
        lane = counters._lane()
        held = await lane._take()
        waiting = _admit(counters, account)
        await asyncio.sleep(0.01)  # it waits for the held connection
        lane._give_back(held)  # handed over...
        waiting.cancel()  # ...and the call is cancelled before it could use it
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # Were the connection lost, this would wait for it, then fail (LimitsUnavailable).
        await asyncio.wait_for(_admit(counters, account), timeout=0.5)
        return lane._open, len(lane._idle)

    assert asyncio.run(race()) == (1, 1)


def test_a_call_that_waits_too_long_is_refused_and_leaves_the_lane_working(counters, monkeypatch):
    monkeypatch.setattr(redis_counters, "MAX_CONNECTIONS", 1)
    monkeypatch.setattr(redis_counters, "TIMEOUT_SECONDS", 0.05)
    account = level(rpm=1000)

    async def starve() -> int:
        await _admit(counters, account)
        lane = counters._lane()
        held = await lane._take()
        with pytest.raises(limits.LimitsUnavailable):
            await _admit(counters, account)
        lane._give_back(held)
        await _admit(counters, account)
        opened: int = lane._open
        return opened

    assert asyncio.run(starve()) == 1


def test_settles_of_the_same_turn_go_out_as_one_script_and_add_up_exactly(counters, monkeypatch):
    account = level(tokens=10**9)
    scripts: list[int] = []
    real_script = counters._script

    async def counting_script(script, keys, args):
        if script == redis_counters.ADJUST:
            scripts.append(len(keys))
        return await real_script(script, keys, args)

    monkeypatch.setattr(counters, "_script", counting_script)

    async def storm() -> list[int]:
        reservations = [
            await limits.admit(
                token_id="tok_lane",
                token_rpm=None,
                levels=[account],
                metering="stream",
                body={},
                counters=counters,
            )
            for _ in range(300)
        ]
        await asyncio.gather(*(limits.settle(r, tokens=7) for r in reservations))
        counter = reservations[0].token_counters[0].counter
        values: list[int] = await counters.read([counter])
        return values

    assert asyncio.run(storm()) == [300 * 7]
    assert scripts == [300]  # one script for the 300 settles
