"""stream_events and open() against the live sandbox, including every stream fault."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from aiohttp import web

from portal.upstream import (
    Timeouts,
    UpstreamConnection,
    UpstreamHTTPError,
    UpstreamStreamError,
)
from tests.fixtures.sandbox import Parent, Sandbox
from tests.upstream.conftest import fast_client, quirk_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

COMPLETE = "/v1/conversation/complete"
HELLO = {"messages": [{"type": "user", "text": "Hello"}]}


async def consume(events: AsyncIterator[dict[str, Any]], seen: list[str]) -> None:
    async for event in events:
        seen.append(event["type"])


async def collect(conn: UpstreamConnection, **kwargs: Any) -> list[dict[str, Any]]:
    async with fast_client() as client:
        return [e async for e in client.stream_events(conn, "POST", COMPLETE, json=HELLO, **kwargs)]


async def test_events_arrive_one_by_one_as_they_are_made(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.configure(tokenDelayMs=40)
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    async with fast_client() as client:
        async for event in client.stream_events(conn, "POST", COMPLETE, json=HELLO):
            arrivals.append((time.monotonic() - started, event["type"]))
    token_times = [at for at, kind in arrivals if kind == "token"]
    assert len(token_times) > 5
    # Paced 40 ms apart upstream: a buffered stream would deliver them all at once.
    assert token_times[-1] - token_times[0] > 0.15
    assert arrivals[-1][1] == "result"


async def test_a_stream_runs_as_the_child(
    sandbox: Sandbox, sandbox_parent: Parent, conn: UpstreamConnection
) -> None:
    child = sandbox.create_child(sandbox_parent)
    async with fast_client() as client:
        conversation = await client.request_json(
            conn, "POST", "/v1/conversation/create", json={}, run_as=child
        )
        path = f"/v1/conversation/{conversation['id']}/complete"
        events = [
            e
            async for e in client.stream_events(
                conn, "POST", path, json={"text": "Hi"}, run_as=child
            )
        ]
        with pytest.raises(UpstreamHTTPError) as caught:  # the parent does not own it
            await anext(aiter(client.stream_events(conn, "POST", path, json={"text": "Hi"})))
    assert events[-1]["type"] == "result"
    assert caught.value.status in {403, 404}


async def test_an_error_before_the_stream_is_an_http_error(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.inject_fault(COMPLETE, "status", status=429, code="LIMITS_REACHED", times=1)
    with pytest.raises(UpstreamHTTPError) as caught:
        await collect(conn)
    assert (caught.value.status, caught.value.code) == (429, "LIMITS_REACHED")


async def test_a_reset_mid_stream_is_a_stream_error(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.inject_fault(COMPLETE, "reset_mid_stream", afterTokens=2, times=1)
    seen: list[str] = []
    async with fast_client() as client:
        events = client.stream_events(conn, "POST", COMPLETE, json=HELLO)
        with pytest.raises(UpstreamStreamError) as caught:
            await consume(events, seen)
    assert seen.count("token") == 2
    assert (caught.value.status, caught.value.code) == (502, "BAD_GATEWAY")


async def test_a_stalled_stream_times_out_instead_of_hanging(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.inject_fault(COMPLETE, "stall", afterTokens=1, times=1)
    started = time.monotonic()
    async with fast_client(timeouts=Timeouts(connect=2, read=0.5, write=2, pool=2)) as client:
        with pytest.raises(UpstreamStreamError) as caught:
            async for _event in client.stream_events(conn, "POST", COMPLETE, json=HELLO):
                pass
    assert (caught.value.status, caught.value.code) == (504, "GATEWAY_TIMEOUT")
    assert time.monotonic() - started < 3


async def test_pings_keep_a_slow_first_token_alive(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    # The read timeout counts silence between chunks, not the call's length.
    sandbox.configure(pingIntervalMs=200)
    sandbox.inject_fault(COMPLETE, "slow_first_token", ms=1500, times=1)
    async with fast_client(timeouts=Timeouts(connect=2, read=0.7, write=2, pool=2)) as client:
        kinds = [e["type"] async for e in client.stream_events(conn, "POST", COMPLETE, json=HELLO)]
    assert "ping" in kinds
    assert kinds[-1] == "result"


async def test_a_slow_first_token_without_pings_times_out(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.configure(pingIntervalMs=0)
    sandbox.inject_fault(COMPLETE, "slow_first_token", ms=3000, times=1)
    async with fast_client(timeouts=Timeouts(connect=2, read=0.5, write=2, pool=2)) as client:
        with pytest.raises(UpstreamStreamError) as caught:
            async for _event in client.stream_events(conn, "POST", COMPLETE, json=HELLO):
                pass
    assert caught.value.code == "GATEWAY_TIMEOUT"


async def test_an_error_event_is_raised_and_not_yielded() -> None:
    async def failing_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/jsonl"})
        await response.prepare(request)
        for line in (
            {"type": "token", "data": {"token": "Hel"}},
            {"type": "error", "data": {"message": "Input refused", "code": "CONTENT_MODERATION"}},
        ):
            await response.write(json.dumps(line).encode() + b"\n")
        await response.write_eof()
        return response

    seen: list[str] = []
    async with quirk_server({COMPLETE: failing_stream}) as url:
        conn = UpstreamConnection(url, "sk-quirk")
        async with fast_client() as client:
            events = client.stream_events(conn, "POST", COMPLETE, json=HELLO)
            with pytest.raises(UpstreamStreamError) as caught:
                await consume(events, seen)
    assert seen == ["token"]
    assert (caught.value.code, caught.value.message) == ("CONTENT_MODERATION", "Input refused")
    assert caught.value.event == {
        "type": "error",
        "data": {"message": "Input refused", "code": "CONTENT_MODERATION"},
    }


async def test_open_relays_status_headers_and_bytes(conn: UpstreamConnection) -> None:
    async with fast_client() as client:
        async with client.open(
            conn, "GET", "/v1/bot/list", headers={"Accept": "application/json"}
        ) as r:
            assert r.status_code == 200
            assert r.headers["Content-Type"].startswith("application/json")
            assert json.loads(await r.aread()) == {"items": []}
        async with client.open(conn, "GET", "/v1/bot/cnotabot00000000000000000/fetch") as r:
            # Error statuses are the proxy's to relay, not exceptions.
            assert r.status_code == 404
            assert json.loads(await r.aread())["code"] == "NOT_FOUND"


async def test_open_ignores_credentials_and_run_as_from_the_caller(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    stranger = sandbox.create_child(sandbox.create_parent("Other partner"))
    forged = {"Authorization": "Bearer sk-forged", "X-RunAs-User-ID": stranger, "Cookie": "a=b"}
    async with (
        fast_client() as client,
        client.open(conn, "GET", "/v1/bot/list", headers=forged) as r,
    ):
        assert r.status_code == 200


async def test_closing_open_mid_stream_stops_the_upstream_stream(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.configure(tokenDelayMs=50)
    body = json.dumps(HELLO).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/jsonl"}
    async with fast_client(max_connections=1) as client:
        async with client.open(conn, "POST", COMPLETE, headers=headers, content=body) as r:
            first = await anext(aiter(r.aiter_raw()))
        assert first.startswith(b'{"type":')
        # The only pooled connection is free again straight away...
        assert (await client.request_json(conn, "GET", "/v1/bot/list")) == {"items": []}
    # ...and the upstream saw the disconnect and stopped generating.
    for _ in range(100):  # the sandbox notices the disconnect on its next write
        if not sandbox.state()["streams"]["activeStreams"]:
            break
        await anyio.sleep(0.02)
    assert sandbox.state()["streams"]["activeStreams"] == 0


async def test_breaking_out_of_a_stream_frees_the_connection(conn: UpstreamConnection) -> None:
    async with fast_client(max_connections=1) as client:
        async with contextlib.aclosing(
            client.stream_events(conn, "POST", COMPLETE, json=HELLO)
        ) as events:
            async for event in events:
                if event["type"] == "token":
                    break
        assert (await client.request_json(conn, "GET", "/v1/bot/list")) == {"items": []}
        # Without aclosing() the generator is finalised when dropped; still no leak.
        async for event in client.stream_events(conn, "POST", COMPLETE, json=HELLO):
            if event["type"] == "token":
                break
        assert (await client.request_json(conn, "GET", "/v1/bot/list")) == {"items": []}
