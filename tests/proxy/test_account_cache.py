"""The proxy's in-process account cache (tenants/proxy/acting.py): one load for many callers,
hot entries reloaded ahead of time in the background, and nothing forgotten put back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from tenants.proxy import acting

TTL = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class Loads:
    """A load that counts its calls and can be held until released."""

    def __init__(self, value: Any = "v1") -> None:
        self.value = value
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.error: Exception | None = None

    async def __call__(self) -> Any:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.value


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[Clock]:
    settings.PROXY_ACCOUNT_CACHE_SECONDS = TTL
    fake = Clock()
    monkeypatch.setattr(acting, "time", fake)
    acting.clear_local_cache()
    yield fake
    acting.clear_local_cache()


def test_callers_that_miss_together_share_one_load(clock: Clock) -> None:
    async def scenario() -> list[Any]:
        loads = Loads()
        loads.release.clear()
        callers = [asyncio.create_task(acting._cached("account:1", loads)) for _ in range(20)]
        await asyncio.sleep(0)
        loads.release.set()
        results = await asyncio.gather(*callers)
        assert loads.calls == 1
        return results

    assert asyncio.run(scenario()) == ["v1"] * 20


def test_a_hot_entry_is_reloaded_in_the_background_before_it_expires(clock: Clock) -> None:
    async def scenario() -> None:
        loads = Loads("old")
        assert await acting._cached("account:1", loads) == "old"

        clock.now += TTL * 0.5
        assert await acting._cached("account:1", loads) == "old"
        assert loads.calls == 1  # fresh: not reloaded

        clock.now += TTL * 0.4  # in the last fifth of its life
        loads.value = "new"
        loads.release.clear()
        # The caller is not held up by the reload: it gets what the cache has.
        assert await acting._cached("account:1", loads) == "old"
        assert await acting._cached("account:1", loads) == "old"
        await asyncio.sleep(0)
        assert loads.calls == 2  # one reload, however many callers
        loads.release.set()
        await asyncio.sleep(0.01)

        assert await acting._cached("account:1", loads) == "new"
        clock.now += TTL * 0.5  # the reloaded entry lives a whole life from its reload
        assert await acting._cached("account:1", loads) == "new"
        assert loads.calls == 2

    asyncio.run(scenario())


def test_an_expired_entry_is_never_used(clock: Clock) -> None:
    async def scenario() -> None:
        loads = Loads("old")
        await acting._cached("account:1", loads)
        loads.value = "new"
        clock.now += TTL + 0.001

        assert await acting._cached("account:1", loads) == "new"
        assert loads.calls == 2

    asyncio.run(scenario())


def test_a_load_under_way_when_the_account_is_forgotten_is_not_kept(clock: Clock) -> None:
    async def scenario() -> None:
        loads = Loads("before the change")
        loads.release.clear()
        caller = asyncio.create_task(acting._cached("account:1", loads))
        await asyncio.sleep(0)
        acting.clear_local_cache()  # what forget_account does, from a service's thread
        loads.release.set()
        assert await caller == "before the change"  # its caller was already under way

        loads.value = "after the change"
        assert await acting._cached("account:1", loads) == "after the change"
        assert loads.calls == 2

    asyncio.run(scenario())


def test_a_caller_that_leaves_does_not_cancel_the_load_of_the_others(clock: Clock) -> None:
    async def scenario() -> None:
        loads = Loads()
        loads.release.clear()
        leaving = asyncio.create_task(acting._cached("account:1", loads))
        staying = asyncio.create_task(acting._cached("account:1", loads))
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.sleep(0)
        loads.release.set()

        assert await staying == "v1"
        assert leaving.cancelled()
        assert loads.calls == 1

    asyncio.run(scenario())


def test_a_failed_background_reload_keeps_the_entry_until_it_expires(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        loads = Loads("kept")
        await acting._cached("account:1", loads)
        loads.error = RuntimeError("database unavailable")
        clock.now += TTL * 0.9

        with caplog.at_level(logging.WARNING, logger="tenants.proxy"):
            assert await acting._cached("account:1", loads) == "kept"
            await asyncio.sleep(0.01)
        assert "loading account failed" in caplog.text

        clock.now += TTL * 0.2  # expired: the next caller loads, and sees the error
        with pytest.raises(RuntimeError, match="database unavailable"):
            await acting._cached("account:1", loads)

    asyncio.run(scenario())


def test_an_account_that_is_gone_on_reload_is_dropped(clock: Clock) -> None:
    async def scenario() -> None:
        loads = Loads("exists")
        await acting._cached("account:1", loads)
        loads.value = None  # deleted meanwhile
        clock.now += TTL * 0.9
        await acting._cached("account:1", loads)
        await asyncio.sleep(0.01)

        assert await acting._cached("account:1", loads) is None
        assert loads.calls == 3  # nothing cached for it: each caller looks again

    asyncio.run(scenario())


def test_unknown_ids_are_remembered_briefly(clock: Clock) -> None:
    async def scenario() -> None:
        loads = Loads(None)
        assert await acting._cached("public:nope", loads, negative=True) is None
        assert await acting._cached("public:nope", loads, negative=True) is None
        assert loads.calls == 1
        clock.now += 1.01  # _NEGATIVE_SECONDS
        await acting._cached("public:nope", loads, negative=True)
        assert loads.calls == 2

    asyncio.run(scenario())


def test_a_caller_after_the_account_is_forgotten_does_not_get_the_load_from_before(
    clock: Clock,
) -> None:
    async def scenario() -> None:
        before = Loads("before the change")
        before.release.clear()
        early = asyncio.create_task(acting._cached("account:1", before))
        await asyncio.sleep(0)
        acting.clear_local_cache()  # what forget_account does, once the change committed

        late = asyncio.create_task(acting._cached("account:1", Loads("after the change")))
        await asyncio.sleep(0)
        before.release.set()

        assert await early == "before the change"  # already under way: it may have it
        assert await late == "after the change"  # asked after the change: it may not

    asyncio.run(scenario())


def test_a_caller_after_the_account_is_forgotten_does_not_get_a_reload_from_before(
    clock: Clock,
) -> None:
    async def scenario() -> None:
        before = Loads("before the change")
        await acting._cached("account:1", before)
        clock.now += TTL * 0.9
        before.release.clear()
        assert await acting._cached("account:1", before) == "before the change"
        await asyncio.sleep(0)  # the background reload is under way, reading the old row
        acting.clear_local_cache()

        late = asyncio.create_task(acting._cached("account:1", Loads("after the change")))
        await asyncio.sleep(0)
        before.release.set()

        assert await late == "after the change"

    asyncio.run(scenario())


def test_a_slow_load_is_not_used_longer_than_its_life_after_it_began(clock: Clock) -> None:
    async def scenario() -> None:
        loads = Loads("read at the start")
        loads.release.clear()
        caller = asyncio.create_task(acting._cached("account:1", loads))
        await asyncio.sleep(0)
        clock.now += 2.0  # the shared cache or the database took its time
        loads.release.set()
        assert await caller == "read at the start"

        clock.now += TTL - 2.0 + 0.001  # the value was read more than a life ago
        loads.value = "read again"
        assert await acting._cached("account:1", loads) == "read again"

    asyncio.run(scenario())


def test_a_reload_started_by_a_sync_views_call_outlives_that_call(clock: Clock) -> None:
    # The widget key page lists bots from a sync view (async_to_sync onto the server's loop):
    # a background reload it starts must not depend on that view's thread, which moves on.
    async def scenario() -> None:
        reading = asyncio.Event()
        loads = 0

        async def load() -> str:
            nonlocal loads
            loads += 1
            await reading.wait()
            return await sync_to_async(lambda: f"load {loads}")()

        def sync_view() -> Any:
            return async_to_sync(acting._cached)("account:1", load)

        reading.set()
        assert await sync_to_async(sync_view)() == "load 1"
        clock.now += TTL * 0.9
        reading.clear()
        assert await sync_to_async(sync_view)() == "load 1"  # starts the reload, returns
        (reload,) = acting._loading.values()
        reading.set()  # the reload reads once the view has moved on
        await asyncio.wait([reload])

        clock.now += TTL * 0.5  # past the first entry's life: the reload's answers
        assert await acting._cached("account:1", load) == "load 2"
        assert loads == 2

    asyncio.run(scenario())
