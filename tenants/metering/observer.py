"""What one proxied call used, read from what the client was sent.

``UsageMeter`` sits at the proxy's ASGI boundary (``tenants/proxy/app.py`` wraps ``send`` and
``receive`` with it), so it sees exactly what the client got, line for line as ``forward.py``
relays it (JSONL is relayed cut at line ends, so every body message holds whole lines), and
hears the client leave. Nothing is buffered: the meter keeps a few counters.

Which number is "tokens" (what quotas and bills count): the upstream's **billing tokens**, the
``usage.token`` of the ``result`` event (or ``receiveResult`` when the stream stopped between
the two) or of a JSON answer (UPSTREAM.md §5, §11.9). When none arrived, ``tokens`` is an
estimate and ``estimated`` is true:

1. the raw model counts of the stream's ``usage`` events (``inputTokensUsed +
   outputTokensUsed``, summed over iterations), i.e. billing ratios of 1; else
2. the number of ``token``/``reasoningToken`` events relayed (one model token each), for a
   completion that was cut before the upstream reported anything; else 0.

Messages and conversations are what the call was admitted for
(``tenants.limits.policy.cost_of``: the upstream's own units, e.g. two messages for a stateful
turn that sends text): a successful call records that cost; a refused call or an idempotent
replay records none. A call that started streaming and was then cut (by either side) still
counts, with the tokens seen so far.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenants.limits.policy import Cost, cost_of

if TYPE_CHECKING:
    # Types only: the proxy imports this module, so importing the proxy here would be a cycle.
    from tenants.proxy.routes import Route
    from tenants.proxy.wire import Message, Receive, Send

# routes.Metering values (a StrEnum, so the route's value compares equal to these).
_NONE = "none"
# The routes whose answers are completions, read for the tokens they report.
_COMPLETIONS = ("stream", "stateful")

_LINE_FORMATS = (b"application/jsonl", b"application/x-ndjson", b"application/x-jsonlines")
_SSE = b"text/event-stream"
_JSON = b"application/json"
_TOKEN_LINE = b'{"type":"token",'
_READ_NOTHING, _READ_JSON, _READ_LINES = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Usage:
    """The final numbers of one call. ``settle`` of the limits code reads ``tokens``."""

    messages: int
    conversations: int
    tokens: int
    input_tokens: int
    output_tokens: int
    estimated: bool


class UsageMeter:
    """Counters for one call, fed by its ASGI messages. Create one per call."""

    __slots__ = (
        "_billed",
        "_billed_by_result",
        "_cost_conversations",
        "_cost_messages",
        "_format",
        "_input_tokens",
        "_output_tokens",
        "_saw_usage",
        "_token_events",
        "client_disconnected",
        "error_code",
        "finished",
        "metering",
        "replayed",
        "started",
        "status",
    )

    def __init__(self, metering: str = _NONE, cost: Cost | None = None) -> None:
        self.started = time.perf_counter()
        self.metering = metering  # the route's routes.Metering
        self.status = 0
        self.error_code = ""
        self.replayed = False
        self.finished = False
        self.client_disconnected = False
        self._format = _READ_NOTHING
        self._billed: int | None = None
        self._billed_by_result = False
        self._input_tokens = 0
        self._output_tokens = 0
        self._saw_usage = False
        self._token_events = 0
        self._cost_messages = 0
        self._cost_conversations = 0
        self._count(cost or cost_of(metering, {}))

    def expect(self, route: Route | None, cost: Cost | None = None) -> None:
        """How the call's usage counts: its route, and the cost it was admitted for."""
        self.metering = route.metering if route is not None else _NONE
        self._count(cost or cost_of(self.metering, {}))

    def _count(self, cost: Cost) -> None:
        self._cost_messages, self._cost_conversations = cost.messages, cost.conversations

    # -- the ASGI boundary ---------------------------------------------------------------------

    def watch(self, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """``receive`` and ``send`` that feed this meter on their way through."""

        async def receive_watched() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not self.finished:
                # Servers also say "disconnect" after a complete answer; only before counts.
                self.client_disconnected = True
            return message

        async def send_watched(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                if body and self._format:
                    self._read(body)
                if not message.get("more_body", False):
                    self.finished = True
            elif kind == "http.response.start":
                self._start(message["status"], message.get("headers", ()))
            await send(message)

        return receive_watched, send_watched

    def usage(self) -> Usage:
        """The call's usage so far; final once the call is over (however it ended)."""
        if self.replayed or not 200 <= self.status < 300:
            # Refused, failed before doing anything, or answered from the idempotency store.
            return Usage(0, 0, 0, self._input_tokens, self._output_tokens, estimated=False)
        messages, conversations = self._cost_messages, self._cost_conversations
        if self._billed is not None:
            tokens, estimated = self._billed, False
        elif self._saw_usage:
            tokens, estimated = self._input_tokens + self._output_tokens, True
        elif self.metering in _COMPLETIONS:
            tokens, estimated = self._token_events, True
        else:
            tokens, estimated = 0, False
        return Usage(
            messages, conversations, tokens, self._input_tokens, self._output_tokens, estimated
        )

    # -- reading -------------------------------------------------------------------------------

    def _start(self, status: int, headers: Any) -> None:
        self.status = status
        content_type = b""
        for name, value in headers:
            if name == b"content-type":
                content_type = value.split(b";", 1)[0].strip().lower()
            elif name == b"idempotent-replayed":
                self.replayed = True
            elif name == b"x-failure-code" and not self.error_code:
                self.error_code = value.decode("latin-1")[:64]
        # Bodies are read only where they can say something: usage on completions, the code
        # of an error. Lists, channels and files pass untouched.
        if self.metering not in _COMPLETIONS and status < 400:
            return
        if content_type == _JSON:
            self._format = _READ_JSON
        elif content_type in _LINE_FORMATS or content_type == _SSE:
            self._format = _READ_LINES

    def _read(self, body: bytes) -> None:
        if self._format == _READ_JSON:
            self._read_json(body)
            return
        for line in body.split(b"\n"):
            # Most lines of a completion are tokens, written compactly by the upstream: one
            # prefix test each (measured: the meter's cost is these lines).
            if line.startswith(_TOKEN_LINE):
                self._token_events += 1
            elif line:
                self._read_line(line)

    def _read_line(self, line: bytes) -> None:
        if line.startswith(b"data:"):  # SSE; its `event:` lines say nothing more
            line = line[5:].lstrip()
        if not line.startswith(b"{"):
            return
        # Only usage, results and errors are worth parsing.
        if b"sage" in line or b"esult" in line or b"rror" in line:
            self._read_event(line)
        elif b'"token"' in line:
            self._token_events += 1

    def _read_json(self, body: bytes) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if self.status >= 400:
            code = data.get("code")
            if isinstance(code, str) and not self.error_code:
                self.error_code = code[:64]
            return
        self._take_billed(data.get("usage"), final=True)

    def _read_event(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            return
        kind, data = event.get("type"), event["data"]
        if kind in ("token", "reasoningToken"):
            self._token_events += 1
        elif kind == "usage":
            self._saw_usage = True
            self._input_tokens += _count(data.get("inputTokensUsed"))
            self._output_tokens += _count(data.get("outputTokensUsed"))
        elif kind == "result":
            self._take_billed(data.get("usage"), final=True)
        elif kind == "receiveResult":
            # The same usage as the `result` that follows it; kept if the stream stops here.
            self._take_billed(data.get("usage"), final=False)
        elif kind == "error":
            code = data.get("code")
            if isinstance(code, str):
                self.error_code = code[:64]

    def _take_billed(self, usage: object, *, final: bool) -> None:
        if not isinstance(usage, dict) or self._billed_by_result:
            return
        token = usage.get("token")
        if isinstance(token, int) and not isinstance(token, bool) and token >= 0:
            self._billed = token
            self._billed_by_result = final


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
