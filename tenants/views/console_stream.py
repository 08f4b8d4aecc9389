"""What the console's two streams share: SSE framing, a turn's events as htmx swaps, its end.

A turn on the page (``templates/console/_turn.html``) opens one ``EventSource`` (htmx's SSE
extension) and listens for:

- ``token``: a piece of the reply, HTML-escaped, appended to the reply bubble;
- ``token-reset``: empty the bubble (a job's stream replays from its start on a fresh
  connection, so what a previous connection appended must go first);
- ``turn-end``: the end of the turn, which also closes the source (``sse-close``): the status
  line or the card of what went wrong, and out-of-band swaps of the final reply, the
  conversation id the next turn continues, and the quota meter.

A page turn's stream and a job's stream differ only in where the events come from (the
upstream through ``run_turn``, or the job's channel); both go through ``TurnStream``.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from tenants.limits.periods import zone
from tenants.models import Account
from tenants.views.http import HtmxHttpRequest, upstream_host
from tenants.views.usage import period_quotas

# Browsers reconnect after this long when a stream drops (the SSE ``retry`` field).
RETRY_MS = 2000
KEEPALIVE = b": keep-alive\n\n"
Event = dict[str, Any]


def sse(event: str, data: str = "", *, event_id: str | None = None) -> bytes:
    """One SSE message; ``data`` may span lines (each becomes a ``data:`` line)."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    text = data.replace("\r\n", "\n").replace("\r", "\n")
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def sse_cursor(event_id: str) -> bytes:
    """Moves the browser's Last-Event-ID past an event the page does not show."""
    return f"id: {event_id}\n\n".encode()


def sse_response(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_with_retry(events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # Reverse proxies (nginx) would otherwise buffer the stream and deliver it at the end.
    response["X-Accel-Buffering"] = "no"
    return response


async def _with_retry(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    async for chunk in events:
        yield chunk


@dataclass
class TurnStream:
    """A turn's events turned into SSE messages, and what its end needs to know."""

    dom_id: str
    bot_id: str = ""  # the conversation's bot, for the next turn's form
    streamed: list[str] = field(default_factory=list)
    conversation_id: str = ""
    end: Event | None = None

    def feed(self, event: Event, *, event_id: str | None = None) -> bytes | None:
        kind = event.get("type")
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        assert isinstance(data, dict)
        if kind == "token":
            piece = str(data.get("token") or "")
            self.streamed.append(piece)
            return sse("token", html.escape(piece), event_id=event_id)
        if kind == "conversation":
            self.conversation_id = str(data.get("id") or "")
        elif kind in ("result", "error", "abort"):
            self.end = event
        return sse_cursor(event_id) if event_id is not None else None

    def ended(self) -> bool:
        return self.end is not None


@dataclass(frozen=True)
class Problem:
    """Why a turn ended without an answer, as its card shows it."""

    title: str
    message: str
    code: str
    status: int | None
    limit: dict[str, Any] | None = None
    limit_level: str = ""  # whose limit: a name, "your provider", or "this credential"
    resets: str = ""  # when, in the account's time zone


def problem_of(error: Event, account: Account, names: dict[str, str]) -> Problem:
    """The card for an ``error`` event (``tenants.console.calls.problem_event`` or the
    upstream's own mid-stream error). ``names``: public id → name of the accounts shown."""
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    assert isinstance(data, dict)
    status = data.get("status") if isinstance(data.get("status"), int) else None
    code = str(data.get("code") or "")
    message = str(data.get("message") or "")
    limit = data.get("limit") if isinstance(data.get("limit"), dict) else None
    if limit is not None:
        level = (
            "this credential's own rate"
            if "token" in limit
            else names.get(str(limit.get("account")), "your provider")
        )
        return Problem(
            title=f"Limit reached: {limit.get('name', 'a limit')}",
            message=message,
            code=code,
            status=status,
            limit=limit,
            limit_level=level,
            resets=_reset_label(limit.get("resetAt"), account.timezone),
        )
    if status in (502, 503, 504):
        title = f"The upstream at {upstream_host(account)} did not answer"
    elif status is None:
        title = "The answer broke off"
    elif status == 429:
        title = "The upstream refused: limits reached"
    elif status in (401, 403, 404):
        title = "Refused"
    else:
        title = f"The upstream answered {status}"
    return Problem(title=title, message=message, code=code, status=status)


def _reset_label(reset_ms: Any, timezone_name: str) -> str:
    """``1 December 2026 00:00 Europe/Paris``; with seconds for a rate's window."""
    if not isinstance(reset_ms, int | float) or isinstance(reset_ms, bool):
        return ""
    at = datetime.fromtimestamp(reset_ms / 1000, tz=zone(timezone_name))
    if at.timestamp() - timezone.now().timestamp() < 3600:
        return f"{at:%H:%M:%S} {timezone_name}"
    return f"{at.day} {at:%B %Y %H:%M} {timezone_name}"


def turn_end_context(
    request: HtmxHttpRequest,
    stream: TurnStream,
    account: Account,
    *,
    correlation_id: str,
    in_console: bool,
    job: Any = None,
) -> dict[str, Any]:
    """What ``console/_turn_end.html`` shows (synchronous: the meter reads the database)."""
    quotas = period_quotas(request, account, now=timezone.now())
    names = {ancestor.public_id: ancestor.name for ancestor in quotas["lineage"]}
    names[account.public_id] = account.name
    end = stream.end or {}
    data = end.get("data") if isinstance(end.get("data"), dict) else {}
    context = {
        **quotas,
        "dom_id": stream.dom_id,
        "account": account,
        "kind": end.get("type", "error"),
        "result": data if end.get("type") == "result" else None,
        "problem": problem_of(end, account, names) if end.get("type") == "error" else None,
        "partial": "".join(stream.streamed),
        "conversation_id": stream.conversation_id,
        "correlation_id": correlation_id,
        "in_console": in_console,
        "job": job,
        "bot": stream.bot_id,
    }
    return context


def render_turn_end(
    request: HtmxHttpRequest, stream: TurnStream, account: Account, **options: Any
) -> bytes:
    """The ``turn-end`` message: how it ended, the final reply, the conversation, the meter.
    Synchronous (the meter and the page's context read the database); ``options`` are
    ``turn_end_context``'s."""
    context = turn_end_context(request, stream, account, **options)
    return sse("turn-end", render_to_string("console/_turn_end.html", context, request))
