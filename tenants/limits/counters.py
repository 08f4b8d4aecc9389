"""The shared counters behind admission: one atomic check-and-reserve per call, across workers.

Two backends, one interface, chosen by configuration (``backend()``):

- ``RedisCounters`` (``REDIS_URL`` set): one Lua script per call: every check, then every
  increment, or nothing. No database on the warm path.
- ``DatabaseCounters`` (the embedded profile): one transaction holding the row locks of every
  counter it checks (SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway).

Both are exact under concurrency: ``tests/limits/test_exactness.py`` admits exactly the quota
out of 200 concurrent calls on each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings

from tenants.limits.policy import Check


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one call's checks."""

    refused: int | None  # index of the first check that refused; None: admitted and reserved
    used: tuple[int, ...]  # per check: after this call's reservation (before it, if refused)
    resets_ms: tuple[int, ...]  # per rate check: when its window frees a slot; 0 for quotas
    now_ms: int  # the backend's clock (the rate windows are measured on it)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A later change to one period counter: tokens settled (+), a reservation given back (-)."""

    counter: str
    amount: int
    expires_at: int


class Counters(Protocol):
    async def admit(self, checks: Sequence[Check]) -> Verdict: ...
    async def adjust(self, adjustments: Sequence[Adjustment]) -> None: ...
    async def read(self, counters: Sequence[str]) -> list[int]: ...


def backend() -> Counters:
    """The counters of the running configuration (one per process and configuration)."""
    prefix = str(settings.CACHES["default"].get("KEY_PREFIX", ""))
    return _backend_for(settings.REDIS_URL, prefix)


@cache
def _backend_for(redis_url: str, prefix: str) -> Counters:
    if redis_url:
        from tenants.limits.redis_counters import RedisCounters

        return RedisCounters(redis_url, prefix)
    from tenants.limits.db_counters import DatabaseCounters

    return DatabaseCounters()
