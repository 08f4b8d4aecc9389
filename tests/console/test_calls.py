"""The pieces of tenants/console/calls.py that need no upstream: stopping a stream, the shapes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tenants.console.calls import Turn, interruptible, problem_event


class Source:
    """An endless slow stream that notes when it is closed."""

    def __init__(self) -> None:
        self.closed = False

    async def items(self, pace: float = 0.05) -> AsyncIterator[int]:
        try:
            number = 0
            while True:
                await asyncio.sleep(pace)
                number += 1
                yield number
        finally:
            self.closed = True


def test_items_flow_until_the_source_ends():
    async def three() -> AsyncIterator[int]:
        for number in (1, 2, 3):
            yield number

    async def go() -> list[int]:
        return [item async for item in interruptible(three(), asyncio.Event())]

    assert asyncio.run(go()) == [1, 2, 3]


def test_a_stop_ends_the_stream_at_once_and_closes_the_read_in_flight():
    source = Source()

    async def go() -> tuple[list[int], float]:
        stop = asyncio.Event()
        seen = []
        async for item in interruptible(source.items(pace=0.4), stop):
            seen.append(item)
            if item == 2:
                # The next item is due in 400 ms, then every 400 ms for ever: only the stop
                # can end this, and without waiting for an item.
                asyncio.get_running_loop().call_later(0.01, stop.set)
                started = asyncio.get_running_loop().time()
        return seen, asyncio.get_running_loop().time() - started

    seen, took = asyncio.run(go())

    assert seen == [1, 2]
    assert took < 0.3
    assert source.closed


def test_a_consumer_that_leaves_mid_wait_leaves_no_read_running(recwarn):
    source = Source()

    async def go() -> None:
        stream = interruptible(source.items(), asyncio.Event())
        async with contextlib.aclosing(stream):
            await anext(stream)
        await asyncio.sleep(0.1)

    asyncio.run(go())

    assert source.closed
    assert not [w for w in recwarn if "never retrieved" in str(w.message)]


def test_a_refusal_becomes_the_error_event_that_ends_a_turn():
    limit = {"account": "usr_1", "name": "messages", "limit": 1, "used": 1, "resetAt": 1}
    refused = problem_event(429, {"message": "Used up.", "code": "LIMITS_REACHED", "limit": limit})
    garbled = problem_event(502, "<html>bad gateway</html>")

    assert refused == {
        "type": "error",
        "data": {"status": 429, "message": "Used up.", "code": "LIMITS_REACHED", "limit": limit},
    }
    assert garbled == {
        "type": "error",
        "data": {"status": 502, "message": "The upstream answered 502.", "code": "HTTP_502"},
    }


def test_a_new_conversation_is_made_with_the_bot_or_with_the_model_and_backstory():
    assert Turn("hi", bot_id="bot1", model="m", backstory="b").conversation_body() == {
        "botId": "bot1"
    }
    assert Turn("hi", model="gpt-5.4", backstory="Be brief.").conversation_body() == {
        "model": "gpt-5.4",
        "backstory": "Be brief.",
    }
    assert Turn("hi").conversation_body() == {}
