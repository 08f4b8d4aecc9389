"""The disconnect watcher of a forwarded call ends without a cancellation when it can."""

from __future__ import annotations

import asyncio
import gc

from tenants.proxy.wire import DisconnectWatch, Message


def test_a_watcher_the_server_releases_ends_on_its_own_and_leaves_no_garbage() -> None:
    async def scenario() -> tuple[bool, bool, int]:
        complete = asyncio.Event()

        async def receive() -> Message:
            # As uvicorn does: a waiting receive() says "disconnect" once the response is done.
            await complete.wait()
            return {"type": "http.disconnect"}

        watch = DisconnectWatch(receive)
        await asyncio.sleep(0)  # the watcher is waiting
        watch.finishing()
        complete.set()
        watch.close()
        watcher = watch._watcher
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        del watch
        return watcher.done(), watcher.cancelled(), gc.collect()

    gc.collect()
    gc.disable()  # only this call's own cycles may count
    try:
        done, cancelled, garbage = asyncio.run(scenario())
    finally:
        gc.enable()
    assert (done, cancelled) == (True, False)
    assert garbage == 0


def test_a_watcher_nobody_releases_is_cancelled_on_the_next_turn() -> None:
    async def scenario() -> tuple[bool, bool]:
        async def receive() -> Message:
            await asyncio.Event().wait()  # a server that never answers
            return {"type": "http.disconnect"}

        watch = DisconnectWatch(receive)
        await asyncio.sleep(0)
        watch.finishing()
        watch.close()
        assert not watch._watcher.done()
        for _ in range(3):
            await asyncio.sleep(0)
        return watch._watcher.done(), watch._watcher.cancelled()

    assert asyncio.run(scenario()) == (True, True)
