"""The arithmetic of the bench: percentiles, summaries and "added" figures. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks (the
    method numpy and most load tools call "linear"). NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """Milliseconds, from samples in seconds."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Summary:
        if not seconds:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        ms = [value * 1000 for value in seconds]
        return cls(
            count=len(ms),
            p50=percentile(ms, 50),
            p90=percentile(ms, 90),
            p99=percentile(ms, 99),
            max=max(ms),
            mean=sum(ms) / len(ms),
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "p50_ms": _round(self.p50),
            "p90_ms": _round(self.p90),
            "p99_ms": _round(self.p99),
            "max_ms": _round(self.max),
            "mean_ms": _round(self.mean),
        }


def added(target: Summary, baseline: Summary) -> tuple[float, float]:
    """What a gateway adds to the direct call: (p50, p99) differences in ms."""
    return target.p50 - baseline.p50, target.p99 - baseline.p99


def ratio(value: float, floor_value: float, *, floor: float) -> float:
    """``value / floor_value``, the denominator held at ``floor`` or above: a floor gateway that
    adds next to nothing (a few microseconds, within noise) must not make any ratio infinite."""
    return value / max(floor_value, floor)


def _round(value: float) -> float:
    return value if math.isnan(value) else round(value, 3)


def format_ms(value: float | None) -> str:
    """Milliseconds for a table: two decimals below 10, one below 100, none above."""
    if value is None or math.isnan(value):
        return "-"
    if abs(value) < 10:
        return f"{value:.2f}"
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"
