"""Channels (tenants/console/channels.py): the same behaviour on the database and on Redis.

The Redis cases run when ``REDIS_URL`` is set (the production profile of ``make test``); the
database cases always run.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

from tenants.console.channels import (
    START,
    DatabaseChannel,
    RedisChannel,
    channel_backend,
    purge_channel_events,
)
from tenants.console.models import ChannelEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["database", "redis"])
def channel(request):
    if request.param == "database":
        return DatabaseChannel(poll_ms=20)
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the Redis backend runs in the production profile")
    return RedisChannel(settings.REDIS_URL, f"test-{secrets.token_hex(4)}")


def _name() -> str:
    return f"job_{secrets.token_hex(10)}"


def test_a_reader_from_the_start_gets_every_event_in_order(channel):
    name = _name()
    events = [{"type": "token", "data": {"token": str(n)}} for n in range(5)]

    async def go() -> Any:
        cursors = [await channel.publish(name, event) for event in events]
        return cursors, await channel.read(name, START)

    cursors, found = asyncio.run(_closing(channel, go()))

    assert [event for _, event in found] == events
    assert [cursor for cursor, _ in found] == cursors
    assert len(set(cursors)) == 5


def test_a_reader_after_a_cursor_gets_only_what_came_after_it(channel):
    name = _name()

    async def go() -> Any:
        first = await channel.publish(name, {"type": "token", "data": {"token": "a"}})
        await channel.publish(name, {"type": "token", "data": {"token": "b"}})
        await channel.publish(name, {"type": "result", "data": {"text": "ab"}})
        return await channel.read(name, first)

    found = asyncio.run(_closing(channel, go()))

    assert [event["type"] for _, event in found] == ["token", "result"]
    assert found[0][1]["data"] == {"token": "b"}


def test_a_waiting_reader_wakes_up_when_an_event_is_published(channel):
    name = _name()

    async def go() -> Any:
        async def publish_later() -> None:
            await asyncio.sleep(0.3)
            await channel.publish(name, {"type": "token", "data": {"token": "late"}})

        started = time.monotonic()
        publisher = asyncio.create_task(publish_later())
        found = await channel.read(name, START, wait=10)
        await publisher
        return found, time.monotonic() - started

    found, waited = asyncio.run(_closing(channel, go()))

    assert [event["data"] for _, event in found] == [{"token": "late"}]
    assert 0.25 <= waited < 2


def test_a_waiting_reader_gives_up_after_its_wait(channel):
    async def go() -> Any:
        started = time.monotonic()
        return await channel.read(_name(), START, wait=0.4), time.monotonic() - started

    found, waited = asyncio.run(_closing(channel, go()))

    assert found == []
    assert 0.35 <= waited < 2


def test_channels_are_separate_and_synchronous_publishing_reaches_async_readers(channel):
    one, other = _name(), _name()
    channel.publish_now(one, {"type": "error", "data": {"message": "gone", "code": "X"}})

    found = asyncio.run(_closing(channel, channel.read(one, START)))
    nothing = asyncio.run(_closing(channel, channel.read(other, START)))

    assert [event for _, event in found] == [
        {"type": "error", "data": {"message": "gone", "code": "X"}}
    ]
    assert nothing == []


def test_the_database_backend_forgets_events_past_the_retention():
    channel = DatabaseChannel()
    old, new = _name(), _name()
    channel.publish_now(old, {"type": "token", "data": {"token": "x"}})
    ChannelEvent.objects.filter(channel=old).update(
        created_at=timezone.now()
        - timedelta(seconds=settings.CONSOLE_CHANNEL_RETENTION_SECONDS + 5)
    )
    channel.publish_now(new, {"type": "token", "data": {"token": "y"}})

    assert purge_channel_events() == 1
    assert list(ChannelEvent.objects.values_list("channel", flat=True)) == [new]


def test_the_redis_backend_expires_a_channel_after_the_retention():
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    import redis

    channel = RedisChannel(settings.REDIS_URL, f"test-{secrets.token_hex(4)}")
    name = _name()
    channel.publish_now(name, {"type": "token", "data": {"token": "x"}})
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        ttl = client.ttl(channel.key(name))
        client.delete(channel.key(name))
    assert 0 < ttl <= settings.CONSOLE_CHANNEL_RETENTION_SECONDS


def test_the_configured_backend_follows_redis_url():
    expected = RedisChannel if settings.REDIS_URL else DatabaseChannel
    assert isinstance(channel_backend(), expected)


async def _closing(channel: Any, coroutine: Any) -> Any:
    try:
        return await coroutine
    finally:
        await channel.aclose()
        # The database backend's reads ran on asgiref's thread: close its connection, or
        # PostgreSQL refuses to drop the test database.
        await sync_to_async(connections.close_all)()
