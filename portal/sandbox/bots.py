"""Bots (UPSTREAM.md §8) and bot sessions (§4).

A bot session creates a conversation and hands out an `enduser/conversation` token for it. Public
bots need no credentials for that; private and protected ones need their owner's.
"""

from __future__ import annotations

from aiohttp import web

from portal.sandbox.context import Ctx, Route, json_ok
from portal.sandbox.conversations import (
    DEFAULT_SESSION_SECONDS,
    issue_conversation_token,
    new_conversation,
)
from portal.sandbox.errors import not_authenticated, not_authorized, not_found
from portal.sandbox.lists import respond as list_response
from portal.sandbox.lists import select
from portal.sandbox.store import JsonObject, Record
from portal.sandbox.usage import check_database_limit
from portal.sandbox.validation import MESSAGE, NULLABLE_STRING, Field, validate

BOT_FIELDS = (
    "alias",
    "name",
    "description",
    "meta",
    "model",
    "backstory",
    "datasetId",
    "skillsetId",
    "privacy",
    "moderation",
    "blueprintId",
    "visibility",
)
BOT_SCHEMA: dict[str, Field] = {
    **{name: NULLABLE_STRING for name in BOT_FIELDS},
    "meta": Field("object", nullable=True),
    "privacy": Field("boolean", nullable=True),
    "moderation": Field("boolean", nullable=True),
    "visibility": Field("string", nullable=True, choices=("private", "protected", "public")),
}
SESSION_SCHEMA: dict[str, Field] = {
    "durationInSeconds": Field("integer", nullable=True, minimum=1800, maximum=86400),
    "contact": Field("object", nullable=True),
    "messages": Field(
        "array",
        items=Field(
            "object",
            schema={
                **(MESSAGE.schema or {}),
                "type": Field("string", required=True, choices=("user",)),
            },
        ),
    ),
    "meta": Field("object", nullable=True),
}


def bot_json(bot: Record) -> JsonObject:
    return bot.as_json(*BOT_FIELDS)


async def create_bot(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, BOT_SCHEMA)
    check_database_limit(ctx.store, ctx.caller.user_id, "bot")
    bot = ctx.store.add("bot", ctx.caller.user_id, body)
    return json_ok({"id": bot.id})


async def list_bots(ctx: Ctx) -> web.StreamResponse:
    records = select(ctx, ctx.store.owned("bot", ctx.caller.user_id))
    return await list_response(ctx, records, bot_json)


async def fetch_bot(ctx: Ctx) -> web.StreamResponse:
    return json_ok(bot_json(ctx.owned("bot", "botId", "Bot not found")))


async def update_bot(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, BOT_SCHEMA)
    bot = ctx.owned("bot", "botId", "Bot not found")
    ctx.store.update(bot, body)
    return json_ok({"id": bot.id})


async def delete_bot(ctx: Ctx) -> web.StreamResponse:
    bot = ctx.owned("bot", "botId", "Bot not found")
    ctx.store.delete(bot)
    return json_ok({"id": bot.id})


async def clone_bot(ctx: Ctx) -> web.StreamResponse:
    validate(ctx.body, {})
    bot = ctx.owned("bot", "botId", "Bot not found")
    check_database_limit(ctx.store, ctx.caller.user_id, "bot")
    # The alias is unique per owner upstream, so the copy does not take it.
    copy = ctx.store.add("bot", bot.owner_id, {**bot.fields, "alias": None})
    return json_ok({"id": copy.id})


async def create_session(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, SESSION_SCHEMA)
    bot = ctx.store.get("bot", ctx.params["botId"])
    if bot is None:
        raise not_found("Bot not found")
    if bot.fields.get("visibility") != "public":
        if ctx.caller.kind == "anonymous":
            raise not_authenticated()
        if bot.owner_id != ctx.caller.user_id:
            raise not_authorized()
    messages = [{"type": "user", "text": m["text"]} for m in body.get("messages") or []]
    fields: JsonObject = {"botId": bot.id, "meta": body.get("meta"), "contact": body.get("contact")}
    conversation, stored = new_conversation(ctx.store, bot.owner_id, fields, messages)
    duration = int(body.get("durationInSeconds") or DEFAULT_SESSION_SECONDS)
    token, expires_at = issue_conversation_token(ctx.store, conversation, duration)
    result: JsonObject = {
        "id": bot.id,
        "conversationId": conversation.id,
        "token": token,
        "expiresAt": expires_at,
    }
    if stored:
        result["messages"] = [{"type": m.fields["type"], "text": m.fields["text"]} for m in stored]
    return json_ok(result)


_ONE = "/v1/bot/{botId}"
ROUTES = [
    Route("POST", "/v1/bot/create", create_bot),
    Route("GET", "/v1/bot/list", list_bots),
    Route("GET", f"{_ONE}/fetch", fetch_bot),
    Route("POST", f"{_ONE}/update", update_bot),
    Route("POST", f"{_ONE}/delete", delete_bot),
    Route("POST", f"{_ONE}/clone", clone_bot),
    Route("POST", f"{_ONE}/session/create", create_session, auth="optional"),
]
