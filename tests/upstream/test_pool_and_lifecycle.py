"""Pools: connections come back after failures, one client per loop, nothing left unclosed."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from typing import Any

import pytest

from portal.upstream import (
    Timeouts,
    UpstreamClient,
    UpstreamConnection,
    UpstreamError,
    aclose_all,
    get_client,
    run_sync,
)
from tests.fixtures.sandbox import Sandbox
from tests.upstream.conftest import fast_client

pytestmark = pytest.mark.timeout(30)

COMPLETE = "/v1/conversation/complete"
HELLO = {"messages": [{"type": "user", "text": "Hello"}]}


async def drain(client: UpstreamClient, conn: UpstreamConnection) -> None:
    async for _event in client.stream_events(conn, "POST", COMPLETE, json=HELLO):
        pass


@pytest.mark.anyio
async def test_every_failure_gives_its_connection_back(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    # One connection and a 1 s pool wait: a single leaked connection fails the last call.
    timeouts = Timeouts(connect=2, read=0.5, write=2, pool=1)
    wrong = UpstreamConnection(sandbox.url, "sk-" + "0" * 64)
    async with fast_client(timeouts=timeouts, max_connections=1) as client:
        failures: list[Any] = [
            client.request_json(conn, "GET", "/v1/bot/cnotabot00000000000000000/fetch"),
            client.request_json(wrong, "GET", "/v1/bot/list"),
        ]
        for call in failures:
            with pytest.raises(UpstreamError):
                await call
        sandbox.inject_fault("/v1/bot/list", "status", status=503, times=3)
        with pytest.raises(UpstreamError):
            await client.request_json(conn, "GET", "/v1/bot/list")
        sandbox.inject_fault("/v1/bot/list", "latency", ms=1500, times=1)
        with pytest.raises(UpstreamError):
            await client.request_json(conn, "GET", "/v1/bot/list", idempotent=False)
        for kind in ("reset_mid_stream", "stall"):
            sandbox.inject_fault(COMPLETE, kind, afterTokens=1, times=1)
            with pytest.raises(UpstreamError):
                await drain(client, conn)
        assert await client.request_json(conn, "GET", "/v1/bot/list") == {"items": []}


@pytest.mark.anyio
async def test_a_loop_has_one_client_until_it_is_closed() -> None:
    client = get_client()
    assert get_client() is client
    await aclose_all()
    assert client.closed
    assert get_client() is not client
    await aclose_all()


def test_each_loop_gets_its_own_client() -> None:
    async def current() -> UpstreamClient:
        return get_client()

    assert asyncio.run(current()) is not asyncio.run(current())


@pytest.mark.anyio
async def test_a_client_refuses_a_second_loop(conn: UpstreamConnection) -> None:
    async with fast_client() as client:
        await client.request_json(conn, "GET", "/v1/bot/list")

        def from_another_loop() -> Any:
            return asyncio.run(client.request_json(conn, "GET", "/v1/bot/list"))

        with pytest.raises(RuntimeError, match="event loop"):
            await asyncio.to_thread(from_another_loop)


@pytest.fixture
def unclosed_reports(caplog: pytest.LogCaptureFixture) -> Any:
    """Collects aiohttp's "Unclosed ..." warnings and loop error reports."""
    caplog.set_level(logging.ERROR, "asyncio")
    gc.collect()  # whatever earlier tests left behind is not this test's leak
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def reports() -> list[str]:
            gc.collect()
            texts = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
            return [t for t in texts if "nclosed" in t]

        yield reports


def test_a_loop_shutdown_closes_its_client(conn: UpstreamConnection, unclosed_reports: Any) -> None:
    clients: list[UpstreamClient] = []

    async def forgetful_task() -> Any:
        # Like a Celery task that uses get_client() and never closes it.
        clients.append(get_client())
        return await get_client().request_json(conn, "GET", "/v1/bot/list")

    assert asyncio.run(forgetful_task()) == {"items": []}
    assert clients[0].closed
    assert unclosed_reports() == []


def test_run_sync_serves_sync_callers_and_closes_cleanly(
    conn: UpstreamConnection, unclosed_reports: Any
) -> None:
    used: list[UpstreamClient] = []

    async def call(client: UpstreamClient) -> Any:
        used.append(client)
        assert get_client() is client
        return await client.request_json(conn, "POST", "/v1/bot/create", json={"name": "Sync"})

    created = run_sync(call)
    assert created["id"]
    assert used[0].closed
    assert unclosed_reports() == []


@pytest.mark.anyio
async def test_run_sync_refuses_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        run_sync(lambda client: client.aclose())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
