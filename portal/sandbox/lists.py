"""List endpoints (UPSTREAM.md §9): cursor pages as JSON, or every page as JSONL items.

A cursor is the id of the last item seen; the next page starts after it. A JSON page with no
items has no `cursor` key at all, and JSONL lists end without a closing `result` line.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from portal.sandbox.context import Ctx
from portal.sandbox.errors import bad_request
from portal.sandbox.store import JsonObject, Record
from portal.sandbox.streaming import HttpSink, StreamAborted

MAX_TAKE = 100
_META_KEY = re.compile(r"^meta(?:\.([^.\[\]]+)|\[([^\[\]]+)\])$")

Serializer = Callable[[Record], JsonObject]


def parse_take(raw: str | None) -> int | None:
    """`take` clamped to 1..100; absent, 0 or not a number means "default" (None)."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if math.isnan(value) or value == 0:
        return None
    return int(min(max(value, 1), MAX_TAKE))


def parse_order(raw: str | None, default: str) -> str:
    order = raw or default
    if order not in ("asc", "desc"):
        raise bad_request('"order" must be one of [asc, desc]')
    return order


def meta_filters(query: Mapping[str, str]) -> dict[str, Any]:
    """Both `meta.key=v` (Node/Python SDKs) and `meta[key]=v` (Go SDK, deepObject)."""
    filters: dict[str, Any] = {}
    for key, value in query.items():
        match = _META_KEY.match(key)
        if match:
            name = match.group(1) or match.group(2)
            filters[name] = {"true": True, "false": False}.get(value, value)
    return filters


def _meta_matches(record: Record, filters: dict[str, Any]) -> bool:
    meta = record.fields.get("meta") or {}
    for name, wanted in filters.items():
        actual = meta.get(name)
        if actual != wanted and (isinstance(actual, bool) or str(actual) != str(wanted)):
            return False
    return True


def select(
    ctx: Ctx,
    records: Iterable[Record],
    *,
    default_order: str = "desc",
    extra: Callable[[Record], bool] | None = None,
) -> list[Record]:
    """Filter by meta (and `extra`), then sort by createdAt, id in the requested order."""
    filters = meta_filters(ctx.query)
    order = parse_order(ctx.query.get("order"), default_order)
    chosen = [r for r in records if _meta_matches(r, filters) and (extra is None or extra(r))]
    chosen.sort(key=lambda r: (r.created_at, r.id), reverse=order == "desc")
    return chosen


def page(records: list[Record], cursor: str | None, size: int) -> list[Record]:
    start = 0
    if cursor:
        index = next((i for i, record in enumerate(records) if record.id == cursor), None)
        # An unknown cursor gives an empty page, as a Prisma cursor on a missing row does.
        if index is None:
            return []
        start = index + 1
    return records[start : start + size]


async def respond(ctx: Ctx, records: list[Record], serialize: Serializer) -> web.StreamResponse:
    """One JSON page, or (JSONL/SSE) every page from the cursor on."""
    take = parse_take(ctx.query.get("take"))
    cursor = ctx.query.get("cursor")
    size = take or MAX_TAKE
    if ctx.wants == "json":
        items = page(records, cursor, size)
        body: JsonObject = {"items": [serialize(record) for record in items]}
        if items:
            body["cursor"] = items[-1].id
        return web.json_response(body)
    sink = HttpSink(ctx, ctx.wants)
    await sink.open()
    sent = 0
    try:
        while True:
            items = page(records, cursor, size)
            for record in items:
                await sink.emit({"type": "item", "data": serialize(record)})
            sent += len(items)
            # Walk pages like the upstream does: stop on a short page, or once `take` is reached.
            if len(items) < size or (take is not None and sent >= take):
                break
            cursor = items[-1].id
            await asyncio.sleep(0)  # let other requests run between pages of a long list
    except StreamAborted:
        return sink.response
    await sink.response.write_eof()
    return sink.response
