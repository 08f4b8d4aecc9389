"""How requests and failures look on the wire: headers, bodies, and exception mapping.

Package-internal helpers of client.py, kept apart so that the client reads as the call flow.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict

from . import http1
from .config import Timeouts, UpstreamConnection, check_run_as, check_timezone
from .errors import (
    UpstreamError,
    UpstreamStreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    status_for_code,
)

JSON = "application/json"
JSONL = "application/jsonl"
USER_AGENT = "partner-portal"

# Headers a proxied request may not choose: they belong to this hop (RFC 9110 §7.6.1), are
# recomputed by aiohttp, or decide whose credentials and identity are used upstream.
NOT_FROM_CALLER = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "x-runas-user-id",
        "x-runas-userid",
        "x-runas-child-user-email",
        "x-timezone",
    }
)

ParamValue = str | int | float | bool
Params = Mapping[str, ParamValue | None] | Sequence[tuple[str, ParamValue]]


def build_headers(
    conn: UpstreamConnection,
    *,
    accept: str | None,
    run_as: str | None,
    timezone: str | None,
    extra: Mapping[str, str] | None = None,
) -> CIMultiDict[str]:
    """Credentials, run-as and time zone are never the caller's; ``accept``, if given, wins."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in (extra or {}).items():
        if name.lower() not in NOT_FROM_CALLER:
            headers.add(name, value)
    headers["Authorization"] = f"Bearer {conn.secret}"
    if accept is not None:
        headers["Accept"] = accept
    if run_as is not None:
        headers["X-RunAs-User-ID"] = check_run_as(run_as)
    if timezone is not None:
        headers["X-Timezone"] = check_timezone(timezone)
    return headers


def transport_error(
    exc: BaseException, conn: UpstreamConnection, timeouts: Timeouts
) -> tuple[UpstreamError, bool]:
    """The exception for a failure before the response headers, and whether a retry may help.

    A read timeout is not retried: the upstream may still be working on the call, and a
    retry would multiply the wait. Everything else means the request never got an answer.
    """
    host = conn.host
    # Both transports: the relay's (http1) and aiohttp's. The specific types come before the
    # built-in ones they derive from (TimeoutError, OSError).
    if isinstance(exc, http1.ConnectTimeout | aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout(f"Timed out connecting to the upstream at {host}"), True
    if isinstance(exc, http1.PoolTimeout):
        message = f"No connection to the upstream at {host} was free within {timeouts.pool:g} s"
        return UpstreamTimeout(message), False
    if isinstance(exc, http1.ReadTimeout | aiohttp.SocketTimeoutError):
        message = f"The upstream at {host} did not answer within {timeouts.read:g} s"
        return UpstreamTimeout(message), False
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(
            f"The upstream at {host} did not answer within {timeouts.until_headers:g} s"
        ), False
    if isinstance(exc, http1.ConnectError | aiohttp.ClientConnectorError):
        return UpstreamUnavailable(f"Could not connect to the upstream at {host}"), True
    if isinstance(exc, http1.InvalidResponse):
        return UpstreamUnavailable(f"The upstream at {host} sent an invalid response"), False
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        message = f"The upstream at {host} closed the connection without answering"
        return UpstreamUnavailable(message), True
    return UpstreamUnavailable(f"The upstream at {host} sent an invalid response"), False


async def read_body(
    response: aiohttp.ClientResponse, conn: UpstreamConnection, timeouts: Timeouts
) -> bytes:
    try:
        return await response.read()
    except TimeoutError as exc:
        response.close()
        raise UpstreamTimeout(
            f"The upstream at {conn.host} stopped sending for {timeouts.read:g} s"
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        response.close()
        raise UpstreamUnavailable(
            f"The connection to the upstream at {conn.host} broke while reading the answer"
        ) from exc


def finish(response: aiohttp.ClientResponse) -> None:
    # Reuse the connection only if the body was read to the end; otherwise the upstream may
    # still be writing into it, so drop it (this also stops the upstream work).
    if response.content.at_eof():
        response.release()
    else:
        response.close()


def error_event(event: Mapping[str, Any], host: str) -> UpstreamStreamError:
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    code = data.get("code") if isinstance(data.get("code"), str) else None
    message = data.get("message") if isinstance(data.get("message"), str) else None
    # Channel workers send errors without a code (§7); GENERIC_ERROR is the upstream's own.
    return UpstreamStreamError(
        message or f"The upstream at {host} reported an error in the stream",
        code=code or "GENERIC_ERROR",
        status=status_for_code(code) if code else 502,
        event=event,
    )


def json_body(method: str, json: Any, headers: CIMultiDict[str]) -> bytes | None:
    # Every upstream POST needs a JSON body, even deletes (`{}`), or it answers 400 (§1).
    if json is None and method != "POST":
        return None
    headers["Content-Type"] = JSON
    return jsonlib.dumps({} if json is None else json, separators=(",", ":")).encode()


def query(params: Params | None) -> list[tuple[str, str]] | None:
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    query: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        # The upstream reads "true"/"false" (§9); aiohttp refuses bools outright.
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        query.append((key, text))
    return query


def target(conn: UpstreamConnection, path: str, params: Params | None) -> str:
    """The request target (path under the base URL, and query) of a relayed call."""
    raw_path: str = conn.url_for(path).raw_path
    pairs = query(params)
    return f"{raw_path}?{urlencode(pairs)}" if pairs else raw_path


def loads_or_none(payload: bytes) -> Any:
    try:
        return jsonlib.loads(payload) if payload else None
    except ValueError:
        return None
