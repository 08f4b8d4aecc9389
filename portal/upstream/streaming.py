"""Reading upstream bodies as they arrive: JSONL lines for events, raw chunks for the proxy.

Both turn transport failures after the headers (a reset, a read timeout) into
``UpstreamStreamError``, so callers of ``stream_events`` and ``open`` see one exception type for
"the stream broke" whatever aiohttp raised.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from . import http1
from .errors import UpstreamStreamError

# A `result` event carries the whole reply text, so lines can be long; aiohttp's readline()
# stops at 64 KiB, hence our own splitting. The cap only stops a runaway upstream from
# filling memory.
MAX_LINE_BYTES = 16 * 1024 * 1024

# What aiohttp raises while reading a body: ClientPayloadError for an incomplete chunked body
# (a reset), ServerDisconnectedError / ClientOSError for a dropped socket, SocketTimeoutError
# (a TimeoutError) when sock_read expires.
STREAM_FAILURES = (aiohttp.ClientError, TimeoutError, ConnectionError)


def stream_failure(exc: BaseException, *, host: str, read_timeout: float) -> UpstreamStreamError:
    if isinstance(exc, TimeoutError):
        return UpstreamStreamError(
            f"The upstream at {host} sent nothing for {read_timeout:g} s in the middle of a stream",
            code="GATEWAY_TIMEOUT",
            status=504,
        )
    return UpstreamStreamError(
        f"The connection to the upstream at {host} broke in the middle of a stream",
        code="BAD_GATEWAY",
        status=502,
    )


async def iter_chunks(
    response: aiohttp.ClientResponse, *, host: str, read_timeout: float
) -> AsyncIterator[bytes]:
    """Chunks as they arrive (no waiting for a buffer to fill: tokens must flow at once)."""
    chunks = response.content.iter_any().__aiter__()
    while True:
        # Only the read is guarded: an exception thrown into this generator by its consumer
        # must not be mistaken for a transport failure.
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except STREAM_FAILURES as exc:
            raise stream_failure(exc, host=host, read_timeout=read_timeout) from exc
        yield chunk


async def iter_events(
    response: aiohttp.ClientResponse, *, host: str, read_timeout: float
) -> AsyncGenerator[dict[str, Any]]:
    """Parsed JSONL objects. Blank lines are skipped (the Go and Python SDKs do the same)."""
    buffer = bytearray()
    async for chunk in iter_chunks(response, host=host, read_timeout=read_timeout):
        buffer += chunk
        while (newline := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:newline])
            del buffer[: newline + 1]
            if line.strip():
                yield _parse_line(line, host=host)
        if len(buffer) > MAX_LINE_BYTES:
            raise UpstreamStreamError(f"The upstream at {host} sent an over-long stream line")
    # A last line without its newline still counts: EOF ends it.
    if bytes(buffer).strip():
        yield _parse_line(bytes(buffer), host=host)


def _parse_line(line: bytes, *, host: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise UpstreamStreamError(
            f"The upstream at {host} sent a stream line that is not an object"
        )
    return event


async def relay_chunks(
    response: http1.Response, *, host: str, read_timeout: float
) -> AsyncIterator[bytes]:
    """``iter_chunks`` for the relay's transport (http1/)."""
    while True:
        try:
            chunk = await response.read_chunk()
        except STREAM_FAILURES as exc:
            raise stream_failure(exc, host=host, read_timeout=read_timeout) from exc
        if chunk is None:
            return
        yield chunk


class UpstreamResponse:
    """A response whose body has not been read: what ``UpstreamClient.open()`` yields.

    Names follow httpx (``status_code``, ``aiter_raw``) so that the proxy reads naturally.
    ``headers`` is a case-insensitive multidict: ``.items()`` keeps repeated headers.
    Bytes are as the upstream sent them after transfer decoding; ``open()`` asks for
    ``Accept-Encoding: identity`` unless told otherwise, so they are also content-decoded.
    """

    __slots__ = ("_host", "_read_timeout", "_response")

    def __init__(self, response: http1.Response, *, host: str, read_timeout: float):
        self._response = response
        self._host = host
        self._read_timeout = read_timeout

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def reason(self) -> str:
        return self._response.reason

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._response.headers

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return relay_chunks(self._response, host=self._host, read_timeout=self._read_timeout)

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_raw()])

    def close(self) -> None:
        """Give the connection back if the body was read to the end, otherwise drop it.

        Dropping closes the socket at once, which is how a client disconnect reaches the
        upstream: it stops generating instead of streaming into a dead connection.
        """
        self._response.close()
