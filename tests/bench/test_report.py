"""From a run's numbers to goals, tables and the README section; and wrk's output parsed."""

from __future__ import annotations

import pytest

from bench.gateway import goals, report
from bench.gateway.stub import Knobs
from bench.gateway.system import parse_wrk, wake_penalty


def _latency(p50: float, p99: float) -> dict[str, object]:
    return {
        "count": 1000,
        "p50_ms": p50,
        "p90_ms": p50,
        "p99_ms": p99,
        "max_ms": p99,
        "mean_ms": p50,
        "failed": 0,
        "p50_per_rep_ms": [round(p50, 3)],
    }


def _results(portal_p50: float = 0.5, nginx_p50: float = 0.2) -> dict[str, object]:
    return {
        "plan": {"name": "quick", "s3_rates": [50], "s2_connections": 50, "stream_gap_ms": 10},
        "meta": {
            "date": "2026-11-23 01:00 UTC",
            "machine": {"cpus": 2, "cpu": "Test CPU", "kernel": "6.1", "python": "3.12.1"},
            "load_before": [0.1, 0.2, 0.3],
            "load_after": [0.4, 0.5, 0.6],
            "proxy_cpu": 0,
            "client_cpu": 1,
            "database": "SQLite",
            "versions": {"uvicorn": "1.0"},
        },
        "s1": {
            "list": {
                "direct": _latency(0.1, 0.3),
                "portal": _latency(0.1 + portal_p50, 2.3),
                "nginx": _latency(0.1 + nginx_p50, 0.8),
            }
        },
        "s2": {
            "list": {
                "portal": {
                    "rps": 1800.0,
                    "rps_per_rep": [1800],
                    "non_2xx": 0,
                    "cpu_us_per_call": 500.0,
                },
                "nginx": {
                    "rps": 9000.0,
                    "rps_per_rep": [9000],
                    "non_2xx": 0,
                    "cpu_us_per_call": 40,
                },
            }
        },
        "s3": {
            "ladder": {
                "direct": {"50": {"ttfb": {"p50_ms": 0.5, "p99_ms": 2.0}}},
                "portal": {"50": {"ttfb": {"p50_ms": 1.0, "p99_ms": 6.0}}},
            },
            "sustained": {"direct": 50, "portal": 50},
            "gaps": {
                "direct": {"p99_ms": 11.0, "coalesced_reads": 0},
                "portal": {"p99_ms": 12.0, "coalesced_reads": 0},
            },
        },
        "litellm_skipped": "not part of the quick mode",
    }


def _goal(rows: list[dict[str, object]], metric: str) -> dict[str, object]:
    return next(row for row in rows if str(row["metric"]).startswith(metric))


def test_the_added_latency_goal_compares_with_nginx_in_the_same_run():
    rows = goals.evaluate(_results(portal_p50=0.5, nginx_p50=0.2))

    row = _goal(rows, "added p50 / p99, plain call")
    assert str(row["value"]).startswith("0.50 / 2.00 ms = 2.5x / 4.0x nginx")
    assert row["met"] is True


def test_a_portal_adding_more_than_three_times_nginx_misses_the_goal():
    row = _goal(goals.evaluate(_results(portal_p50=0.7, nginx_p50=0.2)), "added p50 / p99")

    assert row["met"] is False


def test_goals_read_throughput_ttfb_and_gaps_and_say_what_was_not_measured():
    rows = goals.evaluate(_results())

    assert _goal(rows, "req/s at saturation")["met"] is True
    ttfb = _goal(rows, "added TTFB at 50")
    assert ttfb["value"] == "0.50 / 4.00 ms"
    assert ttfb["met"] is False  # p99 over 3 ms
    assert _goal(rows, "added inter-token gap")["met"] is True
    skipped = _goal(rows, "against LiteLLM")
    assert skipped["met"] is None
    assert "quick mode" in str(skipped["value"])


def test_the_ttfb_row_shows_nginx_at_the_same_rung_and_the_portal_at_the_top_rung():
    results = _results()
    ladder = results["s3"]["ladder"]  # type: ignore[index]
    ladder["nginx"] = {"50": {"ttfb": {"p50_ms": 0.75, "p99_ms": 2.5}}}
    ladder["direct"]["300"] = {"ttfb": {"p50_ms": 0.4, "p99_ms": 1.0}}
    ladder["portal"]["300"] = {"ttfb": {"p50_ms": 1.1, "p99_ms": 3.0}}

    row = _goal(goals.evaluate(results), "added TTFB at 50")

    assert row["value"] == (
        "0.50 / 4.00 ms (nginx adds 0.25 / 0.50 ms; portal at 300/s: 0.70 ms p50)"
    )


def test_the_summary_says_how_slow_the_gateways_core_is_after_idling():
    results = _results()
    results["meta"]["wake"] = {  # type: ignore[index]
        "idle_us": 84.7,
        "warm_us": 2.5,
        "cpuidle": "haltpoll",
        "halt_poll_ns": "0",
    }

    text = report.markdown(results)

    assert (
        "on CPU 0, one HMAC takes 84.7 µs as the first thing after 20 ms idle and 2.5 µs right "
        "after (cpuidle haltpoll, guest halt polling 0 ns)"
    ) in text
    assert "Waking" not in report.markdown(_results())


def test_the_wake_probe_measures_this_machine():
    found = wake_penalty(None)

    # Both are real timings; which is larger depends on the machine (bare metal has no penalty).
    assert float(found["idle_us"]) > 0  # type: ignore[arg-type]
    assert float(found["warm_us"]) > 0  # type: ignore[arg-type]


def test_a_wake_probe_that_cannot_run_leaves_the_run_going():
    assert wake_penalty(10_000) == {}  # no such CPU to pin to


def test_the_cpu_per_call_is_shown_beside_the_goals_without_a_verdict():
    row = _goal(goals.evaluate(_results()), "CPU per plain call at saturation")

    assert row["value"] == "portal 500 µs, nginx 40 µs (12.5x); at most 2,000 req/s per core"
    assert row["met"] is None


def test_the_quick_verdict_fails_only_past_the_allowed_ratio():
    ok, text = goals.quick_verdict(_results(portal_p50=0.5, nginx_p50=0.2), max_ratio=3)
    assert ok
    assert "2.5x" in text

    ok, _ = goals.quick_verdict(_results(portal_p50=0.8, nginx_p50=0.2), max_ratio=3)
    assert not ok


def test_the_quick_verdict_takes_each_targets_best_repetition():
    results = _results(portal_p50=0.5, nginx_p50=0.2)
    s1 = results["s1"]["list"]  # type: ignore[index]
    s1["portal"]["p50_per_rep_ms"] = [4.0, 0.6, 2.0]  # one quiet repetition among busy ones
    s1["nginx"]["p50_per_rep_ms"] = [0.3, 0.9]
    s1["direct"]["p50_per_rep_ms"] = [0.1, 0.2]

    ok, text = goals.quick_verdict(results, max_ratio=3)

    assert ok
    assert "portal adds 0.50 ms p50, nginx 0.20 ms" in text


def test_a_floor_that_adds_nothing_is_counted_as_the_floor_value():
    ok, text = goals.quick_verdict(_results(portal_p50=0.5, nginx_p50=0.0), max_ratio=6)

    assert ok
    assert "5.0x" in text


def test_the_markdown_summary_is_one_table_with_the_machine_and_versions():
    results = _results()
    results["goals"] = goals.evaluate(results)

    text = report.markdown(results)

    assert "2 CPUs (Test CPU)" in text
    assert "load average before/after 0.10 0.20 0.30" in text
    assert "| metric | goal | measured | met |" in text
    assert "| req/s at saturation, plain call | ≥ 1,500 | 1,800 | yes |" in text
    assert "Versions: uvicorn 1.0." in text


def test_the_readme_section_between_the_markers_is_replaced():
    readme = f"# P\n\nbefore\n{report.README_START}\nold table\n{report.README_END}\nafter\n"

    updated = report.update_readme(readme, "| new | table |\n")

    assert updated == (
        f"# P\n\nbefore\n{report.README_START}\n| new | table |\n{report.README_END}\nafter\n"
    )


def test_a_readme_without_the_markers_is_refused():
    with pytest.raises(ValueError, match="no <!-- bench:gateway:start -->"):
        report.update_readme("# P\n", "table")


WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:9102/v1/bot/list
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.98ms   22.09ms 142.27ms   87.45%
    Req/Sec     1.56k   625.64     2.46k    67.50%
  Latency Distribution
     50%  815.00us
     75%   23.97ms
     90%   52.88ms
     99%    1.14s
  6208 requests in 4.01s, 9.08MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:   1549.57
Transfer/sec:      2.27MB
"""


def test_wrk_output_gives_throughput_errors_and_latency_in_ms():
    parsed = parse_wrk(WRK_OUTPUT)

    assert parsed["rps"] == 1549.57
    assert parsed["requests"] == 6208
    assert parsed["non_2xx"] == 12
    assert parsed["socket_errors"] == 5
    assert parsed["p50_ms"] == pytest.approx(0.815)
    assert parsed["p90_ms"] == pytest.approx(52.88)
    assert parsed["p99_ms"] == pytest.approx(1140.0)


def test_the_stub_reads_its_knobs_from_the_query_string():
    defaults = Knobs(tokens=20, gap=0.01)

    knobs = defaults.with_query(b"tokens=5&gap=2.5&first=100&sid=s-1")

    assert (knobs.tokens, knobs.gap, knobs.first, knobs.sid) == (5, 0.0025, 0.1, "s-1")
    assert defaults.with_query(b"") is defaults
    assert defaults.with_query(b"fail=503").fail == 503


def test_a_busy_machine_is_named_as_the_reason_not_to_judge():
    quiet, busy = _results(), _results()
    quiet["s1_cpu_pressure"] = {"avg10": 3.0, "avg60": 5.0}
    busy["s1_cpu_pressure"] = {"avg10": 70.0, "avg60": 60.0}

    assert goals.too_busy_to_judge(quiet) == ""
    assert "CPU pressure 70 %" in goals.too_busy_to_judge(busy)
    assert goals.too_busy_to_judge(_results()) == ""  # no pressure figures: judged
