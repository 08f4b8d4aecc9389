"""One keep-alive connection: the request on the wire, the answer parsed into a ``Response``
whose body is handed over chunk by chunk, and the connection's silence timer."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Final, cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from .errors import ConnectionClosed, InvalidResponse, ReadTimeout

if TYPE_CHECKING:
    from .pool import Pool

# A reader that falls this far behind pauses the socket; it resumes below the low mark.
_HIGH_WATER: Final = 256 * 1024
_LOW_WATER: Final = 64 * 1024
# Bytes a header block may take before the answer is refused (llhttp has no cap of its own).
_MAX_HEADER_BYTES: Final = 64 * 1024
# What would end a header line early (or confuse a parser) in a name or value we write.
_UNSAFE_VALUE: Final = re.compile(r"[\r\n\0]")
_UNSAFE_NAME: Final = re.compile(r"[\r\n\0:\s]")


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

    def __init__(self, connection: Connection) -> None:
        self._connection: Connection | None = connection
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


class Connection(asyncio.Protocol):
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
        self.pool.discard(self)

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
            self.pool.release(self)
        else:
            self.abort()

    def abort(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.closed:
            self.transport.abort()
        # Counted off now, not when the loop reports the loss: a waiter for a connection
        # may open one at once.
        self.pool.discard(self)


def encode_request(
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
