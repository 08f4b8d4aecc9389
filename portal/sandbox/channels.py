"""Dispatch and channels (UPSTREAM.md §7).

Dispatch runs a completion in the background and publishes each event, without `createdAt`, to a
channel scoped to the caller's session. Subscribe answers `nop` at once, replays up to
`historyLength` earlier messages, then streams live ones until the client hangs up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from portal.sandbox.completions import (
    COMPLETE_SCHEMA,
    STATELESS_SCHEMA,
    Plan,
    plan_stateful,
    plan_stateless,
    trimmed,
)
from portal.sandbox.context import Ctx, Route, Sandbox, json_ok, log
from portal.sandbox.conversations import owned_bot
from portal.sandbox.errors import ApiError, bad_request
from portal.sandbox.store import JsonObject, new_id
from portal.sandbox.streaming import HttpSink, StreamAborted, play
from portal.sandbox.validation import Field, validate

_CHANNEL_ID = Field("string", min_length=24)
SUBSCRIBE_SCHEMA = {"historyLength": Field("integer", minimum=0, maximum=10000)}
PUBLISH_SCHEMA = {"message": Field("object", required=True)}


async def _run(
    sandbox: Sandbox, session_id: str, channel_id: str, make_plan: Callable[[], Plan]
) -> None:
    hub = sandbox.hub
    key = (session_id, channel_id)
    hub.running.add(key)
    try:
        try:
            plan = make_plan()
        except ApiError as error:
            # A background run has no HTTP status to fail with; upstream publishes the failure,
            # and for limits only a fixed message without a code.
            reason = "Limits exceeded for user" if error.code == "LIMITS_REACHED" else error.message
            hub.publish(session_id, channel_id, {"type": "error", "data": {"message": reason}})
            return

        async def publish(event: JsonObject) -> None:
            hub.publish(session_id, channel_id, {"type": event["type"], "data": event["data"]})

        await play(sandbox, plan.script, publish, pings=False, on_usage=plan.on_usage)
    finally:
        hub.running.discard(key)


async def dispatch_stateless(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, {**STATELESS_SCHEMA, "channelId": _CHANNEL_ID})
    if body.get("botId"):
        owned_bot(ctx, body["botId"])
    channel_id = body.pop("channelId", None) or new_id()
    store, user_id = ctx.store, ctx.caller.user_id
    ctx.sandbox.spawn(
        _run(
            ctx.sandbox,
            ctx.caller.session_id,
            channel_id,
            lambda: plan_stateless(store, user_id, body),
        )
    )
    return json_ok({"channelId": channel_id})


async def dispatch_stateful(ctx: Ctx) -> web.StreamResponse:
    body = validate(trimmed(ctx.body), {**COMPLETE_SCHEMA, "channelId": _CHANNEL_ID})
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    channel_id = body.pop("channelId", None) or new_id()
    session_id = ctx.caller.session_id
    # A channel id given twice while its run is still going is one run, not two.
    if (session_id, channel_id) not in ctx.sandbox.hub.running:
        store, user_id = ctx.store, ctx.caller.user_id
        ctx.sandbox.spawn(
            _run(
                ctx.sandbox,
                session_id,
                channel_id,
                lambda: plan_stateful(store, user_id, conversation, body),
            )
        )
    return json_ok({"channelId": channel_id})


def _channel_id(ctx: Ctx) -> str:
    channel_id = ctx.params["channelId"]
    if len(channel_id) < 16:
        raise bad_request("channelId is too short")
    return channel_id


async def subscribe(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, SUBSCRIBE_SCHEMA)
    channel_id = _channel_id(ctx)
    hub = ctx.sandbox.hub
    session_id = ctx.caller.session_id
    replay, queue = hub.subscribe(session_id, channel_id, int(body.get("historyLength") or 0))
    sink = HttpSink(ctx, "sse" if ctx.wants == "sse" else "jsonl")
    try:
        await sink.open()
        await sink.emit({"type": "nop", "data": {}})
        for message in replay:
            await sink.emit({"type": "message", "data": message})
        # Never closes by itself (UPSTREAM.md §7): the client stops on the inner result.
        while True:
            message = await queue.get()
            await sink.emit({"type": "message", "data": message})
    except StreamAborted:
        log.info("subscriber of channel %s went away", channel_id)
    except asyncio.CancelledError:
        log.info("subscriber of channel %s disconnected", channel_id)
        raise
    finally:
        hub.unsubscribe(session_id, channel_id, queue)
    return sink.response


async def publish(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, PUBLISH_SCHEMA)
    channel_id = _channel_id(ctx)
    ctx.sandbox.hub.publish(ctx.caller.session_id, channel_id, body["message"])
    return json_ok({"id": channel_id})


ROUTES = [
    Route("POST", "/v1/conversation/dispatch", dispatch_stateless),
    Route("POST", "/v1/conversation/{conversationId}/dispatch", dispatch_stateful),
    Route("POST", "/v1/channel/{channelId}/subscribe", subscribe),
    Route("POST", "/v1/channel/{channelId}/publish", publish),
]
