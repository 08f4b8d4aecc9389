"""Channels: a background job publishes its events, pages replay and follow them.

The portal's own equivalent of the upstream's channel (UPSTREAM.md §7): events are the
upstream's ``{"type", "data"}`` objects, kept for replay for a while after the last one
(``CONSOLE_CHANNEL_RETENTION_SECONDS``, at most ``CONSOLE_CHANNEL_MAX_EVENTS``), read from a
cursor so that a page reloaded mid-turn replays what was published and then continues live.

Two backends, one interface, chosen by configuration (``channel_backend()``):

- ``RedisChannel`` (``REDIS_URL`` set): a Redis stream per channel (``XADD`` with a capped
  length and an expiry; ``XREAD BLOCK`` to follow), so replay and live reads are one command
  with one cursor and nothing published between them is missed;
- ``DatabaseChannel`` (the embedded profile): a ``ChannelEvent`` row per event; followers poll
  every ``CONSOLE_CHANNEL_POLL_MS``. Beat deletes rows past the retention.

Cursors are opaque strings (``START`` reads from the beginning); each event read comes with
the cursor to read after it, which pages send as the SSE event id.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from tenants.console.models import ChannelEvent

if TYPE_CHECKING:
    import redis
    import redis.asyncio

START = "0"
NAMESPACE = "portal-channel:"
# One read returns at most this many events (a replay comes in a few reads).
READ_BATCH = 500
Event = dict[str, Any]
Read = list[tuple[str, Event]]


class Channel(Protocol):
    async def publish(self, name: str, event: Mapping[str, Any]) -> str:
        """Append ``event``; returns its cursor."""
        ...

    def publish_now(self, name: str, event: Mapping[str, Any]) -> str:
        """``publish`` for synchronous code (a beat task, a page's POST)."""
        ...

    async def read(self, name: str, after: str = START, *, wait: float = 0.0) -> Read:
        """The events after ``after``, oldest first; when there are none yet, wait up to
        ``wait`` seconds for one. ``[]``: nothing new in that time."""
        ...

    async def aclose(self) -> None:
        """Release what this event loop holds (a worker's loop ends after each job)."""
        ...


def channel_backend() -> Channel:
    """The channels of the running configuration (one per process and configuration)."""
    prefix = str(settings.CACHES["default"].get("KEY_PREFIX", ""))
    return _backend_for(settings.REDIS_URL, prefix)


@cache
def _backend_for(redis_url: str, prefix: str) -> Channel:
    if redis_url:
        return RedisChannel(redis_url, prefix)
    return DatabaseChannel()


class DatabaseChannel:
    def __init__(self, *, poll_ms: int | None = None) -> None:
        self._poll = (poll_ms or settings.CONSOLE_CHANNEL_POLL_MS) / 1000

    async def publish(self, name: str, event: Mapping[str, Any]) -> str:
        return await sync_to_async(self.publish_now)(name, event)

    def publish_now(self, name: str, event: Mapping[str, Any]) -> str:
        return str(ChannelEvent.objects.create(channel=name, payload=dict(event)).pk)

    async def read(self, name: str, after: str = START, *, wait: float = 0.0) -> Read:
        after_id = _int_cursor(after)
        deadline = time.monotonic() + wait
        while True:
            found = await sync_to_async(self._after)(name, after_id)
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))

    def _after(self, name: str, after_id: int) -> Read:
        rows = (
            ChannelEvent.objects.filter(channel=name, id__gt=after_id)
            .order_by("id")
            .values_list("id", "payload")[:READ_BATCH]
        )
        return [(str(pk), payload) for pk, payload in rows]

    async def aclose(self) -> None:
        return None


def purge_channel_events(*, now: Any = None) -> int:
    """Delete the database backend's events past the retention (beat)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.CONSOLE_CHANNEL_RETENTION_SECONDS)
    deleted, _ = ChannelEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _int_cursor(cursor: str) -> int:
    try:
        return max(0, int(cursor))
    except ValueError:
        return 0


class RedisChannel:
    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = f"{prefix}:{NAMESPACE}" if prefix else NAMESPACE
        self._sync: redis.Redis | None = None
        # asyncio clients hold connections bound to one loop: one client per loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def key(self, name: str) -> str:
        return self._prefix + name

    def _client(self) -> redis.asyncio.Redis:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # No socket timeout shorter than a blocking read: XREAD BLOCK waits server-side.
            client = redis.asyncio.Redis.from_url(self._url, socket_connect_timeout=5)
            self._clients[loop] = client
        return client

    def _sync_client(self) -> redis.Redis:
        import redis

        if self._sync is None:
            self._sync = redis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
        return self._sync

    def _entry(self, event: Mapping[str, Any]) -> dict[Any, Any]:
        return {"e": json.dumps(dict(event), separators=(",", ":"))}

    async def publish(self, name: str, event: Mapping[str, Any]) -> str:
        key = self.key(name)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.xadd(key, self._entry(event), maxlen=settings.CONSOLE_CHANNEL_MAX_EVENTS)
            pipe.expire(key, settings.CONSOLE_CHANNEL_RETENTION_SECONDS)
            cursor, _ = await pipe.execute()
        return _text(cursor)

    def publish_now(self, name: str, event: Mapping[str, Any]) -> str:
        key = self.key(name)
        with self._sync_client().pipeline(transaction=True) as pipe:
            pipe.xadd(key, self._entry(event), maxlen=settings.CONSOLE_CHANNEL_MAX_EVENTS)
            pipe.expire(key, settings.CONSOLE_CHANNEL_RETENTION_SECONDS)
            cursor, _ = pipe.execute()
        return _text(cursor)

    async def read(self, name: str, after: str = START, *, wait: float = 0.0) -> Read:
        block = int(wait * 1000) if wait > 0 else None
        answer = await self._client().xread(
            {self.key(name): after or START}, count=READ_BATCH, block=block
        )
        return _entries(answer)

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


def _entries(answer: Any) -> Read:
    found: Read = []
    for _key, entries in answer or ():
        for cursor, fields in entries:
            raw = fields.get(b"e") or fields.get("e")
            try:
                event = json.loads(raw) if raw is not None else None
            except ValueError:
                event = None
            if isinstance(event, dict):
                found.append((_text(cursor), event))
    return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
