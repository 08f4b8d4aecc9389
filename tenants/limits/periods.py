"""Billing periods: calendar months in the account's time zone.

A period starts at local midnight on the 1st and ends at local midnight on the next 1st, so a
tenant in Europe/Paris resets at 23:00 UTC on the last day of a winter month and at 22:00 UTC
in summer. The bounds are computed from the wall-clock date with ``zoneinfo``; where a zone's
clocks skip midnight on the 1st, the period starts at the first instant after the gap (what
``fold=0`` gives), so every instant belongs to exactly one period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # "2025-11": the counters' key, stable for the whole period
    start: datetime  # aware, in the account's zone
    end: datetime  # aware, in the account's zone: the next period's start
    end_s: int = field(init=False, repr=False, compare=False)  # ``end`` in epoch seconds

    def __post_init__(self) -> None:
        # Read for every counter of every admission (its expiry): computed once.
        object.__setattr__(self, "end_s", int(self.end.timestamp()))

    @property
    def label(self) -> str:
        """``November``: the period's name in messages."""
        return self.start.strftime("%B")

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def seconds_left(self, now: datetime) -> float:
        # Timestamps, not ``end - now``: two datetimes of the same zone subtract as wall
        # clocks, which is an hour off across a DST change.
        return max(0.0, self.end.timestamp() - now.timestamp())

    def describe_reset(self) -> str:
        """``1 December 00:00 Europe/Paris``."""
        return f"{self.end.day} {self.end:%B %H:%M} {self.end.tzinfo}"


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The zone called ``name``; UTC for a name this machine does not know (never an error on
    the hot path: the services validate time zones when they are set)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def period_at(timezone: str, now: datetime | None = None) -> Period:
    """The calendar month, in ``timezone``, that contains the instant ``now`` (default: now)."""
    instant = now or datetime.now(UTC)
    # Every admission asks this for each level: the zone's current month is kept, with its
    # bounds as timestamps, and computed again only for an instant outside it.
    at = instant.timestamp()
    known = _current.get(timezone)
    if known is not None and known[0] <= at < known[1]:
        return known[2]
    tz = zone(timezone)
    local = instant.astimezone(tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    end = datetime(year, month, 1, tzinfo=tz)
    period = Period(key=f"{local.year:04d}-{local.month:02d}", start=start, end=end)
    if len(_current) >= 512:
        _current.clear()
    _current[timezone] = (start.timestamp(), end.timestamp(), period)
    return period


# Zone name → (start, end, period) of the month last asked for (any month, not only today's:
# the usage pages ask for past ones, and the next call for today's replaces it).
_current: dict[str, tuple[float, float, Period]] = {}
