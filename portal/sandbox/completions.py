"""Completions (UPSTREAM.md §6.2-6.4): stateful send/receive/complete and stateless complete.

Each endpoint first plans its whole event script (checking limits, storing the user's turn),
then hands it to `streaming.respond`. Dispatch (`channels.py`) reuses the same plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from portal.sandbox.context import Ctx, Route
from portal.sandbox.conversations import owned_bot
from portal.sandbox.engine import Completion, engine_events, plan_completion
from portal.sandbox.store import JsonObject, Record, Store, new_id
from portal.sandbox.streaming import respond
from portal.sandbox.usage import check_account_limits, record_completion
from portal.sandbox.validation import ANY, MESSAGE, NULLABLE_STRING, Field, validate

_EXTRAS = {"functions": Field("array"), "extensions": Field("object"), "limits": Field("object")}
STATELESS_SCHEMA: dict[str, Field] = {
    "botId": NULLABLE_STRING,
    "model": NULLABLE_STRING,
    "backstory": NULLABLE_STRING,
    "datasetId": NULLABLE_STRING,
    "skillsetId": NULLABLE_STRING,
    "privacy": Field("boolean", nullable=True),
    "moderation": Field("boolean", nullable=True),
    "messages": Field("array", required=True, min_length=1, items=MESSAGE),
    "attachments": Field("array"),
    "contactId": ANY,
    **_EXTRAS,
}
COMPLETE_SCHEMA: dict[str, Field] = {
    "text": Field("string", allow_empty=False),
    "entities": Field("array"),
    **_EXTRAS,
}
SEND_SCHEMA: dict[str, Field] = {
    "text": Field("string", required=True, allow_empty=False),
    "entities": Field("array"),
    "functions": Field("array"),
    "extensions": Field("object"),
}
RECEIVE_SCHEMA: dict[str, Field] = {"functions": Field("array"), "extensions": Field("object")}


@dataclass
class Plan:
    script: list[JsonObject]
    on_usage: Callable[[], None] | None = None


def trimmed(body: JsonObject) -> JsonObject:
    # The upstream trims `text` before its min-length check, so "  " is empty.
    if isinstance(body.get("text"), str):
        return {**body, "text": body["text"].strip()}
    return body


def _event(kind: str, data: JsonObject) -> JsonObject:
    return {"type": kind, "data": data}


def _reply_result(message_id: str | None, completion: Completion) -> JsonObject:
    data: JsonObject = {} if message_id is None else {"id": message_id}
    data.update(
        {
            "text": completion.reply,
            "usage": {"token": completion.billed_tokens},
            "end": {"reason": "stop"},
        }
    )
    return data


# -- plans (shared with dispatch) --------------------------------------------------------------


def plan_stateless(store: Store, user_id: str, body: JsonObject) -> Plan:
    check_account_limits(store, user_id, "messages", "tokens")
    bot = store.get("bot", body["botId"]) if body.get("botId") else None
    source = bot.fields if bot is not None else body
    completion = plan_completion(body["messages"], source.get("model"), source.get("backstory"))
    bot_id = bot.id if bot is not None else None

    def bill() -> None:
        record_completion(store, user_id, completion.billed_tokens, 1, bot_id)

    result = _reply_result(None, completion)
    script = [*engine_events(completion), _event("receiveResult", result), _event("result", result)]
    return Plan(script, bill)


def _history(store: Store, conversation: Record) -> list[JsonObject]:
    messages = sorted(store.owned("message", conversation.id), key=lambda m: (m.created_at, m.id))
    return [m.fields for m in messages]


def _store_user_turn(store: Store, user_id: str, conversation: Record, body: JsonObject) -> Record:
    message = store.add("message", conversation.id, {"type": "user", "text": body["text"]})
    record_completion(store, user_id, 0, 1, conversation.id, conversation.fields.get("botId"))
    return message


def plan_reply(
    store: Store, user_id: str, conversation: Record, tail: str
) -> tuple[Plan, Completion]:
    """The bot's turn on a stored conversation; `tail` picks the closing result shape."""
    bot = store.get("bot", conversation.fields.get("botId") or "")
    source = bot.fields if bot is not None else conversation.fields
    completion = plan_completion(
        _history(store, conversation), source.get("model"), source.get("backstory")
    )
    reply_id = new_id()

    def store_reply() -> None:
        store.add(
            "message",
            conversation.id,
            {"type": "bot", "text": completion.reply},
            record_id=reply_id,
        )
        record_completion(
            store,
            user_id,
            completion.billed_tokens,
            1,
            conversation.id,
            conversation.fields.get("botId"),
        )

    full = _reply_result(reply_id, completion)
    result = full if tail == "complete" else {k: v for k, v in full.items() if k != "end"}
    script = [*engine_events(completion), _event("receiveResult", full), _event("result", result)]
    return Plan(script, store_reply), completion


def plan_stateful(store: Store, user_id: str, conversation: Record, body: JsonObject) -> Plan:
    check_account_limits(store, user_id, "messages", "tokens")
    opening: list[JsonObject] = []
    if body.get("text"):
        sent = _store_user_turn(store, user_id, conversation, body)
        entities = body.get("entities") or []
        opening.append(
            _event(
                "sendResult",
                {"id": sent.id, "text": body["text"], "entities": entities, "usage": {"token": 0}},
            )
        )
    plan, _ = plan_reply(store, user_id, conversation, "complete")
    plan.script = opening + plan.script
    return plan


# -- handlers ----------------------------------------------------------------------------------


async def complete_stateless(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, STATELESS_SCHEMA)
    if body.get("botId"):
        owned_bot(ctx, body["botId"])
    plan = plan_stateless(ctx.store, ctx.caller.user_id, body)
    return await respond(ctx, plan.script, plan.on_usage)


async def complete_stateful(ctx: Ctx) -> web.StreamResponse:
    body = validate(trimmed(ctx.body), COMPLETE_SCHEMA)
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    plan = plan_stateful(ctx.store, ctx.caller.user_id, conversation, body)
    return await respond(ctx, plan.script, plan.on_usage)


async def send(ctx: Ctx) -> web.StreamResponse:
    body = validate(trimmed(ctx.body), SEND_SCHEMA)
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    check_account_limits(ctx.store, ctx.caller.user_id, "messages")
    message = _store_user_turn(ctx.store, ctx.caller.user_id, conversation, body)
    result = {"id": message.id, "entities": body.get("entities") or []}
    return await respond(ctx, [_event("result", result)])


async def receive(ctx: Ctx) -> web.StreamResponse:
    validate(ctx.body, RECEIVE_SCHEMA)
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    check_account_limits(ctx.store, ctx.caller.user_id, "messages", "tokens")
    plan, _ = plan_reply(ctx.store, ctx.caller.user_id, conversation, "receive")
    return await respond(ctx, plan.script, plan.on_usage)


ROUTES = [
    Route("POST", "/v1/conversation/complete", complete_stateless),
    Route("POST", "/v1/conversation/{conversationId}/complete", complete_stateful),
    Route("POST", "/v1/conversation/{conversationId}/send", send),
    Route("POST", "/v1/conversation/{conversationId}/receive", receive),
]
