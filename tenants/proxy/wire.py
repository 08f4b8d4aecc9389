"""ASGI plumbing of the proxy: the request as it arrived, and the few ways to answer.

Kept apart from the pipeline (app.py) so that it reads as decisions, not byte handling. Nothing
here knows about tokens or accounts.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tenants.proxy.errors import ProxyError, bad_request, not_found, too_large

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

# What the upstream sends on every answer (UPSTREAM.md §1); a browser program calling the portal
# with a tenant token sees the same CORS answer it would see from the upstream. The run-as
# headers are deliberately not allowed: run-as happens server-side.
CORS_HEADERS: Headers = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET,POST"),
    (
        b"access-control-allow-headers",
        b"X-Requested-With, Accept, Content-Length, Content-Type, Authorization",
    ),
]
JSON_CONTENT_TYPE = (b"content-type", b"application/json")

# The upstream's ids are cuids and aliases; its paths need nothing outside RFC 3986's
# unreserved characters and a few sub-delimiters. Everything else (percent-encodings included,
# which is how `%2e%2e` and `%2f` arrive) is refused before anything is decided, so a path can
# never mean one thing to the route table and another to the upstream.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~:@!$&'()*+,;=/-]*$")
_V1_PREFIX = re.compile(r"^/(?:api/)?v1(?=/)")


@dataclass(slots=True)
class Request:
    """The parts of the ASGI scope the proxy uses, decoded once."""

    method: str
    path: str  # the upstream-relative path: "/bot/list" for both /v1/bot/list and /api/v1/...
    query_string: bytes
    headers: dict[str, str]
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def from_scope(cls, scope: Scope) -> Request:
        return cls(
            method=scope["method"],
            path=upstream_path(scope),
            query_string=scope.get("query_string", b""),
            # ASGI servers lower-case header names. A repeated header keeps its first value:
            # the proxy reads only single-valued ones (authorization, run-as, content-type).
            headers=first_values(scope["headers"]),
        )


def first_values(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def upstream_path(scope: Scope) -> str:
    """The path below ``/v1``, or a 400/404 for anything that is not a plain API path.

    Checked on the raw bytes as sent (``raw_path``) and on the decoded path, so that neither an
    encoded slash or dot nor a server's decoding can smuggle a segment past the route table.
    """
    raw = scope.get("raw_path")
    raw_text = raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]
    for text in (raw_text, scope["path"]):
        if not _SAFE_PATH.match(text):
            raise bad_request("The path has characters the API does not use")
        if "//" in text or any(segment in {".", ".."} for segment in text.split("/")):
            raise bad_request("The path has empty or dot segments")
    path: str = scope["path"]
    match = _V1_PREFIX.match(path)
    if match is None:
        raise not_found()
    return path[match.end() :]


async def read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The whole request body, refusing (413) as soon as it passes ``limit`` bytes."""
    if declared is not None:
        if not declared.isdigit():
            raise bad_request("Content-Length is not a number")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The POST body as the upstream requires it: empty, or a JSON object (UPSTREAM.md §1)."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request('"value" must be of type object')
    return value


class ClientGone(Exception):
    """The client disconnected; there is nobody left to answer."""


async def send_error(send: Send, error: ProxyError, extra: Headers) -> None:
    await send_json(send, error.status, error.body(), [*error.headers, *extra])


async def send_json(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                JSON_CONTENT_TYPE,
                (b"content-length", str(len(body)).encode()),
                *CORS_HEADERS,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def server_timing(request: Request, upstream_seconds: float = 0.0) -> tuple[bytes, bytes]:
    """``Server-Timing: portal;dur=<ms>``: the portal's own time, without the upstream's."""
    portal_ms = (time.perf_counter() - request.started - upstream_seconds) * 1000
    value = f"portal;dur={portal_ms:.2f}"
    if upstream_seconds:
        value += f", upstream;dur={upstream_seconds * 1000:.2f}"
    return (b"server-timing", value.encode())


class DisconnectWatch:
    """Cancels the request's task when the client goes away, so the upstream call ends at once.

    An ASGI server does not tell a handler that is busy waiting on the upstream that its client
    left (uvicorn's ``send`` silently drops writes to a closed connection); only ``receive``
    says so. One small task per forwarded call waits on it. Start it only after the request body
    has been read: it consumes ``receive``.

    ``on_disconnect`` callbacks run first, in the watcher itself: forward.py closes the upstream
    connection there, so that when many clients leave at once (every tab of a crashed browser,
    a load balancer restarting) each upstream request is closed within the loop iteration that
    heard its client go, rather than after the cancellation of every request before it has
    unwound (measured by bench/gateway's disconnect storm).
    """

    def __init__(self, receive: Receive) -> None:
        self.disconnected = False
        self._done = False
        self._callbacks: list[Callable[[], None]] = []
        self._task = asyncio.current_task()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        # Servers also report "disconnect" once the response is complete; that is no reason
        # to cancel anything.
        if not self._done and self._task is not None:
            self.disconnected = True
            for callback in self._callbacks:
                callback()
            self._task.cancel()

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (before the cancellation) if the client leaves."""
        self._callbacks.append(callback)

    def finishing(self) -> None:
        """Call before sending the last body message."""
        self._done = True

    def close(self) -> None:
        self._done = True
        if not self._watcher.done():
            # Not cancelled at once: uvicorn answers a waiting receive() with "disconnect" as
            # soon as the response is complete, so the watcher is usually about to end on its
            # own. A cancelled watcher keeps a CancelledError whose traceback holds this object,
            # the call's closures and the server's request cycle in a reference cycle: some 36
            # objects per call left to the collector, whose young-generation passes then took
            # 5-10 ms at 300 new streams/s (bench/gateway S3). Cancelled on the next turn only
            # if it is still waiting (another server, a client that never says goodbye).
            asyncio.get_running_loop().call_soon(_cancel_if_waiting, self._watcher)


def _cancel_if_waiting(watcher: asyncio.Task[None]) -> None:
    if not watcher.done():
        watcher.cancel()
