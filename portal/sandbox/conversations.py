"""Conversations and their messages (UPSTREAM.md §6.1) and conversation sessions (§4).

Completions on conversations live in `completions.py`; this module is the stored side.
"""

from __future__ import annotations

from aiohttp import web

from portal.sandbox.auth import CONVERSATION_AUDIENCE, issue_jwt
from portal.sandbox.context import Ctx, Route, json_ok
from portal.sandbox.errors import not_authorized, not_found
from portal.sandbox.lists import respond as list_response
from portal.sandbox.lists import select
from portal.sandbox.store import JsonObject, Record, Store
from portal.sandbox.usage import check_account_limits, record_completion, record_conversation
from portal.sandbox.validation import (
    ANY,
    MESSAGE,
    MESSAGE_TYPES,
    NULLABLE_STRING,
    Field,
    validate,
)

CONVERSATION_FIELDS = (
    "name",
    "description",
    "meta",
    "contactId",
    "taskId",
    "spaceId",
    "botId",
    "model",
    "backstory",
    "datasetId",
    "skillsetId",
    "privacy",
    "moderation",
    "expiresAt",
)
UPDATE_SCHEMA: dict[str, Field] = {
    **{name: NULLABLE_STRING for name in CONVERSATION_FIELDS},
    "meta": Field("object", nullable=True),
    "privacy": Field("boolean", nullable=True),
    "moderation": Field("boolean", nullable=True),
    "expiresAt": ANY,
    "contact": Field("object", nullable=True),
}
CREATE_SCHEMA = {**UPDATE_SCHEMA, "messages": Field("array", items=MESSAGE)}
MESSAGE_SCHEMA = {
    "type": Field("string", required=True, choices=MESSAGE_TYPES),
    "text": Field("string", required=True),
    "entities": Field("array"),
    "meta": Field("object", nullable=True),
    "name": NULLABLE_STRING,
    "description": NULLABLE_STRING,
}
MESSAGE_UPDATE_SCHEMA = {
    key: Field(spec.kind, nullable=True, choices=spec.choices)
    for key, spec in MESSAGE_SCHEMA.items()
}
SESSION_SCHEMA = {"durationInSeconds": Field("integer", nullable=True, minimum=1800, maximum=86400)}
DEFAULT_SESSION_SECONDS = 3600


def conversation_json(conversation: Record) -> JsonObject:
    return conversation.as_json(*CONVERSATION_FIELDS)


def message_json(message: Record) -> JsonObject:
    return message.as_json("type", "text", "meta", "name", "description")


def owned_bot(ctx: Ctx, bot_id: str) -> Record:
    bot = ctx.store.get("bot", bot_id)
    if bot is None:
        raise not_found("Bot not found")
    if bot.owner_id != ctx.caller.user_id:
        raise not_authorized()
    return bot


def new_conversation(
    store: Store, owner_id: str, fields: JsonObject, messages: list[JsonObject]
) -> tuple[Record, list[Record]]:
    """Store a conversation with its opening messages and count it (used by bot sessions too)."""
    check_account_limits(store, owner_id, "conversations", *(["messages"] if messages else []))
    conversation = store.add("conversation", owner_id, fields)
    stored = [
        store.add(
            "message",
            conversation.id,
            {"type": m["type"], "text": m["text"], "meta": m.get("meta")},
        )
        for m in messages
    ]
    bot_id = fields.get("botId")
    record_conversation(store, owner_id, conversation.id, bot_id)
    if stored:
        record_completion(store, owner_id, 0, len(stored), conversation.id, bot_id)
    return conversation, stored


async def create_conversation(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, CREATE_SCHEMA)
    messages = body.pop("messages", None) or []
    if body.get("botId"):
        owned_bot(ctx, body["botId"])
    conversation, stored = new_conversation(ctx.store, ctx.caller.user_id, body, messages)
    result: JsonObject = {"id": conversation.id}
    if stored:
        result["messages"] = [{"type": m.fields["type"], "text": m.fields["text"]} for m in stored]
    return json_ok(result)


async def list_conversations(ctx: Ctx) -> web.StreamResponse:
    # botId, contactId and taskId accept comma-separated lists upstream.
    wanted = {
        key: set(ctx.query[key].split(","))
        for key in ("botId", "contactId", "taskId")
        if ctx.query.get(key)
    }
    records = select(
        ctx,
        ctx.store.owned("conversation", ctx.caller.user_id),
        extra=lambda c: all(c.fields.get(k) in v for k, v in wanted.items()),
    )
    return await list_response(ctx, records, conversation_json)


async def fetch_conversation(ctx: Ctx) -> web.StreamResponse:
    return json_ok(
        conversation_json(ctx.owned("conversation", "conversationId", "Conversation not found"))
    )


async def update_conversation(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, UPDATE_SCHEMA)
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    if body.get("botId"):
        owned_bot(ctx, body["botId"])
    ctx.store.update(conversation, body)
    return json_ok({"id": conversation.id})


async def delete_conversation(ctx: Ctx) -> web.StreamResponse:
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    ctx.store.delete(conversation)
    return json_ok({"id": conversation.id})


async def create_session(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, SESSION_SCHEMA)
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    token, expires_at = issue_conversation_token(
        ctx.store, conversation, int(body.get("durationInSeconds") or DEFAULT_SESSION_SECONDS)
    )
    return json_ok({"id": conversation.id, "token": token, "expiresAt": expires_at})


def issue_conversation_token(store: Store, conversation: Record, duration: int) -> tuple[str, int]:
    claims = {"userId": conversation.owner_id, "conversationId": conversation.id}
    _, token, expires_at = issue_jwt(store, CONVERSATION_AUDIENCE, claims, duration)
    return token, expires_at


# -- messages ----------------------------------------------------------------------------------


def _message(ctx: Ctx, conversation: Record) -> Record:
    message = ctx.store.get("message", ctx.params["messageId"])
    if message is None or message.owner_id != conversation.id:
        raise not_found("Message not found")
    return message


async def list_messages(ctx: Ctx) -> web.StreamResponse:
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    # The server's default order for messages is asc (the spec says desc; the code wins).
    records = select(ctx, ctx.store.owned("message", conversation.id), default_order="asc")
    return await list_response(ctx, records, message_json)


async def create_message(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, MESSAGE_SCHEMA)
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    entities = body.pop("entities", None) or []
    message = ctx.store.add("message", conversation.id, body)
    return json_ok({"id": message.id, "entities": entities})


async def fetch_message(ctx: Ctx) -> web.StreamResponse:
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    return json_ok(message_json(_message(ctx, conversation)))


async def update_message(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, MESSAGE_UPDATE_SCHEMA)
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    message = _message(ctx, conversation)
    body.pop("entities", None)
    ctx.store.update(message, body)
    return json_ok({"id": message.id})


async def delete_message(ctx: Ctx) -> web.StreamResponse:
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    message = _message(ctx, conversation)
    ctx.store.delete(message)
    return json_ok({"id": message.id})


_ONE = "/v1/conversation/{conversationId}"
_MESSAGE = _ONE + "/message/{messageId}"
ROUTES = [
    Route("POST", "/v1/conversation/create", create_conversation),
    Route("GET", "/v1/conversation/list", list_conversations),
    Route("GET", f"{_ONE}/fetch", fetch_conversation),
    Route("POST", f"{_ONE}/update", update_conversation),
    Route("POST", f"{_ONE}/delete", delete_conversation),
    Route("POST", f"{_ONE}/session/create", create_session),
    Route("GET", f"{_ONE}/message/list", list_messages),
    Route("POST", f"{_ONE}/message/create", create_message),
    Route("GET", f"{_MESSAGE}/fetch", fetch_message),
    Route("POST", f"{_MESSAGE}/update", update_message),
    Route("POST", f"{_MESSAGE}/delete", delete_message),
]
