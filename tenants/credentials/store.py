"""The shared store behind token records: Redis when ``REDIS_URL`` is set, else Django's cache.

Every worker process reads and writes the same keys here, so it is what makes a revocation in
one process visible to all the others. Values are short strings (JSON). Other hot paths that
need the same (the widget's sessions) take a store of their own namespace. Two backends, one
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
    async def aadd(self, key: str, value: str, ttl: int) -> bool: ...
    async def aget_renewed(self, key: str, ttl: int) -> str | None: ...


class CacheStore:
    """Django's default cache: the database cache in the embedded profile."""

    def __init__(self, namespace: str = NAMESPACE) -> None:
        from django.core.cache import caches

        self._cache = caches["default"]
        self.namespace = namespace

    def get(self, key: str) -> str | None:
        value = self._cache.get(self.namespace + key)
        return value if isinstance(value, str) else None

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        found = self._cache.get_many([self.namespace + key for key in keys])
        return {
            key.removeprefix(self.namespace): value
            for key, value in found.items()
            if isinstance(value, str)
        }

    def set(self, key: str, value: str, ttl: int) -> None:
        self._cache.set(self.namespace + key, value, timeout=ttl)

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self._cache.add(self.namespace + key, value, timeout=ttl))

    def set_many(self, values: Mapping[str, str], ttl: int) -> None:
        self._cache.set_many({self.namespace + key: value for key, value in values.items()}, ttl)

    async def aget(self, key: str) -> str | None:
        return await sync_to_async(self.get)(key)

    async def aset(self, key: str, value: str, ttl: int) -> None:
        await sync_to_async(self.set)(key, value, ttl)

    async def aadd(self, key: str, value: str, ttl: int) -> bool:
        return await sync_to_async(self.add)(key, value, ttl)

    def get_renewed(self, key: str, ttl: int) -> str | None:
        value = self.get(key)
        if value is not None:
            self._cache.touch(self.namespace + key, timeout=ttl)
        return value

    async def aget_renewed(self, key: str, ttl: int) -> str | None:
        """The value, kept for ``ttl`` seconds more."""
        return await sync_to_async(self.get_renewed)(key, ttl)


class RedisStore:
    """Redis, with the same key prefix as the Django cache (``PORTAL_CACHE_PREFIX``)."""

    def __init__(self, url: str, prefix: str, namespace: str = NAMESPACE) -> None:
        import redis

        self._url = url
        self._prefix = f"{prefix}:{namespace}" if prefix else namespace
        self._sync = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            decode_responses=True,
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
                self._url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                decode_responses=True,
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

    async def aadd(self, key: str, value: str, ttl: int) -> bool:
        return bool(await self._async_client().set(self._prefix + key, value, ex=ttl, nx=True))

    async def aget_renewed(self, key: str, ttl: int) -> str | None:
        """The value, kept for ``ttl`` seconds more (one GETEX)."""
        value = await self._async_client().getex(self._prefix + key, ex=ttl)
        return value if isinstance(value, str) else None


@cache
def _store_for(redis_url: str, prefix: str, namespace: str) -> SharedStore:
    if redis_url:
        return RedisStore(redis_url, prefix, namespace)
    return CacheStore(namespace)


def shared_store(namespace: str = NAMESPACE) -> SharedStore:
    """The store of the running configuration (one per process, configuration and namespace)."""
    prefix = str(settings.CACHES["default"].get("KEY_PREFIX", ""))
    return _store_for(settings.REDIS_URL, prefix, namespace)
