"""Event streams: JSONL/SSE framing, token pacing, pings, stream faults and client aborts.

A completion is a list of events planned up front (see `engine.py` and `conversations.py`);
`play` sends it at the configured pace through a sink: the HTTP response (JSONL or SSE), a
collector for `Accept: application/json`, or a channel for background dispatch.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from portal.sandbox.context import Ctx, Fault, Sandbox, log
from portal.sandbox.store import JsonObject, now_ms

Emit = Callable[[JsonObject], Awaitable[None]]
# Keep-alives carry no date; everything the engine emits does (UPSTREAM.md §6.4).
_UNDATED = frozenset({"ping", "nop", "item"})


class StreamAborted(Exception):
    """The peer went away, or a `reset_mid_stream` fault cut the connection on purpose."""


def encode(event: JsonObject, form: str) -> bytes:
    # Compact separators and no embedded newlines: a blank or split line breaks the Node SDK's
    # JSONL parser, so every event must be exactly one line.
    line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    if form == "sse":
        return f"event: {event.get('type', 'message')}\ndata: {line}\n\n".encode()
    return (line + "\n").encode()


class HttpSink:
    """Writes events to a streamed HTTP response."""

    def __init__(self, ctx: Ctx, form: str) -> None:
        self.request = ctx.request
        self.form = form
        content_type = "text/event-stream" if form == "sse" else "application/jsonl"
        self.response = web.StreamResponse(
            headers={
                "Content-Type": f"{content_type}; charset=utf-8",
                "Cache-Control": "no-cache",
                # Tells buffering reverse proxies (nginx) to pass lines through as they come.
                "X-Accel-Buffering": "no",
            }
        )

    async def open(self) -> None:
        await self.response.prepare(self.request)

    async def emit(self, event: JsonObject) -> None:
        try:
            await self.response.write(encode(event, self.form))
        except ConnectionResetError as error:
            raise StreamAborted("client disconnected") from error

    def cut(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class _Pacer:
    """Sleeps between events, sending `ping` whenever the interval passes with nothing sent."""

    def __init__(self, sandbox: Sandbox, emit: Emit, pings: bool) -> None:
        self.sandbox = sandbox
        self.emit_raw = emit
        self.pings = pings
        self.loop = asyncio.get_running_loop()
        self.last_write = self.loop.time()

    async def emit(self, event: JsonObject) -> None:
        await self.emit_raw(event)
        self.last_write = self.loop.time()

    async def sleep(self, milliseconds: float) -> None:
        end = self.loop.time() + milliseconds / 1000
        while True:
            now = self.loop.time()
            interval = self.sandbox.config.ping_interval_ms / 1000
            next_ping = self.last_write + interval
            if self.pings and interval > 0 and next_ping < end:
                await asyncio.sleep(max(0.0, next_ping - now))
                await self.emit({"type": "ping", "data": {}})
                continue
            await asyncio.sleep(max(0.0, end - now))
            return


def _fault(faults: list[Fault], kind: str) -> Fault | None:
    return next((fault for fault in faults if fault.kind == kind), None)


def _as_number(params: JsonObject, key: str, default: float) -> float:
    value: Any = params.get(key, default)
    return float(value) if isinstance(value, int | float) else default


async def play(
    sandbox: Sandbox,
    script: list[JsonObject],
    emit: Emit,
    *,
    faults: list[Fault] | None = None,
    pings: bool = True,
    on_usage: Callable[[], None] | None = None,
    cut: Callable[[], None] | None = None,
) -> None:
    """Send `script` through `emit`, pacing tokens and applying stream faults.

    `on_usage` runs when the `usage` event goes out: the reply is stored and billed then, so a
    stream cut before that point leaves no bot message and no usage behind.
    """
    faults = faults or []
    pacer = _Pacer(sandbox, emit, pings)
    slow_first = _fault(faults, "slow_first_token")
    interrupt = _fault(faults, "reset_mid_stream") or _fault(faults, "stall")
    # The cut happens before the token after `afterTokens`, or before `result` for short replies.
    cut_after = _as_number(interrupt.params, "afterTokens", 3) if interrupt else math.inf
    tokens_sent = 0
    for event in script:
        is_token = event["type"] == "token"
        at_cut_point = is_token or event["type"] == "result"
        if interrupt is not None and at_cut_point and tokens_sent >= cut_after:
            await _interrupt(interrupt, cut)
        if is_token:
            if tokens_sent == 0 and slow_first is not None:
                await pacer.sleep(_as_number(slow_first.params, "ms", 1000))
            await pacer.sleep(sandbox.config.token_delay_ms)
            tokens_sent += 1
        if event["type"] == "usage" and on_usage is not None:
            on_usage()
        if event["type"] not in _UNDATED:
            event = {**event, "createdAt": now_ms()}
        await pacer.emit(event)


async def _interrupt(fault: Fault, cut: Callable[[], None] | None) -> None:
    if fault.kind == "stall":
        # Keep the connection open and send nothing (not even pings) until the client gives up;
        # the handler is cancelled when it does.
        await asyncio.Event().wait()
    if cut is not None:
        cut()
    raise StreamAborted("reset_mid_stream fault")


async def respond(
    ctx: Ctx, script: list[JsonObject], on_usage: Callable[[], None] | None = None
) -> web.StreamResponse:
    """Answer a completion-style request in the form `Accept` asks for."""
    sandbox = ctx.sandbox
    sandbox.count("streamsStarted")
    sandbox.count("activeStreams")
    form = ctx.wants
    sink = HttpSink(ctx, form) if form != "json" else None
    collected: list[JsonObject] = []

    async def collect(event: JsonObject) -> None:
        collected.append(event)

    try:
        if sink is not None:
            await sink.open()
        await play(
            sandbox,
            script,
            sink.emit if sink is not None else collect,
            faults=ctx.faults,
            pings=sink is not None,
            on_usage=on_usage,
            cut=sink.cut if sink is not None else _cutter(ctx),
        )
    except StreamAborted as reason:
        _log_abort(ctx, str(reason))
        if sink is not None:
            return sink.response
        raise
    except asyncio.CancelledError:
        # aiohttp cancels the handler when the client disconnects (handler_cancellation=True),
        # which is how the generator stops at once rather than at its next write.
        _log_abort(ctx, "client disconnected")
        raise
    finally:
        sandbox.count("activeStreams", -1)
    sandbox.count("streamsCompleted")
    if sink is not None:
        await sink.response.write_eof()
        return sink.response
    result = next(e for e in reversed(collected) if e["type"] == "result")
    return web.json_response(result["data"])


def _cutter(ctx: Ctx) -> Callable[[], None]:
    def cut() -> None:
        transport = ctx.request.transport
        if transport is not None:
            transport.abort()

    return cut


def _log_abort(ctx: Ctx, reason: str) -> None:
    ctx.sandbox.count("streamsAborted")
    log.info("stream aborted on %s %s: %s", ctx.request.method, ctx.request.path, reason)
