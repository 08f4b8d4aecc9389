"""portal/upstream/http1, the relay's HTTP/1.1 transport, against raw upstreams on 127.0.0.1.

Every test starts its own upstream with ``asyncio.start_server`` and writes the answer's bytes
by hand, so that what arrives, when, and on which connection is exactly what the test says:
chunked and sized bodies, bodies ended by the connection's close, interim answers, garbage,
silence, keep-alive connections closed under the client's feet. Nothing of it is mocked.

Tests that touch the transport run under both loops it meets: plain asyncio, which the rest of
the suite uses, and uvloop, which uvicorn picks up when it is installed (as pyproject asks).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from portal.upstream import (
    Timeouts,
    UpstreamConnection,
    UpstreamTimeout,
    UpstreamUnavailable,
    http1,
)
from tests.upstream.conftest import fast_client

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

ASYNCIO = pytest.param("asyncio", id="asyncio")
UVLOOP = pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")


@pytest.fixture(params=[ASYNCIO, UVLOOP])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


# For tests of the pool's own bookkeeping or of bytes built before any I/O, where the loop
# makes no difference: one run is enough.
asyncio_only = pytest.mark.parametrize("anyio_backend", [ASYNCIO])


@pytest.fixture(autouse=True)
def _no_loop_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """An exception nobody retrieved (a task, a callback, a protocol) fails the test."""
    yield
    errors = [
        record.getMessage()
        for record in caplog.get_records("setup") + caplog.get_records("call")
        if record.name == "asyncio" and record.levelno >= logging.ERROR
    ]
    assert not errors, errors


# --- a raw upstream ---------------------------------------------------------------------------


@dataclass
class Request:
    """One request as the upstream read it off the wire."""

    connection: int  # the accepted connection it came on, counted from 1
    raw: bytes  # the head and the body, byte for byte
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class Peer:
    """The upstream's side of one accepted connection."""

    def __init__(
        self,
        upstream: Upstream,
        index: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.upstream = upstream
        self.index = index
        self.reader = reader
        self.writer = writer
        self.eof = asyncio.Event()  # the client closed (or reset) the connection

    async def read_request(self) -> Request | None:
        """The next request, or None once the client has closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.eof.set()
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ")
        headers = [
            (name, value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        ]
        length = sum(int(v) for k, v in headers if k.lower() == "content-length")
        body = await self.reader.readexactly(length) if length else b""
        request = Request(self.index, head + body, method, target, headers, body)
        self.upstream.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def wait_eof(self) -> None:
        """Read (and drop) whatever comes until the client closes the connection."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass
        self.eof.set()

    def close(self) -> None:
        """Close with a FIN, as a server ending a keep-alive connection does."""
        self.writer.close()

    def reset(self) -> None:
        """Close with a RST (SO_LINGER 0): the connection breaks rather than ends."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Peer], Awaitable[None]]


class Upstream:
    """A server whose every connection runs ``handler``; it records what it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.peers: list[Peer] = []
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def accepted(self) -> int:
        return len(self.peers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> http1.Origin:
        return http1.Origin(self.url)

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self, len(self.peers) + 1, reader, writer)
        self.peers.append(peer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            peer.eof.set()
        except asyncio.CancelledError:
            # Stopped by serve(): end normally, since asyncio (3.12.1) reports a cancelled
            # client_connected_cb task as an error in a callback.
            pass
        except Exception as exc:  # shown by serve(): a handler that broke is a failed test
            self.errors.append(exc)
        finally:
            writer.close()

    async def shutdown(self) -> None:
        for peer in self.peers:
            peer.writer.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Upstream]:
    """Run an upstream on 127.0.0.1; on the way out, check that it left nothing running."""
    before = asyncio.all_tasks()
    upstream = Upstream(handler)
    server = await asyncio.start_server(upstream.accept, "127.0.0.1", 0)
    upstream.port = server.sockets[0].getsockname()[1]
    try:
        yield upstream
    finally:
        server.close()
        await upstream.shutdown()
        await server.wait_closed()
    assert not upstream.errors, upstream.errors
    stray = {task for task in asyncio.all_tasks() - before if not task.done()}
    assert not stray, stray


@contextlib.asynccontextmanager
async def pool_of(
    max_connections: int = 4, *, idle_seconds: float = 4.0
) -> AsyncIterator[http1.Pool]:
    pool = http1.Pool(max_connections=max_connections, idle_seconds=idle_seconds)
    try:
        yield pool
    finally:
        await pool.aclose()
        await asyncio.sleep(0)  # aborted transports report their loss on the next turn


@contextlib.asynccontextmanager
async def background[T](coro: Coroutine[Any, Any, T]) -> AsyncIterator[asyncio.Task[T]]:
    """A task that is cancelled and awaited on the way out, whatever the test did with it."""
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if task.done() and not task.cancelled() and task.exception() is None:
            result = task.result()
            if isinstance(result, http1.Response):
                result.close()


async def within[T](awaitable: Awaitable[T], seconds: float = 3.0) -> T:
    """Await with a bound, so that a bug shows as a failure rather than a hung test."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def send(
    pool: http1.Pool,
    origin: http1.Origin,
    target: str = "/",
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    read_timeout: float = 2.0,
    pool_timeout: float = 2.0,
    connect_timeout: float = 2.0,
) -> http1.Response:
    return await within(
        pool.request(
            origin,
            method,
            target,
            headers,
            body,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
            read_timeout=read_timeout,
        ),
        5.0,
    )


async def fetch(pool: http1.Pool, origin: http1.Origin, target: str = "/", **kwargs: Any) -> bytes:
    """One whole call: send, read the body, give the connection back."""
    response = await send(pool, origin, target, **kwargs)
    try:
        return await within(response.aread())
    finally:
        response.close()


def answer(body: bytes = b"ok", *, status: str = "200 OK", headers: Sequence[str] = ()) -> bytes:
    """A complete answer with a Content-Length."""
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def keep_alive(body: bytes = b"ok") -> Handler:
    """An upstream that answers every request of a connection with ``body``."""

    async def handler(peer: Peer) -> None:
        while (await peer.read_request()) is not None:
            await peer.send(answer(body))

    return handler


def free_port() -> int:
    """A port nothing listens on: bound, then released (another process taking it in between
    is unlikely)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- reading answers --------------------------------------------------------------------------


async def test_a_sized_answer_is_read_whole() -> None:
    reply = answer(
        b"hello, world",
        status="201 Created",
        headers=["Content-Type: text/plain", "Set-Cookie: a=1", "Set-Cookie: b=2"],
    )

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(reply)
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        assert (response.status_code, response.reason) == (201, "Created")
        assert response.headers["content-type"] == "text/plain"
        assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
        assert await within(response.aread()) == b"hello, world"
        assert response.complete
        assert await response.read_chunk() is None  # the end stays the end
        response.close()


async def test_a_chunked_answer_is_read_whole_without_its_framing() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunk(b"Hello")
            + b"7;ext=1\r\n, chunk\r\n"  # a chunk extension is framing, not data
            + chunk(b"y" * 5000)
            + b"0\r\nX-Trailer: done\r\n\r\n"
        )
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert await within(response.aread()) == b"Hello, chunk" + b"y" * 5000
        assert response.complete
        response.close()


async def test_chunks_are_handed_over_as_they_arrive() -> None:
    pieces = [b"one", b"two", b"three"]
    gates = [asyncio.Event() for _ in [*pieces, b"end"]]
    sent = 0

    async def handler(peer: Peer) -> None:
        nonlocal sent
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for gate, piece in zip(gates, [*pieces, b""], strict=True):
            await gate.wait()  # each piece goes out only once the one before was received
            sent += 1
            await peer.send(chunk(piece))  # the last, empty, one ends the body
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin, read_timeout=30)
        for number, piece in enumerate(pieces, start=1):
            gates[number - 1].set()
            # A client that waited for more bytes (or the whole body) would hang here.
            assert await within(response.read_chunk(), 1.0) == piece
            assert sent == number
        gates[-1].set()
        assert await within(response.read_chunk(), 1.0) is None
        response.close()


async def test_a_sized_body_is_iterated_piece_by_piece() -> None:
    pieces = [b"hello", b", ", b"world"]
    gates = [asyncio.Event() for _ in pieces]
    sent = 0

    async def handler(peer: Peer) -> None:
        nonlocal sent
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")
        for gate, piece in zip(gates, pieces, strict=True):
            await gate.wait()
            sent += 1
            await peer.send(piece)
        await peer.wait_eof()

    received: list[tuple[bytes, int]] = []
    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin, read_timeout=30)
        gates[0].set()
        async with asyncio.timeout(1.0):
            async for piece in response.aiter_raw():
                received.append((piece, sent))
                if len(received) < len(gates):
                    gates[len(received)].set()
        response.close()
    # Each piece came out of the iterator before the next one was sent.
    assert received == [(b"hello", 1), (b", ", 2), (b"world", 3)]


async def test_a_body_ended_by_the_connection_close_is_complete() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
        await asyncio.sleep(0.05)
        await peer.send(b"part two")
        peer.close()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        assert response.status_code == 200
        assert await within(response.aread()) == b"part one, part two"
        assert response.complete
        response.close()


async def test_interim_answers_are_skipped() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        await asyncio.sleep(0.02)
        await peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        await asyncio.sleep(0.02)
        await peer.send(answer(b"final", status="202 Accepted", headers=["X-Final: yes"]))
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        assert (response.status_code, response.reason) == (202, "Accepted")
        assert response.headers["X-Final"] == "yes"
        assert "Link" not in response.headers  # the hint's headers are not the answer's
        assert await within(response.aread()) == b"final"
        response.close()


async def test_a_bodiless_answer_is_complete_at_once_and_reusable() -> None:
    async def handler(peer: Peer) -> None:
        while (await peer.read_request()) is not None:
            await peer.send(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with serve(handler) as upstream, pool_of() as pool:
        for _ in range(2):
            response = await send(pool, upstream.origin)
            assert response.status_code == 204
            assert await within(response.read_chunk()) is None
            response.close()
    assert upstream.accepted == 1


# --- keep-alive -------------------------------------------------------------------------------


async def test_sequential_requests_share_one_connection() -> None:
    async with serve(keep_alive(b"pong")) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin, "/one") == b"pong"
        assert await fetch(pool, upstream.origin, "/two") == b"pong"
        assert await fetch(pool, upstream.origin, "/three") == b"pong"
    assert upstream.accepted == 1
    assert [(r.connection, r.target) for r in upstream.requests] == [
        (1, "/one"),
        (1, "/two"),
        (1, "/three"),
    ]


async def test_closing_a_response_before_its_end_drops_the_connection() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        if request is not None and request.target == "/long":
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst bytes")
            await peer.wait_eof()  # the rest never goes out: the client must hang up
            return
        await peer.send(answer(b"short"))
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin, "/long")
        assert await within(response.read_chunk()) == b"first bytes"
        response.close()
        await within(upstream.peers[0].eof.wait())  # the upstream learns the reader left
        with pytest.raises(http1.ConnectionClosed):
            await response.read_chunk()
        assert await fetch(pool, upstream.origin, "/short") == b"short"
    assert upstream.accepted == 2
    assert [(r.connection, r.target) for r in upstream.requests] == [(1, "/long"), (2, "/short")]


async def test_closing_a_response_with_unread_bytes_drops_the_connection() -> None:
    async with serve(keep_alive(b"never read")) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        await asyncio.sleep(0.05)  # the whole body has arrived, but nobody read it
        response.close()
        await within(upstream.peers[0].eof.wait())
        assert await fetch(pool, upstream.origin) == b"never read"
    assert upstream.accepted == 2


@pytest.mark.parametrize(
    ("status_line", "extra"),
    [
        pytest.param("HTTP/1.1 200 OK", ["Connection: close"], id="connection-close"),
        pytest.param("HTTP/1.0 200 OK", [], id="http-1.0"),
    ],
)
async def test_an_answer_that_ends_the_connection_is_not_reused(
    status_line: str, extra: list[str]
) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        head = "\r\n".join([status_line, "Content-Length: 3", *extra]) + "\r\n\r\n"
        await peer.send(head.encode() + b"bye")
        await peer.wait_eof()  # the upstream keeps its end open: the client must close

    async with serve(handler) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin) == b"bye"
        await within(upstream.peers[0].eof.wait())
        assert await fetch(pool, upstream.origin) == b"bye"
    assert upstream.accepted == 2


async def test_a_connection_the_upstream_closed_while_idle_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(answer(b"ok"))
        peer.close()  # a keep-alive answer, then the server times the connection out

    async with serve(handler) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin) == b"ok"
        await asyncio.sleep(0.05)  # the client sees the close while the connection is idle
        # A POST is never sent twice: it succeeds only if the dead connection was not taken.
        assert await fetch(pool, upstream.origin, method="POST", body=b"{}") == b"ok"
    assert upstream.accepted == 2
    assert [(r.connection, r.method) for r in upstream.requests] == [(1, "GET"), (2, "POST")]


async def test_bytes_on_an_idle_connection_make_it_unsafe() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(answer(b"ok"))
        await asyncio.sleep(0.05)
        await peer.send(b"HTTP/1.1 200 OK\r\n")  # nobody asked: the framing is lost
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin) == b"ok"
        await within(upstream.peers[0].eof.wait())  # dropped while idle
        assert await fetch(pool, upstream.origin) == b"ok"
    assert upstream.accepted == 2


# --- the request on the wire ------------------------------------------------------------------


@asyncio_only
async def test_the_request_bytes_on_the_wire() -> None:
    async with serve(keep_alive()) as upstream, pool_of() as pool:
        await fetch(
            pool,
            upstream.origin,
            "/v1/bot/list?take=2&q=a%20b",
            headers=[("Accept", "application/json"), ("X-Two", "a"), ("X-Two", "b")],
        )
        await fetch(
            pool,
            upstream.origin,
            "/v1/bot/create",
            method="POST",
            headers=[("Content-Type", "application/json")],
            body=b'{"name":"x"}',
        )
        await fetch(pool, upstream.origin, "/v1/empty", method="POST", body=b"")
    host = f"127.0.0.1:{upstream.port}"
    assert [r.raw for r in upstream.requests] == [
        (
            f"GET /v1/bot/list?take=2&q=a%20b HTTP/1.1\r\nHost: {host}\r\n"
            "Accept: application/json\r\nX-Two: a\r\nX-Two: b\r\n\r\n"
        ).encode(),
        (
            f"POST /v1/bot/create HTTP/1.1\r\nHost: {host}\r\n"
            'Content-Type: application/json\r\nContent-Length: 12\r\n\r\n{"name":"x"}'
        ).encode(),
        f"POST /v1/empty HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode(),
    ]


@pytest.mark.parametrize(
    ("url", "host_header", "port", "tls"),
    [
        ("http://example.com", "example.com", 80, False),
        ("http://example.com:80/base", "example.com", 80, False),
        ("https://example.com", "example.com", 443, True),
        ("https://example.com:443", "example.com", 443, True),
        ("https://example.com:8443", "example.com:8443", 8443, True),
        ("http://example.com:443", "example.com:443", 443, False),
        ("http://[::1]:8080", "[::1]:8080", 8080, False),
        ("http://[::1]", "[::1]", 80, False),
    ],
)
def test_an_origin_names_its_host_with_the_port_only_when_not_the_default(
    url: str, host_header: str, port: int, tls: bool
) -> None:
    origin = http1.Origin(url)
    assert (origin.host_header, origin.port, origin.tls) == (host_header, port, tls)


@pytest.mark.parametrize("url", ["ftp://example.com", "/v1/relative", "http://", "example.com"])
def test_an_origin_needs_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="absolute"):
        http1.Origin(url)


@asyncio_only
@pytest.mark.parametrize(
    ("headers", "target"),
    [
        pytest.param([("X-A", "v\r\nX-Injected: 1")], "/", id="crlf-in-value"),
        pytest.param([("X-A", "v\nX-Injected: 1")], "/", id="lf-in-value"),
        pytest.param([("X-A", "v\rX")], "/", id="cr-in-value"),
        pytest.param([("X-A", "v\0")], "/", id="nul-in-value"),
        pytest.param([("X-A\r\nX-Injected", "1")], "/", id="crlf-in-name"),
        pytest.param([("X-A:B", "1")], "/", id="colon-in-name"),
        pytest.param([("X A", "1")], "/", id="space-in-name"),
        pytest.param([], "/a b", id="space-in-target"),
        pytest.param([], "/a\r\nX-Injected: 1", id="crlf-in-target"),
        pytest.param([], "/a#fragment", id="fragment-in-target"),
        pytest.param([], "relative", id="relative-target"),
    ],
)
async def test_a_request_that_would_split_is_refused_before_anything_is_sent(
    headers: list[tuple[str, str]], target: str
) -> None:
    async with serve(keep_alive()) as upstream, pool_of() as pool:
        with pytest.raises(ValueError, match=r"header|target"):
            await send(pool, upstream.origin, target, headers=[("X-Ok", "1"), *headers])
        await asyncio.sleep(0.01)
        assert pool._open == 0
    assert upstream.accepted == 0


@pytest.mark.parametrize("framing", ["Content-Length: 1234", "Transfer-Encoding: chunked"])
async def test_a_head_answer_ends_with_its_headers_and_its_connection_is_dropped(
    framing: str,
) -> None:
    async def handler(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            if request.method == "HEAD":  # the GET answer's headers, none of its body
                await peer.send(f"HTTP/1.1 200 OK\r\n{framing}\r\nETag: v1\r\n\r\n".encode())
            else:
                await peer.send(answer(b"got"))

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin, "/health", method="HEAD", read_timeout=30)
        assert (response.status_code, response.headers["ETag"]) == (200, "v1")
        assert await within(response.read_chunk(), 1.0) is None  # no body to wait for
        assert response.complete
        response.close()
        # Not reused: its parser would still wait for the body the headers announced.
        await within(upstream.peers[0].eof.wait())
        assert await fetch(pool, upstream.origin) == b"got"
    assert upstream.accepted == 2
    assert upstream.requests[0].raw == (
        f"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1:{upstream.port}\r\n\r\n".encode()
    )


# --- silence ----------------------------------------------------------------------------------


async def test_silence_before_the_headers_is_a_read_timeout() -> None:
    async def handler(peer: Peer) -> None:
        if await peer.read_request() is not None and peer.index == 1:
            await peer.wait_eof()  # says nothing until the client hangs up
            return
        await peer.send(answer(b"late but fine"))
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of(1) as pool:
        started = time.monotonic()
        with pytest.raises(http1.ReadTimeout):
            await send(pool, upstream.origin, read_timeout=0.2)
        assert 0.15 <= time.monotonic() - started < 1.5
        await within(upstream.peers[0].eof.wait())  # the silent connection was closed
        # ...and gave its place back: the only slot serves the next call at once.
        assert await fetch(pool, upstream.origin, pool_timeout=0.2) == b"late but fine"


async def test_silence_between_chunks_is_a_read_timeout() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"a"))
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin, read_timeout=0.2)
        assert await within(response.read_chunk()) == b"a"
        started = time.monotonic()
        with pytest.raises(http1.ReadTimeout):
            await within(response.read_chunk())
        assert 0.1 <= time.monotonic() - started < 1.5
        await within(upstream.peers[0].eof.wait())
        response.close()


async def test_a_steady_stream_outlasting_the_read_timeout_is_not_cut() -> None:
    pieces = [f"token {i};".encode() for i in range(5)]

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await asyncio.sleep(0.05)  # some thought before the headers, under the timeout
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            await asyncio.sleep(0.05)
            await peer.send(chunk(piece))
        await peer.send(b"0\r\n\r\n")
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of() as pool:
        started = time.monotonic()
        response = await send(pool, upstream.origin, read_timeout=0.15)
        received = [piece async for piece in response.aiter_raw()]
        elapsed = time.monotonic() - started
        response.close()
    assert received == pieces
    assert elapsed > 0.3  # twice the read timeout: only silence ends a call, not its length


# --- failures ---------------------------------------------------------------------------------


async def test_a_refused_connection_is_a_connect_error_and_frees_its_slot() -> None:
    refused = http1.Origin(f"http://127.0.0.1:{free_port()}")
    async with serve(keep_alive(b"alive")) as upstream, pool_of(1) as pool:
        for _ in range(2):  # a leaked slot would make the second attempt wait, not fail
            with pytest.raises(http1.ConnectError) as caught:
                await send(pool, refused, pool_timeout=0.2)
            assert caught.value.errno == errno.ECONNREFUSED
        assert await fetch(pool, upstream.origin, pool_timeout=0.2) == b"alive"


async def test_a_connect_that_gets_no_answer_is_a_connect_timeout() -> None:
    # A listener whose accept queue is full drops new SYNs (Linux), so connecting hangs.
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        await asyncio.sleep(0.05)
        async with pool_of(1) as pool:
            started = time.monotonic()
            with pytest.raises(http1.ConnectTimeout):
                await send(pool, http1.Origin(f"http://127.0.0.1:{port}"), connect_timeout=0.2)
            assert time.monotonic() - started < 1.5
            assert pool._open == 0  # the attempt gave its slot back


async def test_a_close_before_answering_is_connection_closed() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        peer.close()

    async with serve(handler) as upstream, pool_of() as pool:
        with pytest.raises(http1.ConnectionClosed):
            await send(pool, upstream.origin)
    assert upstream.accepted == 1  # a new connection is not retried, even for a GET


async def test_a_close_in_the_middle_of_a_body_is_connection_closed() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await asyncio.sleep(0.05)
        peer.close()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        assert await within(response.read_chunk()) == b"only this"
        with pytest.raises(http1.ConnectionClosed):
            await within(response.read_chunk())
        assert not response.complete
        response.close()


async def test_a_chunked_body_cut_before_its_last_chunk_is_connection_closed() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"abc"))
        peer.close()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        with pytest.raises(http1.ConnectionClosed):
            await within(response.aread())
        response.close()


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", id="not-http"),
        pytest.param(b"HTTP/1.1 2xx OK\r\n\r\n", id="bad-status"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n", id="bad-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"x" * 70_000 + b"\r\n\r\n", id="huge-head"
        ),
    ],
)
async def test_garbage_is_an_invalid_response(garbage: bytes) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(garbage)
        await peer.wait_eof()

    async with serve(handler) as upstream, pool_of(1) as pool:
        with pytest.raises(http1.InvalidResponse):
            await send(pool, upstream.origin)
        await within(upstream.peers[0].eof.wait())  # the connection is dropped
        assert pool._open == 0


# --- the keep-alive race ----------------------------------------------------------------------


def closes_the_second_request_unanswered(then: Handler) -> Handler:
    """Connection 1 answers once with keep-alive, then drops the next request without a
    word (what a server that timed the connection out as the request was sent looks like).
    Later connections run ``then``."""

    async def handler(peer: Peer) -> None:
        if peer.index > 1:
            await then(peer)
            return
        await peer.read_request()
        await peer.send(answer(b"first", headers=["Connection: keep-alive"]))
        await peer.read_request()
        peer.close()

    return handler


async def test_a_get_on_a_connection_closed_under_it_is_sent_again_once() -> None:
    handler = closes_the_second_request_unanswered(keep_alive(b"second"))
    async with serve(handler) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin, "/one") == b"first"
        assert await fetch(pool, upstream.origin, "/two") == b"second"
    assert [(r.connection, r.method, r.target) for r in upstream.requests] == [
        (1, "GET", "/one"),
        (1, "GET", "/two"),
        (2, "GET", "/two"),
    ]


async def test_a_get_is_sent_again_only_once() -> None:
    async def drop(peer: Peer) -> None:
        await peer.read_request()
        peer.close()

    handler = closes_the_second_request_unanswered(drop)
    async with serve(handler) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin, "/one") == b"first"
        with pytest.raises(http1.ConnectionClosed):
            await send(pool, upstream.origin, "/two")
    assert [(r.connection, r.target) for r in upstream.requests] == [
        (1, "/one"),
        (1, "/two"),
        (2, "/two"),
    ]


async def test_a_post_on_a_connection_closed_under_it_is_not_sent_again() -> None:
    handler = closes_the_second_request_unanswered(keep_alive(b"second"))
    async with serve(handler) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin, "/one") == b"first"
        with pytest.raises(http1.ConnectionClosed):
            await send(pool, upstream.origin, "/two", method="POST", body=b"{}")
        await asyncio.sleep(0.05)
    assert upstream.accepted == 1
    assert [(r.connection, r.method, r.target) for r in upstream.requests] == [
        (1, "GET", "/one"),
        (1, "POST", "/two"),
    ]


async def test_a_get_whose_answer_had_started_is_not_sent_again() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(answer(b"first"))
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Le")  # the upstream did work on it
        peer.close()

    async with serve(handler) as upstream, pool_of() as pool:
        assert await fetch(pool, upstream.origin, "/one") == b"first"
        with pytest.raises(http1.ConnectionClosed):
            await send(pool, upstream.origin, "/two")
        await asyncio.sleep(0.05)
    assert upstream.accepted == 1


# --- the pool ---------------------------------------------------------------------------------


@asyncio_only
async def test_at_the_cap_a_request_waits_for_the_held_connection() -> None:
    async with serve(keep_alive(b"body")) as upstream, pool_of(1) as pool:
        first = await send(pool, upstream.origin, "/first")
        async with background(send(pool, upstream.origin, "/second")) as second:
            await asyncio.sleep(0.05)
            assert not second.done()
            assert await within(first.aread()) == b"body"
            await asyncio.sleep(0.05)
            assert not second.done()  # read to the end, but still held until closed
            first.close()
            response = await within(second)
            assert await within(response.aread()) == b"body"
            response.close()
    assert upstream.accepted == 1
    assert [(r.connection, r.target) for r in upstream.requests] == [(1, "/first"), (1, "/second")]


@asyncio_only
async def test_at_the_cap_the_pool_timeout_ends_the_wait() -> None:
    async with serve(keep_alive(b"body")) as upstream, pool_of(1) as pool:
        held = await send(pool, upstream.origin)
        started = time.monotonic()
        with pytest.raises(http1.PoolTimeout):
            await send(pool, upstream.origin, pool_timeout=0.15)
        assert 0.1 <= time.monotonic() - started < 1.5
        assert await within(held.aread()) == b"body"
        held.close()
        assert await fetch(pool, upstream.origin, pool_timeout=0.15) == b"body"
    assert upstream.accepted == 1


@asyncio_only
async def test_an_idle_connection_to_another_origin_makes_room() -> None:
    async with (
        serve(keep_alive(b"from a")) as a,
        serve(keep_alive(b"from b")) as b,
        pool_of(1) as pool,
    ):
        assert await fetch(pool, a.origin) == b"from a"  # idle in the pool, for origin A
        assert await fetch(pool, b.origin, pool_timeout=0.2) == b"from b"
        await within(a.peers[0].eof.wait())  # A's idle connection was closed for B's
    assert (a.accepted, b.accepted) == (1, 1)


@asyncio_only
async def test_a_waiter_for_another_origin_gets_the_room_of_a_released_connection() -> None:
    async with (
        serve(keep_alive(b"from a")) as a,
        serve(keep_alive(b"from b")) as b,
        pool_of(1) as pool,
    ):
        held = await send(pool, a.origin)
        async with background(send(pool, b.origin)) as waiter:
            await asyncio.sleep(0.05)
            assert not waiter.done()
            assert b.accepted == 0
            assert await within(held.aread()) == b"from a"
            held.close()  # idle for A now: B's waiter must not sit until its timeout
            response = await within(waiter, 1.0)
            assert await within(response.aread()) == b"from b"
            response.close()
        await within(a.peers[0].eof.wait())
    assert (a.accepted, b.accepted) == (1, 1)


@asyncio_only
async def test_idle_connections_past_idle_seconds_are_not_reused() -> None:
    async with serve(keep_alive()) as upstream, pool_of(idle_seconds=0.1) as pool:
        await fetch(pool, upstream.origin)
        await fetch(pool, upstream.origin)  # young enough: reused
        assert upstream.accepted == 1
        await asyncio.sleep(0.2)
        await fetch(pool, upstream.origin)
        assert upstream.accepted == 2
        await within(upstream.peers[0].eof.wait())  # the stale one was closed, not leaked
    assert [r.connection for r in upstream.requests] == [1, 1, 2]


async def test_aclose_closes_idle_connections_and_then_released_ones() -> None:
    async with serve(keep_alive(b"x")) as upstream:
        pool = http1.Pool(max_connections=4)
        first = await send(pool, upstream.origin)
        second = await send(pool, upstream.origin)
        assert upstream.accepted == 2
        assert await within(first.aread()) == b"x"
        first.close()  # idle
        await pool.aclose()
        await within(upstream.peers[0].eof.wait())
        await asyncio.sleep(0.05)
        assert not upstream.peers[1].eof.is_set()  # a call in flight is not cut
        assert await within(second.aread()) == b"x"
        second.close()  # given back to a closed pool: closed
        await within(upstream.peers[1].eof.wait())
        with pytest.raises(RuntimeError, match="closed"):
            await send(pool, upstream.origin)
    assert upstream.accepted == 2


# --- backpressure -----------------------------------------------------------------------------

BIG = 24 * 1024 * 1024  # beyond what the loopback's socket buffers can hold on their own


async def test_a_reader_that_does_not_read_holds_the_upstream_back() -> None:
    payload = os.urandom(BIG)
    written = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(f"HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n".encode() + payload)
        written.set()
        while (await peer.read_request()) is not None:
            await peer.send(answer(b"again"))

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin, read_timeout=0.2)
        # Not reading, for longer than the read timeout: the client must stop reading the
        # socket, and its own slowness is not the upstream's silence.
        await asyncio.sleep(0.3)
        assert not written.is_set()
        body = await within(response.aread(), 10)
        assert len(body) == BIG
        assert body == payload
        response.close()
        await within(written.wait())
        # Read to the end, the connection was resumed and is reusable.
        assert await fetch(pool, upstream.origin) == b"again"
    assert upstream.accepted == 1


# --- through UpstreamClient.open() ------------------------------------------------------------


@asyncio_only
async def test_open_maps_a_refused_connection_to_unavailable() -> None:
    port = free_port()
    conn = UpstreamConnection(f"http://127.0.0.1:{port}", "sk-test")
    async with fast_client() as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            async with client.open(conn, "GET", "/v1/bot/list"):
                pytest.fail("no response expected")
    assert (caught.value.status, caught.value.code) == (502, "BAD_GATEWAY")
    assert f"127.0.0.1:{port}" in caught.value.message
    assert isinstance(caught.value.__cause__, http1.ConnectError)


@asyncio_only
async def test_open_maps_silence_to_a_gateway_timeout() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.wait_eof()

    timeouts = Timeouts(connect=2, read=0.2, write=2, pool=2)
    async with serve(handler) as upstream, fast_client(timeouts=timeouts) as client:
        conn = UpstreamConnection(upstream.url, "sk-test")
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as caught:
            async with client.open(conn, "GET", "/v1/bot/list"):
                pytest.fail("no response expected")
        assert time.monotonic() - started < 1.5
    assert (caught.value.status, caught.value.code) == (504, "GATEWAY_TIMEOUT")
    assert isinstance(caught.value.__cause__, http1.ReadTimeout)


@asyncio_only
async def test_open_sends_the_path_under_the_base_and_the_params_encoded() -> None:
    async with serve(keep_alive(b"{}")) as upstream, fast_client() as client:
        conn = UpstreamConnection(f"{upstream.url}/api/", "sk-secret")
        async with client.open(
            conn,
            "GET",
            "/v1/bot/list",
            params={"q": "a b&c=d/é", "flag": True, "off": False, "skip": None, "take": 5},
            headers={"Authorization": "Bearer sk-forged", "X-Custom": "kept"},
        ) as response:
            assert response.status_code == 200
            assert await within(response.aread()) == b"{}"
    [request] = upstream.requests
    assert request.method == "GET"
    assert request.target == "/api/v1/bot/list?q=a+b%26c%3Dd%2F%C3%A9&flag=true&off=false&take=5"
    assert request.values("Host") == [f"127.0.0.1:{upstream.port}"]
    assert request.values("Authorization") == ["Bearer sk-secret"]
    assert request.values("X-Custom") == ["kept"]
    assert request.values("Accept-Encoding") == ["identity"]
    assert request.values("Content-Length") == []


# --- bugs found by this module's first version, fixed in http1 ------------------------------


async def test_bytes_after_a_complete_answer_make_its_connection_unsafe() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        # One answer, then bytes nobody asked for: the head of another one, body to come.
        await peer.send(answer(b"ok") + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        while (await peer.read_request()) is not None:
            await peer.send(answer(b"next"))

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        await asyncio.sleep(0.05)  # the unasked bytes arrive while the answer is held
        body, reason = await within(response.aread()), response.reason
        response.close()
        # Reused, the connection would hand this call the unasked answer's body; on a new
        # connection the handler starts over and answers "ok" again.
        next_body = await fetch(pool, upstream.origin)
    assert (body, reason) == (b"ok", "OK")
    assert next_body == b"ok"
    assert upstream.accepted == 2  # a connection that sent more than was asked is not reused


async def test_a_reset_in_a_body_ended_by_the_close_is_not_a_complete_body() -> None:
    reset = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\ntruncat")
        await reset.wait()
        peer.reset()

    async with serve(handler) as upstream, pool_of() as pool:
        response = await send(pool, upstream.origin)
        assert await within(response.read_chunk()) == b"truncat"
        reset.set()
        try:
            with pytest.raises(http1.ConnectionClosed):
                await within(response.read_chunk())
            assert not response.complete
        finally:
            response.close()


@asyncio_only
async def test_a_waiter_that_leaves_as_it_is_woken_passes_the_connection_on() -> None:
    async with serve(keep_alive(b"x")) as upstream, pool_of(1) as pool:
        held = await send(pool, upstream.origin, "/held")
        async with background(send(pool, upstream.origin, "/first")) as first:
            await asyncio.sleep(0.05)
            async with background(
                send(pool, upstream.origin, "/second", pool_timeout=0.2)
            ) as second:
                await asyncio.sleep(0.05)
                assert not first.done()
                assert not second.done()
                assert await within(held.aread()) == b"x"
                held.close()  # wakes the first waiter...
                first.cancel()  # ...whose caller leaves in the same turn (its client hung up)
                response = await within(second)
                assert await within(response.aread()) == b"x"
                response.close()
    assert [r.target for r in upstream.requests] == ["/held", "/second"]
