"""The shared store behind token records: Redis when ``REDIS_URL`` is set, else Django's cache.

Every worker process reads and writes the same keys here, so it is what makes a revocation in
one process visible to all the others. Values are short strings (JSON). Two backends, one
interface:

- ``RedisStore`` talks to Redis directly: a synchronous client for sync code and one asyncio
  client per event loop, so the async hot path never blocks its loop nor hops to a thread;
- ``CacheStore`` uses Django's default cache (the database cache in the embedded profile).
  Django's database cache has no async driver, so its async methods run in a thread.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings

from portal.redis_clients import client_options

if TYPE_CHECKING:
    import redis.asyncio

# Every key of this package starts here (after the cache's own prefix).
NAMESPACE = "portal-tokens:"
# Redis calls fail fast: a slow store must not hold up every request of the proxy.
REDIS_TIMEOUT_SECONDS = 1.0


class SharedStore(Protocol):
    def get(self, key: str) -> str | None: ...
    def get_many(self, keys: Iterable[str]) -> dict[str, str]: ...
    def set(self, key: str, value: str, ttl: int) -> None: ...
    def add(self, key: str, value: str, ttl: int) -> bool: ...
    def set_many(self, values: Mapping[str, str], ttl: int) -> None: ...
    async def aget(self, key: str) -> str | None: ...
    async def aset(self, key: str, value: str, ttl: int) -> None: ...


class CacheStore:
    """Django's default cache: the database cache in the embedded profile."""

    def __init__(self) -> None:
        from django.core.cache import caches

        self._cache = caches["default"]

    def get(self, key: str) -> str | None:
        value = self._cache.get(NAMESPACE + key)
        return value if isinstance(value, str) else None

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        found = self._cache.get_many([NAMESPACE + key for key in keys])
        return {
            key.removeprefix(NAMESPACE): value
            for key, value in found.items()
            if isinstance(value, str)
        }

    def set(self, key: str, value: str, ttl: int) -> None:
        self._cache.set(NAMESPACE + key, value, timeout=ttl)

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self._cache.add(NAMESPACE + key, value, timeout=ttl))

    def set_many(self, values: Mapping[str, str], ttl: int) -> None:
        self._cache.set_many({NAMESPACE + key: value for key, value in values.items()}, ttl)

    async def aget(self, key: str) -> str | None:
        return await sync_to_async(self.get)(key)

    async def aset(self, key: str, value: str, ttl: int) -> None:
        await sync_to_async(self.set)(key, value, ttl)


class RedisStore:
    """Redis, with the same key prefix as the Django cache (``PORTAL_CACHE_PREFIX``)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._url = url
        self._prefix = f"{prefix}:{NAMESPACE}" if prefix else NAMESPACE
        self._sync = redis.Redis.from_url(
            url, decode_responses=True, **client_options(REDIS_TIMEOUT_SECONDS)
        )
        # asyncio clients hold connections bound to one loop: one client per loop.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def _async_client(self) -> redis.asyncio.Redis:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(
                self._url, decode_responses=True, **client_options(REDIS_TIMEOUT_SECONDS)
            )
            self._async[loop] = client
        return client

    def get(self, key: str) -> str | None:
        value = self._sync.get(self._prefix + key)
        return value if isinstance(value, str) else None

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        if not keys:
            return {}
        values = self._sync.mget([self._prefix + key for key in keys])
        return {
            key: value for key, value in zip(keys, values, strict=True) if isinstance(value, str)
        }

    def set(self, key: str, value: str, ttl: int) -> None:
        self._sync.set(self._prefix + key, value, ex=ttl)

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self._sync.set(self._prefix + key, value, ex=ttl, nx=True))

    def set_many(self, values: Mapping[str, str], ttl: int) -> None:
        with self._sync.pipeline(transaction=False) as pipe:
            for key, value in values.items():
                pipe.set(self._prefix + key, value, ex=ttl)
            pipe.execute()

    async def aget(self, key: str) -> str | None:
        value = await self._async_client().get(self._prefix + key)
        return value if isinstance(value, str) else None

    async def aset(self, key: str, value: str, ttl: int) -> None:
        await self._async_client().set(self._prefix + key, value, ex=ttl)


@cache
def _store_for(redis_url: str, prefix: str) -> SharedStore:
    if redis_url:
        return RedisStore(redis_url, prefix)
    return CacheStore()


def shared_store() -> SharedStore:
    """The store of the running configuration (one per process and configuration)."""
    prefix = str(settings.CACHES["default"].get("KEY_PREFIX", ""))
    return _store_for(settings.REDIS_URL, prefix)
