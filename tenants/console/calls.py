"""The console's upstream calls: all of them, page turns and background jobs, go through here.

``console_call`` is the one place where the console reaches the upstream. It runs the proxy's
own pipeline in-process (``tenants.proxy.internal.open_call``): the same route table and scopes,
the same limits (a refusal is the proxy's 429 with its ``limit`` object), the same forwarding
as the acting account, the same metering (under ``web:<person id>``). Nothing here talks to
``portal.upstream`` directly. Every call made while acting as a tenant (support impersonation)
is written to the support session's audit trail: the actor's credential carries the session,
and ``open_call`` writes the trail for every in-process call made with such a credential.

``run_turn`` is one turn of a conversation as the upstream's events, ``{"type", "data"}``:

    conversation?  {"type": "conversation", "data": {"id"}}       (when the turn made one)
    ...            the upstream's stream events (token, message, usage, ...; createdAt dropped,
                   as the upstream's own dispatch publishes them, UPSTREAM.md §7)
    last           result | error {"message", "code", "status"?, "limit"?} | abort {"reason"}

Every refusal, upstream error and broken stream ends the turn as an ``error`` event, so the
page and the background worker handle one shape. ``conversation`` is the portal's own type;
the contract tells consumers to ignore types they do not know (§6.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from tenants.console.acting import ConsoleActor
from tenants.proxy.internal import UPSTREAM_ID, Answer, open_call

# The pickers list this many of an account's bots, the newest first.
BOTS_SHOWN = 1_000
TERMINAL = frozenset({"result", "error", "abort"})
# Keep-alives of the stream itself, not events of the turn.
_KEEPALIVES = frozenset({"ping", "nop"})
Event = dict[str, Any]


@contextlib.asynccontextmanager
async def console_call(
    actor: ConsoleActor,
    method: str,
    path: str,
    *,
    body: Mapping[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
    accept: str = "application/jsonl",
    correlation_id: str = "",
) -> AsyncIterator[Answer]:
    """One upstream call as ``actor``, through the proxy pipeline. Leaving the block before the
    answer ended is a client leaving: the upstream stream is closed, partial usage recorded.

    ``correlation_id`` becomes the call's request id in the usage records (a page turn's id, a
    job's public id); a call without one gets its own. While the actor acts as a tenant
    (support impersonation), the call is written to the support session's audit trail."""
    request_id = correlation_id or f"console-{secrets.token_hex(8)}"
    async with open_call(
        actor.credential(),
        method,
        path,
        body=body,
        query=query,
        accept=accept,
        request_id=request_id,
    ) as answer:
        yield answer


@dataclass(frozen=True, slots=True)
class Bots:
    items: list[dict[str, Any]]
    problem: Event | None = None  # the error event when they could not be listed
    more: bool = False  # the account has more than BOTS_SHOWN: the newest are listed


async def list_bots(actor: ConsoleActor, *, correlation_id: str = "") -> Bots:
    """The acting account's newest ``BOTS_SHOWN`` bots, or why they could not be listed.

    One upstream call whatever the number: the JSONL form of a list walks every page on the
    upstream's side (UPSTREAM.md §9; a JSON page holds at most 100), and leaving the block once
    enough have arrived closes the stream there.
    """
    items: list[dict[str, Any]] = []
    more = False
    async with console_call(
        actor, "GET", "/bot/list", accept="application/jsonl", correlation_id=correlation_id
    ) as answer:
        if answer.status >= 400:
            return Bots([], problem_event(answer.status, await _json_or_none(answer)))
        try:
            async for event in answer.events():
                if event.get("type") == "error":
                    return Bots(items, problem_event(answer.status, event.get("data")))
                bot = event.get("data")
                if event.get("type") != "item" or not isinstance(bot, dict):
                    continue  # nop, and anything newer the contract says to ignore (§6.4)
                if len(items) == BOTS_SHOWN:
                    more = True
                    break
                items.append(bot)
        except ValueError:  # a line that is not JSON
            return Bots(items, problem_event(502, None))
    return Bots(items, more=more)


@dataclass(frozen=True, slots=True)
class Turn:
    """What the person sent: a message, and the conversation it belongs to (or how to make it)."""

    message: str
    conversation_id: str = ""
    bot_id: str = ""
    model: str = ""
    backstory: str = ""

    def conversation_body(self) -> dict[str, Any]:
        if self.bot_id:
            return {"botId": self.bot_id}
        body: dict[str, Any] = {}
        if self.model:
            body["model"] = self.model
        if self.backstory:
            body["backstory"] = self.backstory
        return body


async def run_turn(
    actor: ConsoleActor,
    turn: Turn,
    *,
    stop: asyncio.Event | None = None,
    correlation_id: str = "",
) -> AsyncGenerator[Event]:
    """One turn as events (see the module docstring); ``stop`` ends it early (``abort``)."""
    conversation_id = turn.conversation_id
    if not conversation_id:
        async with console_call(
            actor,
            "POST",
            "/conversation/create",
            body=turn.conversation_body(),
            accept="application/json",
            correlation_id=correlation_id,
        ) as answer:
            created = await _json_or_none(answer)
        made = created.get("id") if isinstance(created, dict) else None
        if answer.status >= 400 or not isinstance(made, str) or not UPSTREAM_ID.match(made):
            yield problem_event(answer.status, created)
            return
        conversation_id = made
        yield {"type": "conversation", "data": {"id": conversation_id}}
    async with console_call(
        actor,
        "POST",
        f"/conversation/{conversation_id}/complete",
        body={"text": turn.message},
        correlation_id=correlation_id,
    ) as answer:
        if answer.status >= 400:
            yield problem_event(answer.status, await _json_or_none(answer))
            return
        async for event in interruptible(answer.events(), stop):
            kind = event.get("type")
            if kind in _KEEPALIVES:
                continue
            event.pop("createdAt", None)
            yield event
            if kind in TERMINAL:
                return
    if stop is not None and stop.is_set():
        yield {"type": "abort", "data": {"reason": "stopped"}}
    else:
        # The proxy ends a broken stream with an error line; this covers an answer that just
        # stopped, so that no consumer waits for a result that will not come.
        yield {
            "type": "error",
            "data": {
                "message": "The answer ended before it was complete.",
                "code": "STREAM_INCOMPLETE",
            },
        }


async def interruptible[T](
    source: AsyncIterator[T], stop: asyncio.Event | None
) -> AsyncGenerator[T]:
    """``source``'s items until it ends or ``stop`` is set, whichever comes first."""
    if stop is None:
        async for item in source:
            yield item
        return
    stopped = asyncio.ensure_future(stop.wait())
    step: asyncio.Future[T] | None = None
    try:
        while not stop.is_set():
            step = asyncio.ensure_future(anext(source))
            pending: set[asyncio.Future[Any]] = {step, stopped}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return  # stopped first: the finally below drops the read in flight
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopped.cancel()
        # Also when this generator is closed mid-wait (the consumer left): a read left
        # running would end later with nobody to take its result or its exception.
        if step is not None and not step.done():
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step


def problem_event(status: int, body: Any) -> Event:
    """A refusal or an upstream error as the ``error`` event that ends a turn."""
    data: dict[str, Any] = {"status": status}
    if isinstance(body, dict):
        data["message"] = str(body.get("message") or "")
        data["code"] = str(body.get("code") or "")
        if isinstance(body.get("limit"), dict):
            data["limit"] = body["limit"]
    data["message"] = data.get("message") or f"The upstream answered {status}."
    data["code"] = data.get("code") or f"HTTP_{status}"
    return {"type": "error", "data": data}


async def _json_or_none(answer: Answer) -> Any:
    try:
        return await answer.json()
    except ValueError:
        return None
