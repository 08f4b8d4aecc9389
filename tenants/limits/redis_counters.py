"""Admission on Redis: every check of a call and its reservation in one Lua script.

A script runs alone on the server, so "check every level, then increment all or nothing" is
atomic across all workers without locks. Rate windows are sorted sets of the admitted calls'
times (the server's clock, ``TIME``, so workers' clocks never disagree about a window); period
counters are plain integers that expire a few days after their period.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import secrets
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError

from portal.redis_clients import client_options
from tenants.limits.counters import Adjustment, Verdict
from tenants.limits.policy import RATE_WINDOW_SECONDS, Check
from tenants.limits.resp import Arg, RespConnection, pack

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


def _new_member_prefix() -> str:
    return f"{secrets.token_hex(6)}:"


# Rate windows need a member unique to each admitted call: a random prefix per process (new in
# a forked child) and a counter, rather than random bytes per call (a system call each time).
_member_prefix = _new_member_prefix()
_member_numbers = itertools.count(1)


def _reset_members_after_fork() -> None:
    global _member_prefix, _member_numbers
    _member_prefix, _member_numbers = _new_member_prefix(), itertools.count(1)


os.register_at_fork(after_in_child=_reset_members_after_fork)


def _member() -> str:
    return f"{_member_prefix}{next(_member_numbers):x}"


class _Lane:
    """This loop's connections for the limiter's scripts, each used for one command at a time.

    ``Redis.evalsha`` through a connection pool spends about 100 µs per call on its own
    machinery (the pool's lock, retries, instrumentation, its encoder and line reader) on top
    of the round trip; the proxy pays that on every call. Here an idle ``RespConnection``
    (resp.py) is taken, the command written and its reply read, and the connection put back;
    one that fails is dropped. At most ``MAX_CONNECTIONS`` are open; a call beyond that waits
    for one to come back.
    """

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self._url = url
        self._idle: list[RespConnection] = []
        self._waiters: deque[asyncio.Future[RespConnection | None]] = deque()
        self._open = 0
        # For plain commands (reads for pages), through redis-py.
        self.client = redis.asyncio.Redis.from_url(url, **client_options(TIMEOUT_SECONDS))

    async def execute(self, *args: Arg) -> Any:
        connection = await self._take()
        try:
            reply = await connection.call(pack(args), TIMEOUT_SECONDS)
        except NoScriptError:
            self._give_back(connection)  # an answer like any other: the connection is fine
            raise
        except BaseException:
            self._drop(connection)
            raise
        self._give_back(connection)
        return reply

    async def _take(self) -> RespConnection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._open -= 1
        if self._open >= MAX_CONNECTIONS:
            waiter: asyncio.Future[RespConnection | None]
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    handed = await waiter
            except BaseException:
                # Timed out or cancelled: a connection handed over in the meantime must not be
                # lost with us (it would count as open forever, and the lane would run dry).
                if waiter.done() and not waiter.cancelled():
                    late = waiter.result()
                    if late is not None:
                        self._give_back(late)
                    else:
                        self._hand(None)  # the right to open one passes to the next waiter
                else:
                    waiter.cancel()
                raise
            if handed is not None:
                return handed
        self._open += 1
        try:
            return await RespConnection.open(self._url, TIMEOUT_SECONDS)
        except BaseException:
            self._open -= 1
            self._hand(None)
            raise

    def _hand(self, connection: RespConnection | None) -> bool:
        """Give the first live waiter a connection, or (None) the right to open one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _give_back(self, connection: RespConnection) -> None:
        if not self._hand(connection):
            self._idle.append(connection)

    def _drop(self, connection: RespConnection) -> None:
        self._open -= 1
        connection.close()
        self._hand(None)


# Adjustments per script call: a disconnect storm settles a thousand calls at once.
_MAX_BATCH = 500


@dataclass(slots=True)
class _Batch:
    items: list[Adjustment] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class RedisCounters:
    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = f"{prefix}:{NAMESPACE}" if prefix else NAMESPACE
        # asyncio connections belong to one loop: one lane per loop.
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = (
            weakref.WeakKeyDictionary()
        )
        self._shas = {ADMIT: _sha1(ADMIT), ADJUST: _sha1(ADJUST)}
        # Adjustments waiting for this turn of each loop to end, and the flushes under way.
        self._batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch] = (
            weakref.WeakKeyDictionary()
        )
        self._flushing: set[asyncio.Task[None]] = set()

    def _lane(self) -> _Lane:
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane(self._url)
        return lane

    async def _script(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA, or EVAL when the server does not have the script (yet, or any more)."""
        lane = self._lane()
        try:
            return await lane.execute("EVALSHA", self._shas[script], len(keys), *keys, *args)
        except NoScriptError:
            return await lane.execute("EVAL", script, len(keys), *keys, *args)

    def key(self, counter: str) -> str:
        return self._prefix + counter

    async def admit(self, checks: Sequence[Check]) -> Verdict:
        enforced = [check for check in checks if check.enforced]
        args: list[Any] = [_member(), RATE_WINDOW_SECONDS * 1000]
        for check in enforced:
            limit = -1 if check.limit is None else check.limit
            args += [check.kind.value, limit, check.amount, check.expires_at]
        keys = [self.key(c.counter) for c in enforced]
        answer = [int(value) for value in await self._script(ADMIT, keys, args)]
        return _verdict(checks, enforced, answer)

    async def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        """Apply ``adjustments``; returns once they are written (or raises).

        The adjustments of every call that settles in the same turn of the event loop go out
        as one script: when many calls end at once (a disconnect storm, a burst of short
        completions), one round trip instead of one each (bench/gateway S6: a thousand clients
        leaving together made a thousand settles queue behind each other).
        """
        if not adjustments:
            return
        loop = asyncio.get_running_loop()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = _Batch()
            loop.call_soon(self._start_flush, loop, batch)
        batch.items.extend(adjustments)
        done: asyncio.Future[None] = loop.create_future()
        batch.waiters.append(done)
        await done

    def _start_flush(self, loop: asyncio.AbstractEventLoop, batch: _Batch) -> None:
        if self._batches.get(loop) is batch:
            del self._batches[loop]
        task = loop.create_task(self._flush(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: _Batch) -> None:
        error: BaseException | None = None
        try:
            for start in range(0, len(batch.items), _MAX_BATCH):
                items = batch.items[start : start + _MAX_BATCH]
                args: list[Any] = []
                for item in items:
                    args += [item.amount, item.expires_at]
                await self._script(ADJUST, [self.key(item.counter) for item in items], args)
        except BaseException as failure:  # handed to every caller, cancellation included
            error = failure
        for waiter in batch.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            elif isinstance(error, asyncio.CancelledError):
                waiter.cancel()
            else:
                waiter.set_exception(error)
        if isinstance(error, asyncio.CancelledError):
            raise error

    async def read(self, counters: Sequence[str]) -> list[int]:
        values = await self._lane().client.mget([self.key(counter) for counter in counters])
        return [int(value or 0) for value in values]


def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


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
