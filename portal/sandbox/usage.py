"""Usage counters and per-child limits (UPSTREAM.md §5).

`tokens`, `conversations` and `messages` in a child's `limits` are allowances per billing period
(the calendar month, UTC, in the sandbox). A call that would start while an allowance is used up
fails with 429 `LIMITS_REACHED` and the upstream's exact message, before anything is streamed.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from portal.sandbox.context import Ctx, Route, json_ok
from portal.sandbox.errors import limits_reached
from portal.sandbox.store import DAY_MS, Store, UsageCounter, now_ms

SERIES_DAYS = 90
# limits key -> the resource name in the upstream's message ("...account limits: message").
_ACCOUNT_RESOURCES = {"tokens": "token", "conversations": "conversation", "messages": "message"}


def period_start_ms() -> int:
    today = dt.datetime.now(dt.UTC)
    start = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(start.timestamp() * 1000)


def check_account_limits(store: Store, user_id: str, *names: str) -> None:
    """Raise 429 if any of `names` (tokens, conversations, messages) is used up for `user_id`."""
    user = store.get("user", user_id)
    limits = (user.fields.get("limits") or {}) if user else {}
    if not limits:
        return
    used = store.usage_since(user_id, period_start_ms())
    for name in names:
        allowance = limits.get(name)
        if allowance is not None and getattr(used, name) >= allowance:
            raise limits_reached(
                f"You have exceeded your allocated account limits: {_ACCOUNT_RESOURCES[name]}"
            )


def check_database_limit(store: Store, user_id: str, kind: str) -> None:
    """`database.bots` style caps on how many records of `kind` a child may hold."""
    user = store.get("user", user_id)
    database = ((user.fields.get("limits") or {}).get("database") or {}) if user else {}
    allowance = database.get(f"{kind}s")
    if allowance is not None and len(store.owned(kind, user_id)) >= allowance:
        raise limits_reached(f"You have exceeded your allocated database limits: database/{kind}")


def record_completion(
    store: Store, user_id: str, tokens: int, messages: int, *resource_ids: str | None
) -> None:
    store.record_usage(user_id, UsageCounter(tokens=tokens, messages=messages), *resource_ids)


def record_conversation(store: Store, user_id: str, *resource_ids: str | None) -> None:
    store.record_usage(user_id, UsageCounter(conversations=1), *resource_ids)


async def fetch_usage(ctx: Ctx) -> web.StreamResponse:
    used = ctx.store.usage_since(ctx.caller.user_id, period_start_ms())
    database = dict.fromkeys(("datasets", "records", "skillsets", "abilities", "files"), 0)
    database["users"] = len(ctx.store.owned("user", ctx.caller.user_id))
    return json_ok(
        {
            "tokens": used.tokens,
            "conversations": used.conversations,
            "messages": used.messages,
            "database": database,
        }
    )


async def fetch_series(ctx: Ctx) -> web.StreamResponse:
    today = now_ms() // DAY_MS * DAY_MS
    days = [today - offset * DAY_MS for offset in range(SERIES_DAYS - 1, -1, -1)]
    daily = ctx.store.usage.get(ctx.caller.user_id, {})
    series: dict[str, list[dict[str, int]]] = {"tokens": [], "conversations": [], "messages": []}
    for day in days:
        counter = daily.get(day, UsageCounter())
        for name, points in series.items():
            points.append({"date": day, "total": getattr(counter, name)})
    return json_ok(series)


async def fetch_bot_usage(ctx: Ctx) -> web.StreamResponse:
    # `from`/`to` are accepted and ignored: the sandbox keeps per-bot totals only.
    bot = ctx.owned("bot", "botId", "Bot not found")
    used = ctx.store.resource_usage.get(bot.id, UsageCounter())
    return json_ok(
        {"tokens": used.tokens, "conversations": used.conversations, "messages": used.messages}
    )


async def fetch_conversation_usage(ctx: Ctx) -> web.StreamResponse:
    conversation = ctx.owned("conversation", "conversationId", "Conversation not found")
    used = ctx.store.resource_usage.get(conversation.id, UsageCounter())
    return json_ok({"tokens": used.tokens, "messages": used.messages})


ROUTES = [
    Route("GET", "/v1/usage/fetch", fetch_usage),
    Route("GET", "/v1/usage/series/fetch", fetch_series),
    Route("GET", "/v1/bot/{botId}/usage/fetch", fetch_bot_usage),
    Route("GET", "/v1/conversation/{conversationId}/usage/fetch", fetch_conversation_usage),
]
