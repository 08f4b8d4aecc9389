"""The bench client: a fixed arrival schedule that slow answers cannot slow down, and timing."""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.gateway.loadgen import (
    Client,
    Exchange,
    arrivals,
    http_request,
    run_closed_loop,
    run_open_loop,
)


def test_arrivals_are_evenly_spaced_at_the_rate():
    schedule = arrivals(50, 2.0)

    assert len(schedule) == 100
    assert schedule[0] == 0.0
    assert schedule[1] == pytest.approx(0.02)
    assert schedule[-1] == pytest.approx(1.98)


def test_no_rate_or_no_time_means_no_arrivals():
    assert arrivals(0, 5) == []
    assert arrivals(10, 0) == []


def test_a_request_is_a_complete_http_1_1_message():
    message = http_request("POST", "/v1/x?a=1", headers={"Accept": "application/jsonl"}, body=b"{}")

    assert message == (
        b"POST /v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/jsonl\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )


def test_gaps_are_between_successive_token_arrivals():
    exchange = Exchange(token_times=[1.0, 1.01, 1.03])

    assert exchange.gaps() == pytest.approx([0.01, 0.02])


async def _slow_server(delay: float, chunks: int) -> tuple[asyncio.Server, int]:
    """Answers every request after ``delay`` s, with a chunked body of ``chunks`` token lines."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(chunks):
                line = b'{"type":"token","data":{"token":"x"}}\n'
                writer.write(b"%x\r\n%s\r\n" % (len(line), line))
                await writer.drain()
                await asyncio.sleep(0.005)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_the_open_loop_starts_calls_on_schedule_even_when_answers_are_slow():
    async def scenario() -> tuple[list[Exchange], float]:
        server, port = await _slow_server(delay=0.2, chunks=1)
        client = Client("127.0.0.1", port)
        started = time.perf_counter()
        results = await run_open_loop(
            client, lambda _i: http_request("GET", "/"), arrivals(50, 0.2)
        )
        elapsed = time.perf_counter() - started
        client.close()
        server.close()
        return results, elapsed

    results, elapsed = asyncio.run(scenario())

    assert len(results) == 10
    assert all(r.ok for r in results)
    # Ten calls 20 ms apart, each answered after 200 ms: a closed loop would take 2 s.
    assert elapsed < 1.0
    assert max(r.lag for r in results) < 0.05
    assert min(r.latency for r in results) >= 0.2


def test_a_stream_is_timed_from_its_first_byte_and_each_token():
    async def scenario() -> list[Exchange]:
        server, port = await _slow_server(delay=0.02, chunks=3)
        client = Client("127.0.0.1", port)
        results = await run_closed_loop(client, http_request("GET", "/"), count=2, seconds=5)
        client.close()
        server.close()
        return results

    results = asyncio.run(scenario())

    assert [r.tokens for r in results] == [3, 3]
    first = results[0]
    assert first.ttfb >= 0.02
    assert first.done >= first.first_byte >= first.headers_at
    assert len(first.gaps()) == 2
    assert min(first.gaps()) >= 0.003
