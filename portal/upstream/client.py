"""``UpstreamClient``: the one place that sends HTTP to the upstream.

The portal's own calls (``request_json``, ``stream_events``: retries, JSON, events) go through a
bare ``aiohttp.ClientSession``: bench/results/outbound-client.md measured it at 2-3x the
throughput of httpx over aiohttp's pool and 10-50x httpx's own pool at 50-200 requests in
flight, with a flat p99. The proxy's relay (``open``) goes through ``http1.Pool``, a keep-alive
HTTP/1.1 transport that does only what a relay needs (see http1/ for what it costs and what
it leaves out). One client per event loop, because connections belong to the loop that opened
them; ``registry.get_client()`` hands out the right one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, Self

import aiohttp
from multidict import CIMultiDict

from . import http1, wire
from .config import (
    RetryPolicy,
    Timeouts,
    UpstreamConnection,
    max_connections_from_settings,
    origin_of,
)
from .errors import (
    UpstreamError,
    UpstreamHTTPError,
    UpstreamStreamError,
    error_from_body,
    error_from_response,
    is_error_body,
    parse_retry_after,
)
from .streaming import UpstreamResponse, iter_events

# Every module of this package logs here: the secret-masking filter sits on this logger
# (see __init__.py), and a logger's filters do not apply to its children.
logger = logging.getLogger("portal.upstream")


class UpstreamClient:
    """Pooled async client. Create one per event loop (``get_client()`` does); ``aclose()`` it."""

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int | None = None,
    ):
        self.timeouts = timeouts or Timeouts.from_settings()
        self.retry = retry or RetryPolicy()
        self._max_connections = max_connections or max_connections_from_settings()
        self._session: aiohttp.ClientSession | None = None
        self._pool: http1.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Set by registry.get_client(): the async generator whose closing at loop shutdown
        # closes this client. Held here because the loop only keeps a weak reference.
        self.shutdown_hook: AsyncGenerator[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        self._closed = True
        if self._pool is not None:
            await self._pool.aclose()
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- the three ways to call -------------------------------------------------------------

    async def request_json(
        self,
        conn: UpstreamConnection,
        method: str,
        path: str,
        *,
        params: wire.Params | None = None,
        json: Any = None,
        run_as: str | None = None,
        timezone: str | None = None,
        idempotent: bool | None = None,
        timeouts: Timeouts | None = None,
    ) -> Any:
        """One JSON call: the parsed body, ``None`` for an empty one, or an ``UpstreamError``."""
        method = method.upper()
        timeouts = timeouts or self.timeouts
        headers = wire.build_headers(conn, accept=wire.JSON, run_as=run_as, timezone=timezone)
        body = wire.json_body(method, json, headers)
        response = await self._send(
            conn,
            method,
            path,
            params=params,
            headers=headers,
            data=body,
            timeouts=timeouts,
            idempotent=idempotent,
            retry_statuses=self.retry.statuses,
        )
        payload = await wire.read_body(response, conn, timeouts)
        if not 200 <= response.status < 300:
            raise error_from_response(
                status=response.status, body=payload, headers=response.headers, host=conn.host
            )
        if not payload:
            return None
        try:
            data = jsonlib.loads(payload)
        except ValueError:
            raise UpstreamHTTPError(
                f"The upstream at {conn.host} answered with something that is not JSON",
                code="BAD_GATEWAY",
                status=502,
            ) from None
        if is_error_body(data):
            # The slow-call quirk (UPSTREAM.md §2): an error written under a committed 200.
            raise error_from_body(data)
        return data

    async def stream_events(
        self,
        conn: UpstreamConnection,
        method: str,
        path: str,
        *,
        params: wire.Params | None = None,
        json: Any = None,
        run_as: str | None = None,
        timezone: str | None = None,
        idempotent: bool | None = None,
        timeouts: Timeouts | None = None,
    ) -> AsyncGenerator[dict[str, Any]]:
        """Parsed JSONL events, each as soon as its line arrives.

        Raises ``UpstreamHTTPError`` (on the first iteration) if the call fails before the
        stream starts, and ``UpstreamStreamError`` if it breaks later. An ``{"type": "error"}``
        event is NOT yielded: it is raised as ``UpstreamStreamError`` carrying the event in
        ``.event``, so there is one way to see a failure and a loop cannot run past it. ``ping``
        and ``nop`` keep-alives ARE yielded (a proxy may want to relay them); skip unknown
        types. Channel ``subscribe`` streams never end by themselves and wrap events in
        ``message`` envelopes (§7): stop on the inner ``result``/``error`` yourself.

        Breaking out of the loop releases the connection once the generator is finalised;
        ``contextlib.aclosing()`` around the call makes that immediate.
        """
        method = method.upper()
        timeouts = timeouts or self.timeouts
        headers = wire.build_headers(conn, accept=wire.JSONL, run_as=run_as, timezone=timezone)
        # Compression would make a proxy in between buffer tokens; the stream is small anyway.
        headers["Accept-Encoding"] = "identity"
        body = wire.json_body(method, json, headers)
        response = await self._send(
            conn,
            method,
            path,
            params=params,
            headers=headers,
            data=body,
            timeouts=timeouts,
            idempotent=idempotent,
            retry_statuses=self.retry.statuses,
        )
        events = iter_events(response, host=conn.host, read_timeout=timeouts.read)
        try:
            if not 200 <= response.status < 300:
                payload = await wire.read_body(response, conn, timeouts)
                raise error_from_response(
                    status=response.status, body=payload, headers=response.headers, host=conn.host
                )
            if response.content_type == wire.JSON:
                # A JSON answer to a stream request: the slow-call quirk, or an error.
                payload = await wire.read_body(response, conn, timeouts)
                data = wire.loads_or_none(payload)
                if is_error_body(data):
                    raise error_from_body(data)
                raise UpstreamStreamError(
                    f"The upstream at {conn.host} answered with JSON instead of a JSONL stream"
                )
            async for event in events:
                if event.get("type") == "error":
                    raise wire.error_event(event, conn.host)
                yield event
        finally:
            await events.aclose()
            wire.finish(response)

    @contextlib.asynccontextmanager
    async def open(
        self,
        conn: UpstreamConnection,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: wire.Params | None = None,
        run_as: str | None = None,
        timezone: str | None = None,
        idempotent: bool | None = None,
        timeouts: Timeouts | None = None,
    ) -> AsyncIterator[UpstreamResponse]:
        """The raw response, for the proxy: any status, body not yet read.

        Error statuses are not raised (the proxy relays them); transport failures are, as
        ``UpstreamUnavailable``/``UpstreamTimeout`` before the headers and
        ``UpstreamStreamError`` while reading. Leaving the block before the body is fully read
        closes the upstream connection at once (a client disconnect must stop the upstream
        work); a fully read response goes back to the pool. The caller's ``headers`` cannot
        override credentials, run-as or hop-by-hop headers.
        """
        method = method.upper()
        timeouts = timeouts or self.timeouts
        request_headers = wire.build_headers(
            conn, accept=None, run_as=run_as, timezone=timezone, extra=headers
        )
        request_headers.setdefault("Accept-Encoding", "identity")
        request_headers["User-Agent"] = wire.USER_AGENT
        target = wire.target(conn, path, params)
        pool = self._pool_for_running_loop()
        started = time.perf_counter()
        try:
            response = await pool.request(
                origin_of(conn.base_url),
                method,
                target,
                list(request_headers.items()),
                content,
                connect_timeout=timeouts.connect,
                pool_timeout=timeouts.pool,
                read_timeout=timeouts.read,
            )
        except (OSError, TimeoutError) as exc:  # ConnectionError is an OSError
            error, _ = _transport_failure(exc, conn, timeouts, method, path, started)
            raise error from exc
        wrapped = UpstreamResponse(response, host=conn.host, read_timeout=timeouts.read)
        try:
            yield wrapped
        finally:
            wrapped.close()

    # --- internals --------------------------------------------------------------------------

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise RuntimeError("this UpstreamClient is closed; call get_client() again")
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "an UpstreamClient is bound to the event loop that first used it; "
                "call get_client() inside each loop"
            )

    def _pool_for_running_loop(self) -> http1.Pool:
        self._bind_loop()
        if self._pool is None:
            self._pool = http1.Pool(max_connections=self._max_connections)
        return self._pool

    def _session_for_running_loop(self) -> aiohttp.ClientSession:
        self._bind_loop()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                timeout=self.timeouts.for_aiohttp(),
                # Never share cookies between partners (or between anything at all).
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": wire.USER_AGENT},
            )
        return self._session

    async def _send(
        self,
        conn: UpstreamConnection,
        method: str,
        path: str,
        *,
        params: wire.Params | None,
        headers: CIMultiDict[str],
        data: bytes | None,
        timeouts: Timeouts,
        idempotent: bool | None,
        retry_statuses: frozenset[int],
    ) -> aiohttp.ClientResponse:
        """Send with retries; return the response once its headers are in (body unread)."""
        session = self._session_for_running_loop()
        url = conn.url_for(path)
        query = wire.query(params)
        if idempotent is None:
            idempotent = method in {"GET", "HEAD"}
        attempts = self.retry.attempts if idempotent else 1
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                # aiohttp's read timer starts only after the body is sent; this bounds a
                # stalled upload (see Timeouts).
                async with asyncio.timeout(timeouts.until_headers):
                    response = await session.request(
                        method,
                        url,
                        params=query,
                        headers=headers,
                        data=data,
                        timeout=timeouts.for_aiohttp(),
                        allow_redirects=False,
                    )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error, retryable = _transport_failure(exc, conn, timeouts, method, path, started)
                if retryable and attempt < attempts:
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
                raise error from exc
            # DEBUG: one line per proxied call would put a synchronous write on the hot path;
            # failures and retries are logged above and below at WARNING.
            logger.debug(
                "upstream %s %s -> %s in %.0f ms", method, path, response.status, _ms(started)
            )
            if response.status in retry_statuses and attempt < attempts:
                delay = await self._status_retry_delay(response, attempt)
                if delay is not None:
                    logger.warning(
                        "upstream %s %s -> %s, retrying in %.2f s (attempt %d of %d)",
                        method,
                        path,
                        response.status,
                        delay,
                        attempt + 1,
                        attempts,
                    )
                    response.release()
                    await asyncio.sleep(delay)
                    continue
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _status_retry_delay(
        self, response: aiohttp.ClientResponse, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying this response, or None not to retry it."""
        try:
            # Read the (small) error body: it says whether a 429 is worth retrying, and a
            # read body lets the connection go back to the pool. aiohttp keeps it for a
            # later read() if we do not retry.
            data = wire.loads_or_none(await response.read())
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None
        code = data.get("code") if isinstance(data, dict) else None
        if "LIMITS_REACHED" in {code, response.headers.get("X-Failure-Code")}:
            return None  # plan or child limits do not clear in a few seconds
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            return self.retry.delay(attempt)
        return retry_after if retry_after <= self.retry.max_retry_after else None


def _transport_failure(
    exc: BaseException,
    conn: UpstreamConnection,
    timeouts: Timeouts,
    method: str,
    path: str,
    started: float,
) -> tuple[UpstreamError, bool]:
    """``wire.transport_error``, logged (method, path, time and code; never a secret)."""
    error, retryable = wire.transport_error(exc, conn, timeouts)
    logger.warning(
        "upstream %s %s failed after %.0f ms: %s (%s)",
        method,
        path,
        _ms(started),
        error.code,
        type(exc).__name__,
    )
    return error, retryable


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
