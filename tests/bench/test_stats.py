"""The bench's arithmetic: percentiles as load tools compute them, summaries in ms, ratios."""

from __future__ import annotations

import math

import pytest

from bench.gateway.stats import Summary, added, percentile, ratio


def test_percentiles_interpolate_between_closest_ranks():
    values = [4.0, 1.0, 3.0, 2.0]  # order does not matter

    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(values, 99) == pytest.approx(3.97)


def test_a_single_value_is_every_percentile_and_no_value_is_nan():
    assert percentile([7.0], 1) == percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_a_percentile_outside_0_to_100_is_refused():
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_a_summary_turns_seconds_into_milliseconds():
    summary = Summary.of([0.001] * 99 + [0.101])

    assert summary.count == 100
    assert summary.p50 == pytest.approx(1.0)
    assert summary.max == pytest.approx(101.0)
    assert summary.as_dict()["p50_ms"] == 1.0


def test_added_latency_is_the_difference_to_the_direct_call():
    direct = Summary.of([0.0001, 0.0002])
    gateway = Summary.of([0.0006, 0.0007])

    p50, p99 = added(gateway, direct)

    assert p50 == pytest.approx(0.5)
    assert p99 == pytest.approx(0.5)


def test_a_ratio_against_a_floor_near_zero_is_held_at_the_floor():
    assert ratio(0.6, 0.2, floor=0.03) == pytest.approx(3.0)
    assert ratio(0.6, 0.001, floor=0.03) == pytest.approx(20.0)
    assert ratio(0.6, -0.01, floor=0.03) == pytest.approx(20.0)
