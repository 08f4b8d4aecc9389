"""The preflight's answer comes from memory: the origins of live widget keys, held per process
and read again when the widget key services announce a change (tenants.widget.origins).

These call ``is_listed`` in the test's own thread (``async_to_sync``: its database reads run
there too), so ``django_assert_num_queries`` sees every query, the shared store's included in
the embedded profile, whose store is the database cache. The store's reads are also counted
directly, for Redis.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenants.credentials.store import SharedStore
from tenants.models import Token, WidgetOrigin
from tenants.services import revoke_token
from tenants.services.tokens import issue_credential
from tenants.services.widget_keys import change_widget_origins
from tenants.widget import origins
from tests.factories import make_widget_key


class CountingStore:
    """The widget's shared store, counting what the origins index asks of it."""

    def __init__(self, store: SharedStore) -> None:
        self._store = store
        self.reads = 0

    async def aget(self, key: str) -> str | None:
        self.reads += 1
        return await self._store.aget(key)

    async def aadd(self, key: str, value: str, ttl: int) -> bool:
        self.reads += 1
        return bool(await self._store.aadd(key, value, ttl))

    def set(self, key: str, value: str, ttl: int) -> None:
        self._store.set(key, value, ttl)


class Clock:
    """The index's clocks, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(origins, "time", fake)
    return fake


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> CountingStore:
    counting = CountingStore(origins._store())
    monkeypatch.setattr(origins, "_store", lambda: counting)
    return counting


def listed(origin: str) -> bool:
    return bool(async_to_sync(origins.is_listed)(origin))


def unique_origin() -> str:
    return f"https://site-{secrets.token_hex(6)}.example"


def key_for(world, *origin_list: str, **fields: Any) -> Token:
    # One transaction, as issue_widget_key does: its announcement follows the origins' rows.
    with transaction.atomic():
        if not fields:
            return make_widget_key(world.a_child, origins=origin_list)
        issued = issue_credential(
            world.a_child,
            "widget_key.issued",
            Token.Kind.WIDGET,
            actor=None,
            context=None,
            scopes=["chat:stream"],
            bot_ids=["bot_local"],
            **fields,
        )
        WidgetOrigin.objects.bulk_create(
            [WidgetOrigin(token=issued.token, origin=origin) for origin in origin_list]
        )
        return issued.token


def origin_loads(queries: CaptureQueriesContext) -> int:
    return sum("widgetorigin" in query["sql"].lower() for query in queries.captured_queries)


def test_an_unknown_origin_costs_no_query_and_no_store_read(
    world, store, clock, django_assert_num_queries
):
    known = unique_origin()
    key_for(world, known)
    assert listed(known)  # the process's copy is loaded
    reads = store.reads

    with django_assert_num_queries(0):
        answers = [listed(unique_origin()) for _ in range(200)]

    assert not any(answers)
    assert store.reads == reads


def test_the_epoch_is_read_once_per_interval_however_many_preflights_come(world, store, clock):
    assert not listed(unique_origin())
    clock.advance(origins.LOCAL_SECONDS)
    reads = store.reads

    with CaptureQueriesContext(transaction.get_connection()) as queries:
        answers = [listed(unique_origin()) for _ in range(100)]

    assert not any(answers)
    assert store.reads == reads + 1  # one epoch read for the hundred
    assert origin_loads(queries) == 0  # the epoch did not change: nothing to load


def test_a_new_keys_origin_is_allowed_right_after_the_key_is_saved(world, clock):
    # The clock stands still: the change is seen because it was announced, not by time.
    origin = unique_origin()
    assert not listed(origin)

    key_for(world, origin)

    assert listed(origin)


def test_changed_origins_apply_at_once(world, clock):
    before, after = unique_origin(), unique_origin()
    key = key_for(world, before)
    assert listed(before)
    assert not listed(after)

    change_widget_origins(key, origins=[after], actor=None)

    assert listed(after)
    assert not listed(before)


def test_a_revoked_keys_origin_stops_being_allowed(world, clock):
    origin = unique_origin()
    key = key_for(world, origin)
    assert listed(origin)

    revoke_token(key, actor=None)

    assert not listed(origin)


def test_an_origin_stays_allowed_while_another_live_key_lists_it(world):
    origin = unique_origin()
    first = key_for(world, origin)
    key_for(world, origin)

    revoke_token(first, actor=None)

    assert listed(origin)


def test_an_expired_keys_origin_stops_being_allowed_without_any_announcement(world, clock):
    origin = unique_origin()
    key_for(world, origin, expires_at=timezone.now() + timedelta(seconds=30))
    assert listed(origin)

    clock.advance(31)  # within MAX_AGE_SECONDS: the copy itself knows when the key ends

    with CaptureQueriesContext(transaction.get_connection()) as queries:
        assert not listed(origin)
    assert origin_loads(queries) == 0


def test_another_processs_change_is_seen_within_local_seconds(world, store, clock):
    # Another process's change: rows this process did not write, and a new epoch in the store.
    key = key_for(world, unique_origin())
    origin = unique_origin()
    assert not listed(origin)
    WidgetOrigin.objects.create(token=key, origin=origin)
    store.set(origins.EPOCH_KEY, "another-process", origins.EPOCH_TTL)
    assert not listed(origin)  # until this process's next look at the epoch

    clock.advance(origins.LOCAL_SECONDS)

    assert listed(origin)


def test_without_the_shared_store_the_database_answers_at_most_once_per_interval(
    world, clock, monkeypatch
):
    class Unreachable:
        async def aget(self, key: str) -> str | None:
            raise ConnectionError("the store is down")

    monkeypatch.setattr(origins, "_store", Unreachable)
    origin = unique_origin()
    key_for(world, origin)  # its announcement cannot reach the store either

    with CaptureQueriesContext(transaction.get_connection()) as queries:
        answers = [listed(origin), *(listed(unique_origin()) for _ in range(50))]

    assert answers == [True] + [False] * 50
    assert origin_loads(queries) == 1

    clock.advance(origins.LOCAL_SECONDS)
    with CaptureQueriesContext(transaction.get_connection()) as queries:
        assert listed(origin)
    assert origin_loads(queries) == 1
