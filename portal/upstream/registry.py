"""One ``UpstreamClient`` per event loop, and a way in for synchronous code.

aiohttp sessions and their pooled connections belong to the loop that created them. Django's
async views all run on uvicorn's loop and share its client; Celery tasks, management commands
and sync services have no loop and use ``run_sync()``, which runs the call on a fresh loop with
a short-lived client and closes both.

Clients must be closed on their own loop, or aiohttp complains ("Unclosed client session") and
sockets leak. Three things make sure of it:

- ``aclose_all()``, called from the ASGI lifespan shutdown (portal/asgi.py);
- ``run_sync()``, which always closes its client;
- a safety net for loops run by ``asyncio.run()``, ``asyncio.Runner`` or asgiref: each client
  registers a tiny async generator with its loop, and those runners close every pending async
  generator (``loop.shutdown_asyncgens()``) before closing the loop, which closes the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable

from .client import UpstreamClient
from .config import Timeouts

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, UpstreamClient] = (
    weakref.WeakKeyDictionary()
)
# Loops live in different threads (uvicorn, asgiref's loop threads, Celery's run_sync calls).
_lock = threading.Lock()


def get_client() -> UpstreamClient:
    """The running loop's client, created on first use. Must be called inside a coroutine."""
    loop = asyncio.get_running_loop()
    with _lock:
        client = _clients.get(loop)
        if client is None or client.closed:
            client = UpstreamClient()
            _clients[loop] = client
            _close_with_loop(client)
        return client


async def aclose_all() -> None:
    """Close the running loop's client, and forget those of loops that are already closed.

    Clients of other, still running loops are left alone: they can only be closed from
    their own loop, which will do it when it shuts down.
    """
    loop = asyncio.get_running_loop()
    with _lock:
        client = _clients.pop(loop, None)
        for other in [other for other in _clients if other.is_closed()]:
            del _clients[other]
    if client is not None:
        await client.aclose()


def run_sync[T](
    call: Callable[[UpstreamClient], Awaitable[T]], *, timeouts: Timeouts | None = None
) -> T:
    """Run ``call(client)`` from synchronous code, with a client that lives for this call only.

    >>> bots = run_sync(lambda client: client.request_json(conn, "GET", "/v1/bot/list"))

    ``get_client()`` inside the call returns the same client. Not usable from a running
    loop (await the call there instead): that would block the loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run_sync() was called inside a running event loop; await the call")

    async def main() -> T:
        loop = asyncio.get_running_loop()
        client = UpstreamClient(timeouts=timeouts)
        with _lock:
            _clients[loop] = client
        try:
            return await call(client)
        finally:
            with _lock:
                if _clients.get(loop) is client:
                    del _clients[loop]
            await client.aclose()

    return asyncio.run(main())


def _close_with_loop(client: UpstreamClient) -> None:
    """Have the running loop's ``shutdown_asyncgens()`` close ``client``.

    The loop learns about an async generator when it is first iterated (the firstiter hook),
    and keeps it only weakly, so the client holds the generator. Stepping the generator to
    its first ``yield`` needs no awaiting, so this works from the synchronous get_client().
    """

    async def closer() -> AsyncGenerator[None]:
        try:
            yield
        finally:
            await client.aclose()

    generator = closer()
    client.shutdown_hook = generator
    # StopIteration means: parked at the yield, exactly where it should wait.
    with contextlib.suppress(StopIteration):
        generator.__anext__().send(None)
