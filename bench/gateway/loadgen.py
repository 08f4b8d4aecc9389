"""The bench client: a small HTTP/1.1 client with per-byte timing, closed and open loop.

Why not aiohttp or httpx: the client shares a core with the stub, and its own cost per call
should be small and the same for every target. This is one ``asyncio.Protocol`` per connection
with httptools' response parser (uvicorn's), which also lets each body chunk be stamped as it
arrives: time to first byte, every token's arrival (inter-token gaps) and whether several
tokens arrived in one read (a sign of buffering on the way).

Open loop (``run_open_loop``): calls start on a fixed schedule (``arrivals``) whatever the
answers do, so a slow target cannot slow the offered load down (no coordinated omission). Each
call is timed from its actual start; how late the client started it against the schedule is
kept as ``lag`` and reported, so a client that could not keep up is visible.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import httptools

TOKEN_MARKERS = (b'"type":"token"', b'"delta":{"content"')


def arrivals(rate: float, seconds: float) -> list[float]:
    """Start offsets (seconds from the beginning) of a fixed schedule of ``rate`` calls/s."""
    if rate <= 0 or seconds <= 0:
        return []
    count = round(rate * seconds)
    return [index / rate for index in range(count)]


@dataclass(slots=True)
class Exchange:
    """One call: its timings (``time.perf_counter()``) and what came back."""

    due: float = 0.0  # when the schedule wanted it to start (open loop), else = started
    started: float = 0.0
    headers_at: float = 0.0
    first_byte: float = 0.0
    done: float = 0.0
    status: int = 0
    body_bytes: int = 0
    tokens: int = 0
    token_times: list[float] = field(default_factory=list)
    coalesced_reads: int = 0  # reads that carried more than one token
    error: str = ""
    closed_at: float = 0.0  # time.monotonic() when the client hung up on purpose

    @property
    def ok(self) -> bool:
        return not self.error and 200 <= self.status < 300 and self.done > 0

    @property
    def latency(self) -> float:
        return self.done - self.started

    @property
    def ttfb(self) -> float:
        return self.first_byte - self.started

    @property
    def lag(self) -> float:
        return self.started - self.due

    def gaps(self) -> list[float]:
        times = self.token_times
        return [later - earlier for earlier, later in itertools.pairwise(times)]


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.waiter: asyncio.Future[Exchange] | None = None
        self.first_byte: asyncio.Future[None] | None = None
        self.closed = False
        self.keep_alive = True
        self._now = 0.0

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._now = time.perf_counter()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._finish(f"bad response: {error}")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish("connection closed")

    # -- httptools callbacks

    def on_headers_complete(self) -> None:
        if self.exchange is not None:
            self.exchange.status = self.parser.get_status_code()
            self.exchange.headers_at = self._now
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        if not exchange.first_byte:
            exchange.first_byte = self._now
            if self.first_byte is not None and not self.first_byte.done():
                self.first_byte.set_result(None)
        exchange.body_bytes += len(body)
        count = sum(body.count(marker) for marker in TOKEN_MARKERS)
        if count:
            exchange.tokens += count
            exchange.token_times.extend([self._now] * count)
            if count > 1:
                exchange.coalesced_reads += 1

    def on_message_complete(self) -> None:
        if self.exchange is not None:
            self.exchange.done = self._now
        self._finish("")

    # -- use

    def send(self, request: bytes, exchange: Exchange) -> asyncio.Future[Exchange]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.exchange = exchange
        self.waiter = loop.create_future()
        self.first_byte = loop.create_future()
        self.transport.write(request)
        return self.waiter

    def _finish(self, error: str) -> None:
        exchange, waiter = self.exchange, self.waiter
        if exchange is not None and error and not exchange.done and not exchange.error:
            exchange.error = error
        if self.first_byte is not None and not self.first_byte.done():
            self.first_byte.set_result(None)
        if waiter is not None and not waiter.done() and exchange is not None:
            waiter.set_result(exchange)
        if not error:
            self.exchange = self.waiter = None

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


class Client:
    """Keep-alive connections to one ``host:port``, reused last-in first-out."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self.host, self.port)
        return protocol

    async def call(self, request: bytes, *, due: float | None = None) -> Exchange:
        """Send one request (a complete HTTP/1.1 message) and read the whole answer."""
        exchange = Exchange()
        exchange.started = time.perf_counter()
        exchange.due = exchange.started if due is None else due
        # A connection the server closed while it sat idle (uvicorn's keep-alive timeout is
        # 5 s; the LIFO stack's bottom can wait that long) is skipped, not written to.
        while self._idle and self._idle[-1].closed:
            self._idle.pop()
        try:
            connection = self._idle.pop() if self._idle else await self._connect()
        except OSError as error:
            exchange.error = f"connect: {error}"
            return exchange
        try:
            await asyncio.wait_for(connection.send(request, exchange), self.timeout)
        except TimeoutError:
            exchange.error = "timeout"
            connection.close()
            return exchange
        if not exchange.error and connection.keep_alive and not connection.closed:
            self._idle.append(connection)
        else:
            connection.close()
        return exchange

    async def open_stream(self, request: bytes) -> Stream:
        """Start a call on a connection of its own and return once its first byte arrived."""
        exchange = Exchange()
        exchange.started = exchange.due = time.perf_counter()
        connection = await self._connect()
        done = connection.send(request, exchange)
        assert connection.first_byte is not None
        await asyncio.wait_for(asyncio.shield(connection.first_byte), self.timeout)
        return Stream(connection, exchange, done)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


@dataclass(slots=True)
class Stream:
    """A call held open by the client; ``hang_up`` leaves it like a user closing a tab."""

    connection: _Connection
    exchange: Exchange
    done: asyncio.Future[Exchange]

    def hang_up(self) -> None:
        self.exchange.closed_at = time.monotonic()
        self.connection.close()


async def run_closed_loop(
    client: Client, request: bytes, *, count: int, seconds: float
) -> list[Exchange]:
    """One call at a time, ``count`` calls or ``seconds``, whichever ends first."""
    results: list[Exchange] = []
    deadline = time.perf_counter() + seconds
    while len(results) < count and time.perf_counter() < deadline:
        results.append(await client.call(request))
    return results


async def run_open_loop(
    client: Client,
    request: Callable[[int], bytes],
    schedule: list[float],
    *,
    wait_at_most: float = 30.0,
) -> list[Exchange]:
    """Start call ``i`` at ``schedule[i]`` seconds whatever the others are doing."""
    start = time.perf_counter() + 0.01
    tasks: list[asyncio.Task[Exchange]] = []
    for index, offset in enumerate(schedule):
        due = start + offset
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client.call(request(index), due=due)))
    if tasks:
        await asyncio.wait(tasks, timeout=wait_at_most)
    results = []
    for task in tasks:
        if task.done():
            results.append(task.result())
        else:
            task.cancel()
            results.append(Exchange(error="timeout"))
    return results


def http_request(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "127.0.0.1",
) -> bytes:
    """A complete HTTP/1.1 request message."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
