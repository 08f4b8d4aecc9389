"""One Redis connection that sends a command and reads its reply, and nothing else.

The limiter makes one script call per proxied call (admission) and one per turn of the loop
(settles). Through redis-py's asyncio connection a call costs about 90 µs of CPU (packing
every argument through its encoder, a timeout context for the write and another for the
read, a stream reader reading line by line); written here as one ``bytes`` and parsed by
hiredis's C reader it costs about 35 µs, most of it the two system calls (measured on the
same machine and Redis, bench/gateway's profile of the proxy). ``_Lane`` in
redis_counters.py pools these; plain commands (``MGET`` for the usage pages) still go through
redis-py.

Replies are hiredis's: ``bytes``, ``int``, lists; an error reply is raised as redis-py's
exception types (``NoScriptError`` for ``NOSCRIPT``, which the script runner catches).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, cast

import hiredis
from redis.connection import parse_url
from redis.exceptions import NoScriptError, ResponseError

Arg = str | int | bytes


def pack(args: tuple[Arg, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RespConnection(asyncio.Protocol):
    """A connection for one command at a time (the lane never pipelines)."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Any] | None = None
        self.closed = False

    @classmethod
    async def open(cls, url: str, timeout_seconds: float) -> RespConnection:
        """Connect to ``url`` (redis://, rediss:// or unix://), then AUTH and SELECT as it says."""
        options = parse_url(url)  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_seconds):
            if "path" in options:
                _, connection = await loop.create_unix_connection(cls, options["path"])
            else:
                tls = ssl.create_default_context() if url.startswith("rediss://") else None
                _, connection = await loop.create_connection(
                    cls,
                    options.get("host", "localhost"),
                    int(options.get("port", 6379)),
                    ssl=tls,
                )
        try:
            if options.get("password"):
                auth: tuple[Arg, ...] = (options["password"],)
                if options.get("username"):
                    auth = (options["username"], *auth)
                await connection.call(pack(("AUTH", *auth)), timeout_seconds)
            if int(options.get("db", 0)):
                await connection.call(pack(("SELECT", int(options["db"]))), timeout_seconds)
        except BaseException:
            connection.close()
            raise
        return connection

    async def call(self, command: bytes, timeout_seconds: float) -> Any:
        """Send one packed command and return its reply; on any failure, drop the connection."""
        if self.closed or self._transport is None:
            raise ConnectionError("the Redis connection is closed")
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._transport.write(command)
        timer = loop.call_later(timeout_seconds, _expire, waiter, timeout_seconds)
        try:
            reply = await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            if message.startswith("NOSCRIPT"):
                raise NoScriptError(message)
            raise ResponseError(message)
        return reply

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            reply = self._reader.gets()
        except hiredis.ProtocolError as exc:
            waiter.set_exception(ConnectionError(f"Redis sent an invalid reply: {exc}"))
            self.close()
            return
        if reply is not False:
            waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("Redis closed the connection"))


def _expire(waiter: asyncio.Future[Any], seconds: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"Redis did not answer within {seconds:g} s"))
