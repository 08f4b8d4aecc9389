"""The widget stream's ASGI application: ``/v1/chat/stream`` (and ``/api/v1/…``, ``/chat``).

    OPTIONS (preflight) ─► 204 for an origin some live widget key lists, else 403
    POST ─► key (x-api-key | x-widget-api-key) ─► origin ─► body ─► turn ─► NDJSON stream

Routed by ``portal/asgi.py`` before Django, like the proxy: no middleware, no thread hop, and
no database on a warm call (the key's record, the account tree, the origin index and the
session's conversation all come from in-process and shared caches).

CORS. A browser's preflight carries an origin but never the key, so it is answered for any
origin that some live widget key lists (``origins.is_listed``), and refused otherwise. The
POST that follows carries the key and is held to that key's own origins: from any other
origin it is refused (403) before anything is read or counted, and the answer has no
``Access-Control-Allow-Origin``, so the page cannot read it either. A request without
``Origin`` is a program, not a browser: origins cannot bind it (it could send any), so the
key's rate limits and its account's quotas are what hold it, as for every widget key, whose
value is public in the pages that embed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from tenants.credentials import (
    CredentialError,
    TokenRecord,
    authenticate,
    record_allows_origin,
    record_allows_scope,
)
from tenants.proxy.errors import ProxyError
from tenants.proxy.wire import (
    ClientGone,
    DisconnectWatch,
    Message,
    Receive,
    Send,
    first_values,
    read_body,
)
from tenants.widget import origins
from tenants.widget.protocol import (
    INTERNAL_ERROR,
    NDJSON,
    ChatRequest,
    Headers,
    WidgetError,
    error_body,
    error_line,
    invalid,
    max_body_bytes,
    parse_chat_request,
    unauthorized,
)
from tenants.widget.turn import Started, chat_turn, encode

logger = logging.getLogger("tenants.widget")

SCOPE = "chat:stream"
KEY_HEADERS = ("x-api-key", "x-widget-api-key")
ALLOWED_HEADERS = b"content-type, x-api-key, x-widget-api-key"
EXPOSED_HEADERS = (
    b"Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Request-ID"
)
PREFLIGHT_MAX_AGE = b"600"
_VARY = (b"vary", b"Origin")
_NO_STORE = (b"cache-control", b"no-store")
_MAX_REQUEST_ID = 64

_KEY_PROBLEMS = {
    "missing": "send the widget key in the x-api-key header",
    "malformed": "this is not a widget key",
    "checksum": "this is not a widget key (it was mistyped or cut short)",
    "unknown": "the widget key is not valid",
    "revoked": "this widget key was revoked",
    "expired": "this widget key has expired",
}


async def widget_application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """ASGI entry point of the widget stream (HTTP only)."""
    headers = first_values(scope["headers"])
    origin = headers.get("origin")
    request_id = _request_id(headers)
    record: TokenRecord | None = None
    cors: Headers = [_VARY]  # what the answer to this browser carries
    try:
        if scope["method"] == "OPTIONS":
            await _preflight(send, origin)
            return
        if scope["method"] != "POST":
            raise WidgetError(405, "Method not allowed: use POST", [(b"allow", b"POST, OPTIONS")])
        record = await _authenticate(headers)
        cors = _cors_for_key(record, origin)  # from here on, the key's own origins decide
        try:
            body = await read_body(receive, headers.get("content-length"), max_body_bytes())
        except ProxyError as error:
            raise invalid(error.message) from None
        chat = parse_chat_request(body, headers.get("content-type", ""))
        await _stream(record, chat, receive, send, cors, request_id)
    except WidgetError as error:
        if record is None:
            cors = await _cors_before_key(origin)
        await _send_json(send, error.status, error.body(), [*error.headers, *cors], request_id)
    except ClientGone:
        return


# -- CORS --------------------------------------------------------------------------------------


def _allow(origin: str) -> Headers:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED_HEADERS),
    ]


async def _preflight(send: Send, origin: str | None) -> None:
    if origin is None:
        # Not a browser's preflight: say what the endpoint takes.
        await _send_empty(send, 204, [(b"allow", b"POST, OPTIONS")])
        return
    if not await origins.is_listed(origin):
        await _send_json(
            send, 403, error_body("This origin may not use the chat widget"), [_VARY], ""
        )
        return
    await _send_empty(
        send,
        204,
        [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"POST"),
            (b"access-control-allow-headers", ALLOWED_HEADERS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
            _VARY,
        ],
    )


async def _cors_before_key(origin: str | None) -> Headers:
    """Before the key is known (a 401 or 405): readable by a page whose origin some key lists,
    so the widget can say what is wrong."""
    if origin is not None and await origins.is_listed(origin):
        return [*_allow(origin), _VARY]
    return [_VARY]


def _cors_for_key(record: TokenRecord, origin: str | None) -> Headers:
    if origin is None:
        return [_VARY]
    if not record_allows_origin(record, origin):
        raise WidgetError(403, "This origin may not use this widget key")
    return [*_allow(origin), _VARY]


# -- the key -----------------------------------------------------------------------------------


async def _authenticate(headers: dict[str, str]) -> TokenRecord:
    raw = next((headers[name].strip() for name in KEY_HEADERS if headers.get(name)), "")
    try:
        record = await authenticate(raw)
    except CredentialError as error:
        problem = _KEY_PROBLEMS.get(error.reason, _KEY_PROBLEMS["unknown"])
        if error.reason == "wrong_secret" and "rotated" in error.message:
            problem = "this widget key was rotated: use its new value"
        raise unauthorized(problem) from None
    if record.kind != "widget" or not record_allows_scope(record, SCOPE):
        raise unauthorized("this is not a widget key (widget keys start with ppw_)")
    return record


# -- the stream --------------------------------------------------------------------------------


async def _stream(
    record: TokenRecord,
    chat: ChatRequest,
    receive: Receive,
    send: Send,
    cors: Headers,
    request_id: str,
) -> None:
    """The turn's events as NDJSON lines; refusals before the first line are ``WidgetError``."""
    watch = DisconnectWatch(receive)  # a visitor who leaves ends the upstream call at once
    started = False
    try:
        async with contextlib.aclosing(chat_turn(record, chat, request_id=request_id)) as turn:
            async for event in turn:
                if isinstance(event, Started):
                    await _start(send, [*cors, *event.headers], request_id)
                    started = True
                await _body(send, encode(event))
        watch.finishing()
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not watch.disconnected:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        logger.info("widget visitor left (key %s)", record.token_id)
    except WidgetError:
        raise
    except Exception:
        logger.exception("widget turn failed (key %s)", record.token_id)
        if not started:
            raise WidgetError(500, INTERNAL_ERROR) from None
        watch.finishing()
        await _body(send, error_line(INTERNAL_ERROR))
        await send({"type": "http.response.body", "body": b""})
    finally:
        watch.close()


async def _start(send: Send, headers: Headers, request_id: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", NDJSON),
                _NO_STORE,
                (b"x-accel-buffering", b"no"),
                (b"x-content-type-options", b"nosniff"),
                (b"x-request-id", request_id.encode("latin-1")),
                *headers,
            ],
        }
    )


async def _body(send: Send, line: bytes) -> None:
    await send({"type": "http.response.body", "body": line, "more_body": True})


async def _send_json(
    send: Send, status: int, body: bytes, headers: Headers, request_id: str
) -> None:
    extra = [(b"x-request-id", request_id.encode("latin-1"))] if request_id else []
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                _NO_STORE,
                *extra,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_empty(send: Send, status: int, headers: Headers) -> None:
    message: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(message)
    await send({"type": "http.response.body", "body": b""})


def _request_id(headers: dict[str, str]) -> str:
    # A load balancer's id when it sent a sane one (logs and usage line up), else our own.
    given = headers.get("x-request-id", "")
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable():
        return given
    return "w-" + secrets.token_hex(8)
