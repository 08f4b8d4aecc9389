"""A lean HTTP/1.1 client with keep-alive pools: the transport of ``UpstreamClient.open()``.

The proxy relays every call through ``open()``, so its transport is on the hot path twice per
call (the request, the answer's headers) and once per streamed chunk. aiohttp's client, which
serves the portal's own calls (retries, JSON, events), spends most of a relayed call's client
time on machinery the relay does not use: cookie jars, URL objects, redirects, trace hooks,
a timer re-armed on every chunk, a task per request. bench/gateway measured it at about a
third of the proxy's CPU per call. This module is only what the relay needs:

- one ``asyncio.Protocol`` per connection, parsed by ``httptools`` (llhttp, the parser uvicorn
  serves with), the request written in one ``write``;
- pools per origin, last in first out, at most ``max_connections`` open per pool, idle
  connections dropped after ``idle_seconds`` or as soon as the server closes them;
- body chunks handed to the reader as they arrive (no buffering for tokens), with reading
  paused while a slow reader holds more than ``_HIGH_WATER`` bytes;
- one silence timer per connection that re-arms itself (``read`` seconds without a byte, before
  the headers or between chunks) rather than a timer per chunk; the connect timeout only
  around opening a connection, the pool timeout only while waiting for one.

What it refuses to be: a general client. No redirects, no cookies, no compression (the caller
asks for ``identity``), no ``Expect: 100-continue``, no proxies from the environment. A
``HEAD`` answer ends with its headers and its connection is not reused (llhttp cannot be told
that a HEAD answer has no body; the health probe is the only caller that sends one).

Failures are the built-in exception types the callers already map (client.py, streaming.py):
``ConnectError`` (an ``OSError``), ``TimeoutError`` subclasses, ``ConnectionError`` subclasses.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Final, cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

# A reader that falls this far behind pauses the socket; it resumes below the low mark.
_HIGH_WATER: Final = 256 * 1024
_LOW_WATER: Final = 64 * 1024
# Bytes a header block may take before the answer is refused (llhttp has no cap of its own).
_MAX_HEADER_BYTES: Final = 64 * 1024
# What would end a header line early (or confuse a parser) in a name or value we write.
_UNSAFE_VALUE: Final = re.compile(r"[\r\n\0]")
_UNSAFE_NAME: Final = re.compile(r"[\r\n\0:\s]")


class ConnectError(OSError):
    """The connection could not be opened (refused, unreachable, DNS, TLS)."""


class ConnectTimeout(TimeoutError):
    """Opening the connection took longer than the connect timeout."""


class PoolTimeout(TimeoutError):
    """Every connection of the pool stayed busy for the whole pool timeout."""


class ReadTimeout(TimeoutError):
    """The upstream sent nothing for ``read`` seconds (before the headers or mid-body)."""


class ConnectionClosed(ConnectionError):
    """The upstream closed the connection before the answer was complete."""


class InvalidResponse(ConnectionError):
    """The upstream's bytes are not a valid HTTP/1.1 answer."""


class Origin:
    """Where a pool connects: scheme, host and port of a base URL (parsed once)."""

    __slots__ = ("host", "host_header", "key", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an origin needs an absolute http(s) URL")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        default = 443 if self.tls else 80
        self.port = parts.port or default
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = name if self.port == default else f"{name}:{self.port}"
        self.key = (parts.scheme, self.host, self.port)


class Response:
    """One answer whose body has not been read yet; what ``Pool.request`` returns.

    Names follow httpx (``status_code``, ``aiter_raw``), which is how the proxy reads it.
    ``close()`` gives the connection back when the body was read to its end and drops it
    otherwise (which is how a client that left stops the upstream's work).
    """

    __slots__ = (
        "_chunks",
        "_connection",
        "_error",
        "_held",
        "_waiter",
        "complete",
        "headers",
        "reason",
        "status_code",
    )

    def __init__(self, connection: _Connection) -> None:
        self._connection: _Connection | None = connection
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self.complete = False
        self.status_code = 0
        self.reason = ""
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())

    # -- reading ----------------------------------------------------------------------------

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while (chunk := await self.read_chunk()) is not None:
            yield chunk

    async def read_chunk(self) -> bytes | None:
        """The next chunk as it arrived, or None at the end of the body."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self.complete:
                return None
            connection = self._connection
            if connection is None:  # closed by our own side
                raise ConnectionClosed("the response was closed before its end")
            self._waiter = connection.loop.create_future()
            connection.watch_silence()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._held -= len(chunk)
        if self._held < _LOW_WATER and self._connection is not None:
            self._connection.resume()
        return chunk

    async def aread(self) -> bytes:
        parts = []
        while (chunk := await self.read_chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        """Back to the pool after a complete body (and a keep-alive answer); else dropped."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.finish(reusable=self.complete and not self._chunks)

    # -- fed by the connection --------------------------------------------------------------

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._held += len(chunk)
        if self._held > _HIGH_WATER and self._connection is not None:
            self._connection.pause()
        self._wake()

    def _end(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self.complete and self._error is None:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes requests, parses answers into ``Response``s."""

    def __init__(self, pool: Pool, origin: Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.counted = True  # in the pool's count of open connections until discarded
        self.received = False  # a byte of the current answer arrived
        self.idle_since = 0.0
        self.keep_alive = True
        self.head_request = False
        # The answer being read: its response, and the headers/head future of its start.
        self.response: Response | None = None
        self.head: asyncio.Future[Response] | None = None
        self._raw_headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._paused = False
        # Silence timer: the last time a byte arrived (or a request went out), and one timer
        # that re-arms itself from it instead of one timer per chunk.
        self._last_activity = 0.0
        self._read_timeout = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio.Transport, hence no check).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._last_activity = self.loop.time()
        self.received = True
        if self.response is None:
            # Bytes nobody asked for (after a complete answer): the connection is not safe.
            self.abort()
            return
        if self.response.complete:
            self.keep_alive = False  # the same, while the reader still holds the answer
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(InvalidResponse(f"invalid HTTP answer: {exc}"))
            self.abort()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        response = self.response
        if response is not None and not response.complete:
            if exc is None and self.head is None and not self._has_length():
                # A body delimited by the connection's end (RFC 9112 §6.3), complete only if
                # the connection ended cleanly (§8): a reset is a truncated body.
                response._end()
            else:
                self._fail(ConnectionClosed("the upstream closed the connection"))
        self.pool._discard(self)

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.response is not None and self.response.complete:
            # A second answer after the one asked for (in the same read): never trust this
            # connection again, and leave the held answer alone (the callbacks below check).
            self.keep_alive = False

    def _beyond(self) -> bool:
        return self.response is None or self.response.complete

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._beyond():
            return
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > _MAX_HEADER_BYTES:
            raise httptools.HttpParserError("header block too large")
        self._raw_headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_status(self, status: bytes) -> None:
        if not self._beyond():
            assert self.response is not None
            self.response.reason += status.decode("latin-1")

    def on_headers_complete(self) -> None:
        response, head = self.response, self.head
        if response is None or head is None or response.complete:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self._raw_headers, self._header_bytes, response.reason = [], 0, ""
            return
        response.status_code = status
        response.headers = CIMultiDictProxy(CIMultiDict(self._raw_headers))
        self.keep_alive = self.parser.should_keep_alive()
        self.head = None
        if self.head_request:  # no body follows, whatever the headers say
            self.keep_alive = False
            self._cancel_timer()
            response._end()
        if not head.done():
            head.set_result(response)

    def on_body(self, body: bytes) -> None:
        if self.response is not None and not self.response.complete:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        response = self.response
        if response is None or self.head is not None or response.complete:
            return  # the end of an interim answer, or of a HEAD answer already ended
        self.keep_alive = self.keep_alive and self.parser.should_keep_alive()
        self._cancel_timer()
        response._end()

    # -- the pool's side --------------------------------------------------------------------

    def send(self, request: bytes, read_timeout: float, *, head: bool) -> asyncio.Future[Response]:
        assert self.transport is not None
        self.head_request = head
        self.response = Response(self)
        self.head = self.loop.create_future()
        self._raw_headers, self._header_bytes = [], 0
        self.received = False
        self._read_timeout = read_timeout
        self._last_activity = self.loop.time()
        self.transport.write(request)
        self.watch_silence()
        return self.head

    def watch_silence(self) -> None:
        if self._timer is None and not self.closed:
            self._timer = self.loop.call_at(
                self._last_activity + self._read_timeout, self._check_silence
            )

    def _check_silence(self) -> None:
        self._timer = None
        response = self.response
        if response is None or response.complete or self.closed:
            return
        waiting = self.head is not None or response._waiter is not None
        due = self._last_activity + self._read_timeout
        if not waiting:
            return  # the reader holds unread chunks; it re-arms the timer when it waits again
        if self.loop.time() >= due:
            self._fail(ReadTimeout(f"no data for {self._read_timeout:g} s"))
            self.abort()
        else:
            self._timer = self.loop.call_at(due, self._check_silence)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, error: BaseException) -> None:
        head, self.head = self.head, None
        if head is not None and not head.done():
            head.set_exception(error)
        if self.response is not None:
            self.response._fail(error)

    def _has_length(self) -> bool:
        assert self.response is not None
        headers = self.response.headers
        return (
            "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        )

    def pause(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def finish(self, *, reusable: bool) -> None:
        """The reader is done with the answer: keep the connection for the next one or drop it."""
        self._cancel_timer()
        if reusable and self.keep_alive and not self.closed and not self._paused:
            self.response = None
            self.pool._release(self)
        else:
            self.abort()

    def abort(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.closed:
            self.transport.abort()
        # Counted off now, not when the loop reports the loss: a waiter for a connection
        # may open one at once.
        self.pool._discard(self)


class Pool:
    """Keep-alive connections per origin, for one event loop."""

    def __init__(self, *, max_connections: int, idle_seconds: float = 4.0) -> None:
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._ssl: ssl.SSLContext | None = None

    async def request(
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        *,
        connect_timeout: float,
        pool_timeout: float,
        read_timeout: float,
    ) -> Response:
        """Send one request and return once the answer's headers are in (body unread).

        ``target`` is the path and query, already encoded. A GET sent on a pooled connection
        that the server closed before answering a single byte (the keep-alive race: it timed
        the connection out as we wrote) is sent once more on a new connection, as Go's client
        does for requests that may be replayed. A POST is not: the upstream may have started
        on it. Idle connections are dropped after ``idle_seconds`` (below Node's 5 s default
        keep-alive) so that the race stays rare.
        """
        request = _encode(method, target, origin.host_header, headers, body)
        for _ in range(2):
            connection, reused = await self._take(origin, connect_timeout, pool_timeout)
            head = connection.send(request, read_timeout, head=method == "HEAD")
            try:
                return await head
            except ConnectionClosed:
                if not (method == "GET" and reused and not connection.received):
                    raise
            except BaseException:
                connection.abort()
                raise
        raise ConnectionClosed("the upstream closed a new connection before answering")

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()

    # -- connections ------------------------------------------------------------------------

    async def _take(
        self, origin: Origin, connect_timeout: float, pool_timeout: float
    ) -> tuple[_Connection, bool]:
        if self._closed:
            raise RuntimeError("this pool is closed")
        while True:
            connection = self._pop_idle(origin)
            if connection is not None:
                return connection, True
            if self._open < self.max_connections or self._evict_idle():
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(pool_timeout):
                    await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken as it left (timed out, cancelled): pass it on
                else:
                    waiter.cancel()
                if isinstance(exc, TimeoutError):
                    raise PoolTimeout("no free connection") from None
                raise
        return await self._connect(origin, connect_timeout), False

    def _pop_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin.key)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self.idle_seconds:
                return connection
            connection.abort()
        return None

    def _evict_idle(self) -> bool:
        """At the cap, close an idle connection to another origin to make room."""
        for connections in self._idle.values():
            if connections:
                connections.pop(0).abort()
                return True
        return False

    async def _connect(self, origin: Origin, seconds: float) -> _Connection:
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if origin.tls else None
        # Counted from the start, so that concurrent callers cannot open past the cap; the
        # connection that connects takes the count over (its discard gives it back once).
        self._open += 1
        made: list[_Connection] = []

        def protocol() -> _Connection:
            made.append(_Connection(self, origin))
            return made[-1]

        try:
            async with asyncio.timeout(seconds):
                _, connection = await loop.create_connection(
                    protocol,
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context else None,
                )
        except BaseException as exc:
            self._open -= 1
            for attempt in made:  # uvloop makes the protocol before it connects
                attempt.counted = False
                attempt.abort()
            self._wake_one()
            if isinstance(exc, TimeoutError):
                raise ConnectTimeout(f"connecting took over {seconds:g} s") from None
            if isinstance(exc, OSError):  # refused, unreachable, name resolution, TLS
                raise ConnectError(exc.errno, str(exc)) from exc
            raise
        for attempt in made:
            if attempt is not connection:
                attempt.counted = False  # an attempt that did not connect counts for nothing
        return connection

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _release(self, connection: _Connection) -> None:
        if self._closed:
            connection.abort()
            return
        connection.idle_since = connection.loop.time()
        self._idle.setdefault(connection.origin.key, []).append(connection)
        self._wake_one()

    def _discard(self, connection: _Connection) -> None:
        if not connection.counted:
            return
        connection.counted = False
        self._open -= 1
        idle = self._idle.get(connection.origin.key)
        if idle and connection in idle:
            idle.remove(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _encode(
    method: str,
    target: str,
    host: str,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
) -> bytes:
    if not target.startswith("/") or any(ch in target for ch in " \r\n\0#"):
        raise ValueError(f"not a request target: {target!r}")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers:
        if _UNSAFE_NAME.search(name) or _UNSAFE_VALUE.search(value):
            raise ValueError(f"header {name!r} has characters that would split the request")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head
