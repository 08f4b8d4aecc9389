"""The issue's goals, read from a run's results: what was reached, and the quick mode's rule.

Pure functions of the results dict (the JSON file), tested without running anything.
"""

from __future__ import annotations

import math
from typing import Any

from bench.gateway import plan
from bench.gateway.calls import DIRECT, DIRECT_OPENAI, LITELLM, NGINX, PORTAL
from bench.gateway.stats import format_ms as _ms
from bench.gateway.stats import ratio

Results = dict[str, Any]


def added_ms(s1: Results, name: str, base: str, key: str) -> float:
    try:
        return float(s1[name][key] - s1[base][key])
    except (KeyError, TypeError):
        return math.nan


def evaluate(results: Results) -> list[dict[str, Any]]:
    """Each goal of the issue with its measured value and whether it was met (None: not
    measured in this run)."""
    rows: list[dict[str, Any]] = []

    def add(metric: str, goal: str, value: str, met: bool | None) -> None:
        rows.append({"metric": metric, "goal": goal, "value": value, "met": met})

    s1 = results.get("s1", {})
    plain = s1.get("list", {})
    portal_p50 = added_ms(plain, PORTAL, DIRECT, "p50_ms")
    portal_p99 = added_ms(plain, PORTAL, DIRECT, "p99_ms")
    nginx_p50 = added_ms(plain, NGINX, DIRECT, "p50_ms")
    nginx_p99 = added_ms(plain, NGINX, DIRECT, "p99_ms")
    if not math.isnan(portal_p50) and not math.isnan(nginx_p50):
        r50 = ratio(portal_p50, nginx_p50, floor=plan.NGINX_FLOOR_MS)
        r99 = ratio(portal_p99, nginx_p99, floor=plan.NGINX_FLOOR_MS)
        add(
            "added p50 / p99, plain call",
            f"≤ {plan.GOAL_ADDED_P50_VS_NGINX:g}x / ≤ {plan.GOAL_ADDED_P99_VS_NGINX:g}x nginx's",
            f"{_ms(portal_p50)} / {_ms(portal_p99)} ms = {r50:.1f}x / {r99:.1f}x nginx's "
            f"({_ms(nginx_p50)} / {_ms(nginx_p99)} ms)",
            r50 <= plan.GOAL_ADDED_P50_VS_NGINX and r99 <= plan.GOAL_ADDED_P99_VS_NGINX,
        )
    completion = s1.get("completion", {})
    portal_c = added_ms(completion, PORTAL, DIRECT, "p50_ms")
    litellm_c = added_ms(completion, LITELLM, DIRECT_OPENAI, "p50_ms")
    s2 = results.get("s2", {})
    if not math.isnan(portal_c) and not math.isnan(litellm_c):
        share = portal_c / litellm_c if litellm_c > 0 else math.inf
        add(
            "added p50 against LiteLLM (a completion)",
            f"≤ 1/{1 / plan.GOAL_ADDED_VS_LITELLM:g} of LiteLLM's",
            f"{_ms(portal_c)} ms vs {_ms(litellm_c)} ms = 1/{1 / share:.0f}"
            if share > 0
            else f"{_ms(portal_c)} ms vs {_ms(litellm_c)} ms",
            share <= plan.GOAL_ADDED_VS_LITELLM,
        )
        portal_rps = s2.get("completion", {}).get(PORTAL, {}).get("rps")
        litellm_rps = s2.get("completion", {}).get(LITELLM, {}).get("rps")
        if portal_rps and litellm_rps:
            times = portal_rps / litellm_rps
            add(
                "req/s against LiteLLM (a completion)",
                f"≥ {plan.GOAL_RPS_VS_LITELLM:g}x LiteLLM's",
                f"{portal_rps:,.0f} vs {litellm_rps:,.0f} req/s = {times:.1f}x",
                times >= plan.GOAL_RPS_VS_LITELLM,
            )
    elif "litellm_skipped" in results:
        add(
            "against LiteLLM",
            "≤ 1/10 added, ≥ 8x req/s",
            f"not measured: {results['litellm_skipped']}",
            None,
        )
    saturated = s2.get("list", {})
    if saturated.get(PORTAL, {}).get("cpu_us_per_call") and saturated.get(NGINX, {}).get(
        "cpu_us_per_call"
    ):
        portal_cpu = saturated[PORTAL]["cpu_us_per_call"]
        nginx_cpu = saturated[NGINX]["cpu_us_per_call"]
        add(
            "CPU per plain call at saturation (less sensitive to a busy machine)",
            "(no goal: the cost behind the ratios)",
            f"portal {portal_cpu:,.0f} µs, nginx {nginx_cpu:,.0f} µs "
            f"({portal_cpu / nginx_cpu:.1f}x); at most {1e6 / portal_cpu:,.0f} req/s per core",
            None,
        )
    rps = s2.get("list", {}).get(PORTAL, {}).get("rps")
    if rps:
        add(
            "req/s at saturation, plain call",
            f"≥ {plan.GOAL_RPS:,.0f}",
            f"{rps:,.0f}",
            rps >= plan.GOAL_RPS,
        )
    s3 = results.get("s3", {})
    sustained = s3.get("sustained", {}).get(PORTAL)
    rates = results.get("plan", {}).get("s3_rates", [])
    if sustained is not None and rates and max(rates) >= plan.GOAL_STREAMS_PER_SECOND:
        add(
            "new streams/s sustained (20 tokens, 10 ms apart)",
            f"≥ {plan.GOAL_STREAMS_PER_SECOND}",
            f"{sustained} (ladder up to {max(rates)})",
            sustained >= plan.GOAL_STREAMS_PER_SECOND,
        )
    ladder = s3.get("ladder", {})
    rung = str(plan.TTFB_GOAL_RATE)
    at_rung = _ttfb_at(ladder, rung)
    if PORTAL in at_rung and DIRECT in at_rung:
        a50 = added_ms(at_rung, PORTAL, DIRECT, "p50_ms")
        a99 = added_ms(at_rung, PORTAL, DIRECT, "p99_ms")
        add(
            f"added TTFB at {rung} streams/s, p50 / p99",
            f"≤ {plan.GOAL_ADDED_TTFB_P50_MS:g} / ≤ {plan.GOAL_ADDED_TTFB_P99_MS:g} ms",
            f"{_ms(a50)} / {_ms(a99)} ms{_ttfb_context(ladder, rung)}",
            a50 <= plan.GOAL_ADDED_TTFB_P50_MS and a99 <= plan.GOAL_ADDED_TTFB_P99_MS,
        )
    gaps = s3.get("gaps", {})
    if PORTAL in gaps and DIRECT in gaps:
        added_gap = gaps[PORTAL]["p99_ms"] - gaps[DIRECT]["p99_ms"]
        add(
            "added inter-token gap p99",
            f"≤ {plan.GOAL_ADDED_GAP_P99_MS:g} ms",
            f"{_ms(added_gap)} ms (p99 {_ms(gaps[PORTAL]['p99_ms'])} vs direct "
            f"{_ms(gaps[DIRECT]['p99_ms'])}; reads with several tokens: "
            f"{gaps[PORTAL]['coalesced_reads']} vs {gaps[DIRECT]['coalesced_reads']})",
            added_gap <= plan.GOAL_ADDED_GAP_P99_MS,
        )
    s5 = results.get("s5_s6", {}).get(PORTAL)
    if s5:
        first = s5["rounds"][0]
        per = first.get("kib_per_stream")
        if per is not None:
            add(
                f"memory per open stream at {first['opened']:,} open",
                f"≤ {plan.GOAL_KIB_PER_STREAM:g} KB",
                f"{per:.1f} KiB",
                per <= plan.GOAL_KIB_PER_STREAM,
            )
        worst = max(r["close_delay"]["max_ms"] for r in s5["rounds"])
        closed = all(r["upstream_closed"] == r["opened"] for r in s5["rounds"])
        all_open = all(r["opened"] == r["streams"] for r in s5["rounds"])
        notes = "" if closed else " (some never closed)"
        if not all_open:
            refused = sum(r["streams"] - r["opened"] for r in s5["rounds"])
            notes += f" ({refused:,} {'stream' if refused == 1 else 'streams'} did not open)"
        add(
            "disconnect storm: upstream request closed after the client left",
            f"all within {plan.GOAL_STORM_CLOSE_MS:g} ms",
            f"p99 {_ms(first['close_delay']['p99_ms'])} ms, max {_ms(worst)} ms{notes}",
            closed and all_open and worst <= plan.GOAL_STORM_CLOSE_MS,
        )
        usage = results.get("s6_usage")
        if usage:
            add(
                "disconnect storm: usage rows",
                "one per stream",
                f"{usage['rows']:,} rows for {usage.get('calls', usage['streams']):,} calls; "
                f"{usage['disconnected']:,} marked disconnected for {usage['streams']:,} streams",
                usage["rows"] == usage.get("calls", usage["streams"])
                and usage["disconnected"] == usage["streams"],
            )
        last = s5["rounds"][-1]
        if len(s5["rounds"]) > 1 and last.get("after"):
            grown = last["after"]["rss_kib"] - s5["rounds"][0]["after"]["rss_kib"]
            sockets = last["after"]["sockets"] - first["before"]["sockets"]
            add(
                "after the storms: leaks",
                "none",
                f"memory {grown:+,} KiB between rounds, sockets {sockets:+d}",
                sockets <= 0
                and grown <= 0.1 * max(1, first["during"]["rss_kib"] - first["before"]["rss_kib"]),
            )
    s7 = results.get("s7")
    if s7 and plain.get(PORTAL):
        forwarded = plain[PORTAL]["p50_ms"]
        worst_case = max(s7.values(), key=lambda row: row["p50_ms"])
        cheaper = all(row["p50_ms"] < forwarded for row in s7.values())
        reached = next(
            (
                c
                for c in results.get("checks", [])
                if c["check"] == "rejections never reach the stub"
            ),
            None,
        )
        add(
            "rejections (bad token, wrong scope, over limit)",
            "cheaper than a forwarded call, never reach the stub",
            f"p50 ≤ {_ms(worst_case['p50_ms'])} ms vs {_ms(forwarded)} ms forwarded; "
            f"{'none reached the stub' if reached and reached['ok'] else 'SOME REACHED THE STUB'}",
            cheaper and bool(reached and reached["ok"]),
        )
    return rows


def quick_verdict(results: Results, max_ratio: float) -> tuple[bool, str]:
    """The CI rule: the portal's added p50 at most ``max_ratio`` x nginx's, in the same run.

    Each target's p50 is its best repetition: other work on the machine only ever adds
    latency, so the best of a few short repetitions is the one least disturbed, for every
    target alike. nginx counts as adding at least ``QUICK_NGINX_FLOOR_MS``, so that its few
    microseconds, within noise, cannot swing the ratio.
    """
    plain = results.get("s1", {}).get("list", {})
    try:
        best = {name: min(plain[name]["p50_per_rep_ms"]) for name in (DIRECT, PORTAL, NGINX)}
    except (KeyError, ValueError):
        return False, "the plain call was not measured on the portal and nginx"
    portal, nginx = best[PORTAL] - best[DIRECT], best[NGINX] - best[DIRECT]
    value = ratio(portal, nginx, floor=plan.QUICK_NGINX_FLOOR_MS)
    text = (
        f"portal adds {_ms(portal)} ms p50, nginx {_ms(nginx)} ms (best repetitions): "
        f"{value:.1f}x (allowed {max_ratio:g}x, nginx counted as at least "
        f"{plan.QUICK_NGINX_FLOOR_MS:g} ms)"
    )
    return value <= max_ratio, text


def too_busy_to_judge(results: Results) -> str:
    """Why the quick verdict cannot be trusted, or "" when it can.

    The proxy needs twenty times nginx's CPU per call, so when other work keeps the CPUs busy
    it waits for its core far more often than nginx does, and the ratio measures the machine's
    load rather than the proxy. Past ``QUICK_BUSY_PRESSURE`` % of CPU pressure (the time some
    runnable task waited for a CPU, over the 10 s that ended the measured cells) a failure is
    reported but not counted.
    """
    pressure = results.get("s1_cpu_pressure", {}).get("avg10")
    if pressure is None or pressure <= plan.QUICK_BUSY_PRESSURE:
        return ""
    return f"the machine was busy: CPU pressure {pressure:.0f} % while the plain call was measured"


def _ttfb_at(ladder: dict[str, Any], rung: str) -> Results:
    """Each target's TTFB at one rung of the ladder, shaped as ``added_ms`` reads S1's rows."""
    return {name: rows[rung]["ttfb"] for name, rows in ladder.items() if rung in rows}


def _ttfb_context(ladder: dict[str, Any], rung: str) -> str:
    """What the TTFB row needs beside it to be read: nginx's added TTFB at the same rung, and
    the portal's at the ladder's top rung, where the core no longer sleeps between calls (see
    system.wake_penalty)."""
    parts = []
    at_rung = _ttfb_at(ladder, rung)
    if NGINX in at_rung:
        nginx_p50 = added_ms(at_rung, NGINX, DIRECT, "p50_ms")
        nginx_p99 = added_ms(at_rung, NGINX, DIRECT, "p99_ms")
        parts.append(f"nginx adds {_ms(nginx_p50)} / {_ms(nginx_p99)} ms")
    top = max(ladder.get(PORTAL, {}), key=int, default=rung)
    at_top = _ttfb_at(ladder, top)
    if top != rung and DIRECT in at_top:
        parts.append(f"portal at {top}/s: {_ms(added_ms(at_top, PORTAL, DIRECT, 'p50_ms'))} ms p50")
    return f" ({'; '.join(parts)})" if parts else ""
