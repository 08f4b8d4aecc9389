"""Counters of both backends, isolated per test: the database (always) and Redis (with
``REDIS_URL``), each exercised directly so that both are tested in the Redis profile too."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from tenants.limits.counters import Counters
from tenants.limits.db_counters import DatabaseCounters
from tenants.limits.policy import Level

if TYPE_CHECKING:
    from tenants.limits.redis_counters import RedisCounters

BACKENDS = ["database", "redis"] if settings.REDIS_URL else ["database"]
_pks = itertools.count(10_000_000 + secrets.randbelow(10_000_000) * 10)


@pytest.fixture(params=BACKENDS)
def counters(request: pytest.FixtureRequest) -> Iterator[Counters]:
    # The database backend needs ``django_db(transaction=True)`` on the test (its admissions
    # run in other threads, which must see committed rows).
    if request.param == "database":
        yield DatabaseCounters()
        # The async admissions ran in asgiref's thread: close its connection, or PostgreSQL
        # refuses to drop the test database.
        asyncio.run(sync_to_async(connections.close_all)())
        return
    with isolated_redis_counters() as backend:
        yield backend


@contextlib.contextmanager
def isolated_redis_counters() -> Iterator[RedisCounters]:
    """Redis counters under a prefix of their own, deleted afterwards."""
    import redis

    from tenants.limits.redis_counters import RedisCounters

    prefix = f"test-limits-{secrets.token_hex(4)}"
    try:
        yield RedisCounters(settings.REDIS_URL, prefix)
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def level(
    name: str = "Acme Corp", *, rpm: int | None = None, timezone: str = "UTC", **quotas: int
) -> Level:
    """An account level with a fresh primary key (its counters start at zero)."""
    pk = next(_pks)
    return Level(
        pk=pk, public_id=f"acct_{pk}", name=name, timezone=timezone, rpm=rpm, quotas=quotas
    )
