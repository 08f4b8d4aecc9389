"""Keep-alive pools per origin: taking, opening, giving back and evicting connections."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence

from .connection import Connection, Origin, Response, encode_request
from .errors import ConnectError, ConnectionClosed, ConnectTimeout, PoolTimeout


class Pool:
    """Keep-alive connections per origin, for one event loop."""

    def __init__(self, *, max_connections: int, idle_seconds: float = 4.0) -> None:
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
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
        request = encode_request(method, target, origin.host_header, headers, body)
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
    ) -> tuple[Connection, bool]:
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

    def _pop_idle(self, origin: Origin) -> Connection | None:
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

    async def _connect(self, origin: Origin, seconds: float) -> Connection:
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if origin.tls else None
        # Counted from the start, so that concurrent callers cannot open past the cap; the
        # connection that connects takes the count over (its discard gives it back once).
        self._open += 1
        made: list[Connection] = []

        def protocol() -> Connection:
            made.append(Connection(self, origin))
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

    def release(self, connection: Connection) -> None:
        """Take back a connection whose answer was read to its end (Connection.finish)."""
        if self._closed:
            connection.abort()
            return
        connection.idle_since = connection.loop.time()
        self._idle.setdefault(connection.origin.key, []).append(connection)
        self._wake_one()

    def discard(self, connection: Connection) -> None:
        """Count off a connection that closed or was dropped; once, however often called."""
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
