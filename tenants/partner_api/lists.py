"""Cursor pages and JSONL auto-paging for partner API lists (UPSTREAM.md §9)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from tenants.partner_api.http import bad_request

MAX_TAKE = 100


@dataclass(frozen=True)
class ListQuery:
    cursor: str
    descending: bool
    take: int
    streaming: bool
    take_given: bool = False


def parse_list_query(request: HttpRequest) -> ListQuery:
    order = request.GET.get("order", "desc") or "desc"
    if order not in {"asc", "desc"}:
        raise bad_request('"order" must be one of [asc, desc]')
    raw_take = request.GET.get("take", "")
    try:
        take = int(raw_take) if raw_take else 0
    except ValueError:
        take = 0  # the upstream treats NaN as "use the default"
    take = MAX_TAKE if take <= 0 else min(take, MAX_TAKE)
    accept = request.headers.get("Accept", "application/json")
    return ListQuery(
        cursor=request.GET.get("cursor", ""),
        descending=order == "desc",
        take=take,
        streaming="application/jsonl" in accept,
        take_given=bool(raw_take),
    )


def meta_filters(request: HttpRequest) -> dict[str, Any]:
    """``meta.key=value`` (Node, Python SDKs) and ``meta[key]=value`` (Go SDK, the spec)."""
    filters: dict[str, Any] = {}
    for name in request.GET:
        value = request.GET.get(name, "")
        key = ""
        if name.startswith("meta.") and len(name) > 5:
            key = name[5:]
        elif name.startswith("meta[") and name.endswith("]") and len(name) > 6:
            key = name[5:-1]
        if key:
            if not key.replace("_", "").replace("-", "").isalnum():
                raise bad_request(f'"meta.{key}" is not a valid filter')
            filters[key] = {"true": True, "false": False}.get(value, value)
    return filters


def page[M: Model](queryset: QuerySet[M], query: ListQuery, cursor_field: str) -> list[M]:
    """One page after the cursor (the id of the last item seen), ordered by creation then pk."""
    ordering = ["-created_at", "-pk"] if query.descending else ["created_at", "pk"]
    queryset = queryset.order_by(*ordering)
    if query.cursor:
        anchor = queryset.model._default_manager.filter(**{cursor_field: query.cursor}).first()
        if anchor is None:
            return []  # an unknown cursor is a page past the end
        created_at = anchor.created_at  # type: ignore[attr-defined]
        if query.descending:
            after = Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=anchor.pk)
        else:
            after = Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=anchor.pk)
        queryset = queryset.filter(after)
    return list(queryset[: query.take])


def list_response[M: Model](
    queryset: QuerySet[M],
    query: ListQuery,
    *,
    cursor_field: str,
    cursor_of: Callable[[M], str],
    shape: Callable[[M], dict[str, Any]],
) -> JsonResponse | StreamingHttpResponse:
    if not query.streaming:
        items = page(queryset, query, cursor_field)
        body: dict[str, Any] = {"items": [shape(item) for item in items]}
        if items:  # the upstream omits the cursor of an empty page
            body["cursor"] = cursor_of(items[-1])
        return JsonResponse(body)

    async def lines() -> AsyncIterator[bytes]:
        # The upstream walks every page itself, and with `take` stops once that many were sent;
        # pages are read one at a time so a long list never sits in memory.
        limit = query.take if query.take_given else None
        sent, cursor = 0, query.cursor
        while limit is None or sent < limit:
            size = MAX_TAKE if limit is None else min(MAX_TAKE, limit - sent)
            current = ListQuery(cursor, query.descending, size, True)
            items = await sync_to_async(page)(queryset, current, cursor_field)
            if not items:
                return
            for item in items:
                data = await sync_to_async(shape)(item)
                yield (
                    json.dumps({"type": "item", "data": data}, separators=(",", ":")) + "\n"
                ).encode()
                sent += 1
            cursor = cursor_of(items[-1])
            if len(items) < size:
                return

    return StreamingHttpResponse(lines(), content_type="application/jsonl")
