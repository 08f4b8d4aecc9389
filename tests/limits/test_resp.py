"""The limiter's own Redis connection (tenants/limits/resp.py): wire format, handshake, failures.

The handshake and failure cases talk to a small server in the test that records what it is
sent; the reply cases talk to the real Redis when REDIS_URL is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import redis
from django.conf import settings
from redis.exceptions import NoScriptError, ResponseError

from tenants.limits.resp import RespConnection, pack

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def fake_redis(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def read_command(reader: asyncio.StreamReader) -> list[bytes]:
    header = await reader.readline()
    assert header.startswith(b"*"), header
    parts = []
    for _ in range(int(header[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert pack(("EVALSHA", "ab", 2, b"k\r\n", "é")) == (
        b"*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n2\r\n$3\r\nk\r\n\r\n$2\r\n\xc3\xa9\r\n"
    )


def test_it_authenticates_and_selects_the_database_of_the_url() -> None:
    seen: list[list[bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):
            seen.append(await read_command(reader))
            writer.write(b"+OK\r\n" if len(seen) < 3 else b":42\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> object:
        async with fake_redis(handler) as port:
            url = f"redis://bench:s3cret@127.0.0.1:{port}/3"
            connection = await RespConnection.open(url, 1.0)
            reply = await connection.call(pack(("INCR", "k")), 1.0)
            connection.close()
            return reply

    assert asyncio.run(scenario()) == 42
    assert seen == [[b"AUTH", b"bench", b"s3cret"], [b"SELECT", b"3"], [b"INCR", b"k"]]


def test_a_silent_server_times_out_and_a_closing_one_is_a_connection_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_command(reader)
        await asyncio.sleep(1)
        writer.close()

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_command(reader)
        writer.close()

    async def scenario(handler: Handler) -> BaseException:
        async with fake_redis(handler) as port:
            connection = await RespConnection.open(f"redis://127.0.0.1:{port}/0", 1.0)
            try:
                await connection.call(pack(("PING",)), 0.1)
            except Exception as error:  # the type is what is checked
                return error
            finally:
                connection.close()
        raise AssertionError("the call did not fail")

    assert isinstance(asyncio.run(scenario(silent)), TimeoutError)
    assert isinstance(asyncio.run(scenario(closing)), ConnectionError)


def test_a_refused_connection_is_an_os_error() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        await RespConnection.open(f"redis://127.0.0.1:{port}/0", 1.0)

    with pytest.raises(ConnectionRefusedError):
        asyncio.run(scenario())


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
def test_replies_and_error_replies_from_the_real_server() -> None:
    async def scenario() -> tuple[object, ...]:
        connection = await RespConnection.open(settings.REDIS_URL, 1.0)
        try:
            await connection.call(pack(("SET", "resp-test", "7")), 1.0)
            number = await connection.call(pack(("INCRBY", "resp-test", 5)), 1.0)
            script = await connection.call(pack(("EVAL", "return {1, 'a', {2}}", 0)), 1.0)
            with pytest.raises(NoScriptError):
                await connection.call(pack(("EVALSHA", "0" * 40, 0)), 1.0)
            with pytest.raises(ResponseError):
                await connection.call(pack(("INCRBY", "resp-test", "x")), 1.0)
            # An error reply is an answer: the connection goes on working.
            value = await connection.call(pack(("GET", "resp-test")), 1.0)
            return number, script, value
        finally:
            connection.close()

    assert asyncio.run(scenario()) == (12, [1, b"a", [2]], b"12")
    # It wrote to the database the URL names, as redis-py reads it.
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert client.get("resp-test") == b"12"
    finally:
        client.delete("resp-test")
        client.close()
