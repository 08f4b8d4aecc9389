"""Fixtures for the outbound client's tests: they all talk to the live sandbox over HTTP.

Two upstream behaviours the sandbox does not produce (a 200 whose body is an error, and an
``{"type": "error"}`` event inside a completion stream) are served by ``quirk_server``: one
handler each, not an emulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from portal.upstream import RetryPolicy, Timeouts, UpstreamClient, UpstreamConnection
from tests.fixtures.sandbox import Parent, Sandbox

# Short enough that a hang shows up as a failure in seconds, long enough for a loaded CI box.
FAST = Timeouts(connect=2, read=2, write=2, pool=2)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def conn(sandbox: Sandbox, sandbox_parent: Parent) -> UpstreamConnection:
    return UpstreamConnection(sandbox.url, sandbox_parent.secret)


def fast_client(
    *, timeouts: Timeouts = FAST, max_connections: int | None = None, attempts: int = 3
) -> UpstreamClient:
    """A client with test-sized timeouts and near-instant retry backoff."""
    return UpstreamClient(
        timeouts=timeouts,
        retry=RetryPolicy(attempts=attempts, backoff=0.01),
        max_connections=max_connections,
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def quirk_server(routes: dict[str, Handler]) -> AsyncIterator[str]:
    """Serve ``routes`` (path → handler, any method) on 127.0.0.1; yields the base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
