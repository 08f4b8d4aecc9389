"""Admission on Redis: every check of a call and its reservation in one Lua script.

A script runs alone on the server, so "check every level, then increment all or nothing" is
atomic across all workers without locks. Rate windows are sorted sets of the admitted calls'
times (the server's clock, ``TIME``, so workers' clocks never disagree about a window); period
counters are plain integers that expire a few days after their period.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tenants.limits.counters import Adjustment, Verdict
from tenants.limits.policy import RATE_WINDOW_SECONDS, Check

if TYPE_CHECKING:
    import redis.asyncio
    from redis.commands.core import AsyncScript

NAMESPACE = "portal-limits:"
# Fail fast: a slow Redis must not hold up every call (the caller answers 503 instead).
TIMEOUT_SECONDS = 1.0
MAX_CONNECTIONS = 64  # per event loop (per worker process)

# KEYS: one counter per check. ARGV[1]: a unique member for the rate windows, then per check:
# kind (r|q|t), limit (-1: none), amount, expire-at (epoch s, 0 for rates).
# Returns {0, now_ms, used..., resets...} when admitted, {i, now_ms, used_i, reset_i} when the
# i-th check (1-based) refused; nothing was written then.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
local n = #KEYS
local used, resets = {}, {}
for i = 1, n do
  local base = 3 + (i - 1) * 4
  local kind, limit, amount = ARGV[base], tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local key = KEYS[i]
  local u, reset = 0, 0
  if kind == 'r' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    u = redis.call('ZCARD', key)
    reset = now + window
    if u > 0 then
      reset = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]) + window
    end
  else
    u = tonumber(redis.call('GET', key) or '0')
  end
  if limit >= 0 and ((kind == 't' and u >= limit) or (kind ~= 't' and u + amount > limit)) then
    return {i, now, u, reset}
  end
  used[i], resets[i] = u, reset
end
local member = ARGV[1]
for i = 1, n do
  local base = 3 + (i - 1) * 4
  local kind, amount, expire_at = ARGV[base], tonumber(ARGV[base + 2]), ARGV[base + 3]
  local key = KEYS[i]
  if kind == 'r' then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, window + 1000)
    used[i] = used[i] + 1
  elseif amount > 0 then
    used[i] = redis.call('INCRBY', key, amount)
    redis.call('EXPIREAT', key, expire_at)
  end
end
local answer = {0, now}
for i = 1, n do answer[#answer + 1] = used[i] end
for i = 1, n do answer[#answer + 1] = resets[i] end
return answer
"""

# KEYS: counters; ARGV: per key an amount and an expire-at. A give-back never creates a
# counter (its period may be over and gone); a settle does.
ADJUST = """
for i = 1, #KEYS do
  local amount = tonumber(ARGV[2 * i - 1])
  if amount > 0 or redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], amount)
    redis.call('EXPIREAT', KEYS[i], ARGV[2 * i])
  end
end
return 0
"""


class RedisCounters:
    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = f"{prefix}:{NAMESPACE}" if prefix else NAMESPACE
        # asyncio clients hold connections bound to one loop: one client (and scripts) per loop.
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[redis.asyncio.Redis, AsyncScript, AsyncScript]
        ] = weakref.WeakKeyDictionary()

    def _client(self) -> tuple[redis.asyncio.Redis, AsyncScript, AsyncScript]:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            # A burst waits (briefly) for a pooled connection rather than failing: each script
            # holds one for well under a millisecond.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._url,
                max_connections=MAX_CONNECTIONS,
                timeout=TIMEOUT_SECONDS,
                socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS,
            )
            client = redis.asyncio.Redis(connection_pool=pool)
            found = (client, client.register_script(ADMIT), client.register_script(ADJUST))
            self._clients[loop] = found
        return found

    def key(self, counter: str) -> str:
        return self._prefix + counter

    async def admit(self, checks: Sequence[Check]) -> Verdict:
        enforced = [check for check in checks if check.enforced]
        _, script, _ = self._client()
        args: list[Any] = [secrets.token_hex(8), RATE_WINDOW_SECONDS * 1000]
        for check in enforced:
            limit = -1 if check.limit is None else check.limit
            args += [check.kind.value, limit, check.amount, check.expires_at]
        answer = [
            int(value)
            for value in await script(keys=[self.key(c.counter) for c in enforced], args=args)
        ]
        return _verdict(checks, enforced, answer)

    async def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        if not adjustments:
            return
        _, _, script = self._client()
        args: list[Any] = []
        for item in adjustments:
            args += [item.amount, item.expires_at]
        await script(keys=[self.key(item.counter) for item in adjustments], args=args)

    async def read(self, counters: Sequence[str]) -> list[int]:
        client, _, _ = self._client()
        values = await client.mget([self.key(counter) for counter in counters])
        return [int(value or 0) for value in values]


def _verdict(checks: Sequence[Check], enforced: list[Check], answer: list[int]) -> Verdict:
    """The script's answer, mapped back from the enforced checks to all of ``checks``."""
    index = {id(check): position for position, check in enumerate(enforced)}
    n = len(enforced)
    if answer[0] != 0:
        refused = enforced[answer[0] - 1]
        used = [0] * len(checks)
        resets = [0] * len(checks)
        where = next(i for i, check in enumerate(checks) if check is refused)
        used[where], resets[where] = answer[2], answer[3]
        return Verdict(where, tuple(used), tuple(resets), answer[1])
    used = [answer[2 + index[id(c)]] if id(c) in index else 0 for c in checks]
    resets = [answer[2 + n + index[id(c)]] if id(c) in index else 0 for c in checks]
    return Verdict(None, tuple(used), tuple(resets), answer[1])
