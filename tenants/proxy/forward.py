"""Forwarding: one upstream call as the acting account, its answer relayed as it arrives.

- Upstream: the partner's secret and ``X-RunAs-User-ID`` (portal/upstream sets both and refuses
  to take them from the caller); of the caller's headers only ``Accept`` and ``Content-Type``
  go on, and ``X-Timezone`` through the client's own check. Never cookies, never the portal
  token, never hop-by-hop headers, never ``Accept-Encoding`` (a compressed stream would have
  to be buffered to be relayed).
- JSON answers are read whole (they are single objects, and the upstream's slow-call quirk
  hides an error inside a 200 that only the body shows, UPSTREAM.md §2) and sent with a length.
- Everything else (JSONL completions and lists, channel subscriptions, SSE, CSV) is streamed:
  each upstream chunk goes out as soon as it arrives. JSONL and SSE are cut at line ends, so a
  client never holds half a line when a failure ends the stream with an ``error`` line.
- A client that leaves closes the upstream connection at once (``on_disconnect``, called by
  wire.DisconnectWatch) and cancels the request's task; leaving ``client.open()``'s block
  would close it too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from portal.upstream import UpstreamError, UpstreamStreamError, get_client
from portal.upstream.errors import is_error_body, status_for_code
from tenants.proxy.acting import Acting
from tenants.proxy.errors import ProxyError, encode_error
from tenants.proxy.wire import CORS_HEADERS, Headers, Request, Send, server_timing

logger = logging.getLogger("tenants.proxy")

# Caller headers that go upstream; everything else stays here.
_FORWARDED_REQUEST_HEADERS = ("accept", "content-type")
# Upstream headers that come back; the rest (its CORS, cookies, lengths, hop-by-hop) do not.
_RELAYED_RESPONSE_HEADERS = (
    "content-type",
    "x-failure-code",
    "retry-after",
    "cache-control",
    "content-disposition",
)
_LINE_FORMATS = ("application/jsonl", "application/x-ndjson", "application/x-jsonlines")
_SSE = "text/event-stream"
_NO_BUFFERING = (b"x-accel-buffering", b"no")
# A stream keeps no partial line longer than this while waiting for its end.
_MAX_PENDING_LINE = 16 * 1024 * 1024


@dataclass(slots=True)
class Outcome:
    """What the client received, for idempotency (and, later, metering)."""

    status: int
    content_type: str
    body: bytes | None  # the whole body when it was kept (see ``keep_up_to``), else None
    complete: bool  # False when the stream broke after it started


async def forward(
    request: Request,
    acting: Acting,
    body: bytes,
    send: Send,
    *,
    keep_up_to: int = 0,
    on_disconnect: Callable[[Callable[[], None]], None] | None = None,
) -> Outcome:
    """Call the upstream and relay its answer; ``keep_up_to`` > 0 keeps a copy of the body.

    ``on_disconnect`` is given the upstream response's ``close`` once the response has begun,
    for the caller to call the moment its client leaves.
    """
    headers = {
        name: request.headers[name]
        for name in _FORWARDED_REQUEST_HEADERS
        if name in request.headers
    }
    params = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
    client = get_client()
    sent_at = time.perf_counter()
    try:
        async with client.open(
            acting.connection,
            request.method,
            "/v1" + request.path,
            headers=headers,
            content=body if request.method == "POST" else None,
            params=params or None,
            run_as=acting.run_as,
            timezone=request.headers.get("x-timezone") or None,
            idempotent=False,
        ) as upstream:
            if on_disconnect is not None:
                on_disconnect(upstream.close)
            waited = time.perf_counter() - sent_at
            content_type = upstream.headers.get("Content-Type", "")
            relayed: Headers = [
                (name.encode(), value.encode("latin-1", "replace"))
                for name in _RELAYED_RESPONSE_HEADERS
                for value in upstream.headers.getall(name, ())
            ]
            status = upstream.status_code
            if _media_type(content_type) == "application/json" or status >= 300:
                return await _relay_whole(
                    request, status, content_type, relayed, await upstream.aread(), waited, send
                )
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        *relayed,
                        *CORS_HEADERS,
                        _NO_BUFFERING,
                        server_timing(request, waited),
                    ],
                }
            )
            return await _relay_stream(upstream.aiter_raw(), status, content_type, send, keep_up_to)
    except UpstreamError as error:
        # Before any byte went out: the upstream could not be reached, timed out, or broke
        # while we read a whole answer. The message names the upstream host, never a secret.
        raise ProxyError(error.status, error.message, error.code) from None


async def _relay_whole(
    request: Request,
    status: int,
    content_type: str,
    relayed: Headers,
    payload: bytes,
    waited: float,
    send: Send,
) -> Outcome:
    if (
        200 <= status < 300
        and _media_type(content_type) == "application/json"
        and b'"code"' in payload  # cheaper than parsing every answer to find out
    ):
        data = _loads_or_none(payload)
        if is_error_body(data):
            # The slow-call quirk: an error under a committed 200 gets the status of its code.
            status = status_for_code(data["code"])
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *relayed,
                (b"content-length", str(len(payload)).encode()),
                *CORS_HEADERS,
                server_timing(request, waited),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    return Outcome(status, content_type, payload, complete=True)


async def _relay_stream(
    chunks: AsyncIterator[bytes],
    status: int,
    content_type: str,
    send: Send,
    keep_up_to: int,
) -> Outcome:
    lines = _media_type(content_type) in (*_LINE_FORMATS, _SSE)
    kept: bytearray | None = bytearray() if keep_up_to else None
    pending = b""  # the start of a line whose end has not arrived yet
    complete = True
    try:
        async for chunk in chunks:
            if lines:
                data = pending + chunk if pending else chunk
                end = data.rfind(b"\n") + 1
                pending, chunk = data[end:], data[:end]
                if len(pending) > _MAX_PENDING_LINE:
                    raise UpstreamStreamError("The upstream sent an over-long stream line")
                if not chunk:
                    continue
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if kept is not None:
                kept += chunk
                if len(kept) > keep_up_to:
                    kept = None
        if pending:
            await send({"type": "http.response.body", "body": pending, "more_body": True})
            if kept is not None:
                kept += pending
    except UpstreamStreamError as error:
        if not lines:
            # This format has no way to say it: returning without finishing the response makes
            # the server cut the connection, which the client sees as a truncated body.
            logger.warning("stream cut by the upstream: %s", error.message)
            return Outcome(status, content_type, None, complete=False)
        complete = False
        await send(
            {
                "type": "http.response.body",
                "body": _error_line(content_type, error.message, error.code),
                "more_body": True,
            }
        )
    await send({"type": "http.response.body", "body": b""})
    body = bytes(kept) if kept is not None and complete else None
    return Outcome(status, content_type, body, complete)


def _error_line(content_type: str, message: str, code: str) -> bytes:
    """The last line of a stream that broke after it started (UPSTREAM.md §2, §6.4)."""
    event = b'{"type":"error","data":' + encode_error(message, code) + b"}"
    if _media_type(content_type) == _SSE:
        return b"\nevent: error\ndata: " + event + b"\n\n"
    return event + b"\n"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _loads_or_none(payload: bytes) -> Any:
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        return None
