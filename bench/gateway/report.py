"""From a run's results (the JSON file) to the goals, the markdown tables and the README.

Pure functions of the results dict, so that they are tested without running anything.
"""

from __future__ import annotations

import math
from typing import Any

from bench.gateway import plan as goals_
from bench.gateway.calls import DIRECT, DIRECT_OPENAI, LITELLM, NGINX, PORTAL
from bench.gateway.stats import ratio

README_START = "<!-- bench:gateway:start -->"
README_END = "<!-- bench:gateway:end -->"
Results = dict[str, Any]


def _added(s1: Results, name: str, base: str, key: str) -> float:
    try:
        return float(s1[name][key] - s1[base][key])
    except (KeyError, TypeError):
        return math.nan


def goals(results: Results) -> list[dict[str, Any]]:
    """Each goal of the issue with its measured value and whether it was met (None: not
    measured in this run)."""
    rows: list[dict[str, Any]] = []

    def add(metric: str, goal: str, value: str, met: bool | None) -> None:
        rows.append({"metric": metric, "goal": goal, "value": value, "met": met})

    s1 = results.get("s1", {})
    plain = s1.get("list", {})
    portal_p50 = _added(plain, PORTAL, DIRECT, "p50_ms")
    portal_p99 = _added(plain, PORTAL, DIRECT, "p99_ms")
    nginx_p50 = _added(plain, NGINX, DIRECT, "p50_ms")
    nginx_p99 = _added(plain, NGINX, DIRECT, "p99_ms")
    if not math.isnan(portal_p50) and not math.isnan(nginx_p50):
        r50 = ratio(portal_p50, nginx_p50, floor=goals_.NGINX_FLOOR_MS)
        r99 = ratio(portal_p99, nginx_p99, floor=goals_.NGINX_FLOOR_MS)
        add(
            "added p50 / p99, plain call",
            f"≤ {goals_.GOAL_ADDED_P50_VS_NGINX:g}x / "
            f"≤ {goals_.GOAL_ADDED_P99_VS_NGINX:g}x nginx's",
            f"{_ms(portal_p50)} / {_ms(portal_p99)} ms = {r50:.1f}x / {r99:.1f}x nginx's "
            f"({_ms(nginx_p50)} / {_ms(nginx_p99)} ms)",
            r50 <= goals_.GOAL_ADDED_P50_VS_NGINX and r99 <= goals_.GOAL_ADDED_P99_VS_NGINX,
        )
    completion = s1.get("completion", {})
    portal_c = _added(completion, PORTAL, DIRECT, "p50_ms")
    litellm_c = _added(completion, LITELLM, DIRECT_OPENAI, "p50_ms")
    s2 = results.get("s2", {})
    if not math.isnan(portal_c) and not math.isnan(litellm_c):
        share = portal_c / litellm_c if litellm_c > 0 else math.inf
        add(
            "added p50 against LiteLLM (a completion)",
            f"≤ 1/{1 / goals_.GOAL_ADDED_VS_LITELLM:g} of LiteLLM's",
            f"{_ms(portal_c)} ms vs {_ms(litellm_c)} ms = 1/{1 / share:.0f}"
            if share > 0
            else f"{_ms(portal_c)} ms vs {_ms(litellm_c)} ms",
            share <= goals_.GOAL_ADDED_VS_LITELLM,
        )
        portal_rps = s2.get("completion", {}).get(PORTAL, {}).get("rps")
        litellm_rps = s2.get("completion", {}).get(LITELLM, {}).get("rps")
        if portal_rps and litellm_rps:
            times = portal_rps / litellm_rps
            add(
                "req/s against LiteLLM (a completion)",
                f"≥ {goals_.GOAL_RPS_VS_LITELLM:g}x LiteLLM's",
                f"{portal_rps:,.0f} vs {litellm_rps:,.0f} req/s = {times:.1f}x",
                times >= goals_.GOAL_RPS_VS_LITELLM,
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
            f"≥ {goals_.GOAL_RPS:,.0f}",
            f"{rps:,.0f}",
            rps >= goals_.GOAL_RPS,
        )
    s3 = results.get("s3", {})
    sustained = s3.get("sustained", {}).get(PORTAL)
    rates = results.get("plan", {}).get("s3_rates", [])
    if sustained is not None and rates and max(rates) >= goals_.GOAL_STREAMS_PER_SECOND:
        add(
            "new streams/s sustained (20 tokens, 10 ms apart)",
            f"≥ {goals_.GOAL_STREAMS_PER_SECOND}",
            f"{sustained} (ladder up to {max(rates)})",
            sustained >= goals_.GOAL_STREAMS_PER_SECOND,
        )
    ladder = s3.get("ladder", {})
    rung = str(goals_.TTFB_GOAL_RATE)
    if rung in ladder.get(PORTAL, {}) and rung in ladder.get(DIRECT, {}):
        p = ladder[PORTAL][rung]["ttfb"]
        d = ladder[DIRECT][rung]["ttfb"]
        a50, a99 = p["p50_ms"] - d["p50_ms"], p["p99_ms"] - d["p99_ms"]
        add(
            f"added TTFB at {rung} streams/s, p50 / p99",
            f"≤ {goals_.GOAL_ADDED_TTFB_P50_MS:g} / ≤ {goals_.GOAL_ADDED_TTFB_P99_MS:g} ms",
            f"{_ms(a50)} / {_ms(a99)} ms",
            a50 <= goals_.GOAL_ADDED_TTFB_P50_MS and a99 <= goals_.GOAL_ADDED_TTFB_P99_MS,
        )
    gaps = s3.get("gaps", {})
    if PORTAL in gaps and DIRECT in gaps:
        added_gap = gaps[PORTAL]["p99_ms"] - gaps[DIRECT]["p99_ms"]
        add(
            "added inter-token gap p99",
            f"≤ {goals_.GOAL_ADDED_GAP_P99_MS:g} ms",
            f"{_ms(added_gap)} ms (p99 {_ms(gaps[PORTAL]['p99_ms'])} vs direct "
            f"{_ms(gaps[DIRECT]['p99_ms'])}; reads with several tokens: "
            f"{gaps[PORTAL]['coalesced_reads']} vs {gaps[DIRECT]['coalesced_reads']})",
            added_gap <= goals_.GOAL_ADDED_GAP_P99_MS,
        )
    s5 = results.get("s5_s6", {}).get(PORTAL)
    if s5:
        first = s5["rounds"][0]
        per = first.get("kib_per_stream")
        if per is not None:
            add(
                f"memory per open stream at {first['opened']:,} open",
                f"≤ {goals_.GOAL_KIB_PER_STREAM:g} KB",
                f"{per:.1f} KiB",
                per <= goals_.GOAL_KIB_PER_STREAM,
            )
        worst = max(r["close_delay"]["max_ms"] for r in s5["rounds"])
        closed = all(r["upstream_closed"] == r["opened"] for r in s5["rounds"])
        all_open = all(r["opened"] == r["streams"] for r in s5["rounds"])
        notes = "" if closed else " (some never closed)"
        if not all_open:
            refused = sum(r["streams"] - r["opened"] for r in s5["rounds"])
            notes += f" ({refused:,} streams did not open)"
        add(
            "disconnect storm: upstream request closed after the client left",
            f"all within {goals_.GOAL_STORM_CLOSE_MS:g} ms",
            f"p99 {_ms(first['close_delay']['p99_ms'])} ms, max {_ms(worst)} ms{notes}",
            closed and all_open and worst <= goals_.GOAL_STORM_CLOSE_MS,
        )
        usage = results.get("s6_usage")
        if usage:
            add(
                "disconnect storm: usage rows",
                "one per stream",
                f"{usage['rows']:,} rows ({usage['disconnected']:,} marked disconnected) "
                f"for {usage['streams']:,} streams",
                usage["rows"] == usage["streams"] == usage["disconnected"],
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
    value = ratio(portal, nginx, floor=goals_.QUICK_NGINX_FLOOR_MS)
    text = (
        f"portal adds {_ms(portal)} ms p50, nginx {_ms(nginx)} ms (best repetitions): "
        f"{value:.1f}x (allowed {max_ratio:g}x, nginx counted as at least "
        f"{goals_.QUICK_NGINX_FLOOR_MS:g} ms)"
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
    if pressure is None or pressure <= goals_.QUICK_BUSY_PRESSURE:
        return ""
    return f"the machine was busy: CPU pressure {pressure:.0f} % while the plain call was measured"


# -- markdown ----------------------------------------------------------------------------------


def markdown(results: Results) -> str:
    meta = results["meta"]
    lines = [
        f"Gateway benchmark ({results['plan']['name']} run), {meta['date']}: "
        f"{meta['machine']['cpus']} CPUs ({meta['machine']['cpu']}), "
        f"Linux {meta['machine']['kernel']}, "
        f"Python {meta['machine']['python']}; load average before/after "
        f"{_load(meta['load_before'])} / {_load(meta['load_after'])}"
        f"{_pressure(meta)}. "
        f"Gateways pinned to CPU {meta['proxy_cpu']}, stub, Redis and client to CPU "
        f"{meta['client_cpu']}; one worker each; database {meta['database']}.",
        "",
        "| metric | goal | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    for row in results.get("goals", []):
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        lines.append(f"| {row['metric']} | {row['goal']} | {row['value']} | {met} |")
    lines.append("")
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines.append(f"Versions: {versions}.")
    return "\n".join(lines) + "\n"


def details(results: Results) -> str:
    """The per-scenario tables under the summary (the results file, not the README)."""
    out: list[str] = []
    s1 = results.get("s1", {})
    for kind, rows in s1.items():
        base = DIRECT_OPENAI if kind == "completion" else DIRECT
        out += [
            f"### S1: one {kind} call at a time (ms)",
            "",
            _row(
                *("target", "calls", "p50", "p90", "p99", "added p50", "added p99", "failed"),
                "p50 per repetition",
                "CPU µs per call",
            ),
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
        ]
        for name, row in rows.items():
            baseline = base if name in (LITELLM, DIRECT_OPENAI) else DIRECT
            a50 = _added(rows, name, baseline, "p50_ms") if name != baseline else 0.0
            a99 = _added(rows, name, baseline, "p99_ms") if name != baseline else 0.0
            out.append(
                f"| {name} | {row['count']:,} | {_ms(row['p50_ms'])} | {_ms(row['p90_ms'])} | "
                f"{_ms(row['p99_ms'])} | {_ms(a50)} | {_ms(a99)} | {row['failed']} | "
                f"{', '.join(_ms(v) for v in row['p50_per_rep_ms'])} | "
                f"{_cpu(row.get('cpu_us_per_call'))} |"
            )
        out.append("")
    for kind, rows in results.get("s2", {}).items():
        out += [
            f"### S2: saturation, {kind} call "
            f"(wrk, 1 thread, {results['plan']['s2_connections']} connections)",
            "",
            _row(
                *("target", "req/s (median)", "per repetition", "p50 ms", "p99 ms"),
                *("non-2xx", "CPU µs per call"),
            ),
            "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for name, row in rows.items():
            out.append(
                _row(
                    name,
                    f"{row['rps']:,.0f}",
                    ", ".join(f"{v:,}" for v in row["rps_per_rep"]),
                    _ms(row.get("p50_ms", math.nan)),
                    _ms(row.get("p99_ms", math.nan)),
                    f"{row['non_2xx']:.0f}",
                    _cpu(row.get("cpu_us_per_call")),
                )
            )
        out.append("")
    s3 = results.get("s3")
    if s3:
        out += [
            "### S3: stream ladder (new streams/s; TTFB p50 / p99 ms; complete / offered)",
            "",
            "| rate | " + " | ".join(s3["ladder"]) + " |",
            "| ---: | " + " | ".join("---" for _ in s3["ladder"]) + " |",
        ]
        rates = next(iter(s3["ladder"].values())).keys()
        for rate in rates:
            cells = []
            for rows in s3["ladder"].values():
                row = rows[rate]
                cells.append(
                    f"{_ms(row['ttfb']['p50_ms'])} / {_ms(row['ttfb']['p99_ms'])} "
                    f"({row['complete']}/{row['offered']})"
                )
            out.append(f"| {rate} | " + " | ".join(cells) + " |")
        sustained = ", ".join(f"{k} {v}/s" for k, v in s3["sustained"].items())
        out += [
            "",
            "Sustained (every stream complete, added TTFB p99 "
            f"≤ {goals_.SUSTAINED_ADDED_TTFB_P99_MS:g} ms): {sustained}.",
            "",
        ]
        out += [
            f"### S4: inter-token gaps at {next(iter(s3['gaps'].values()))['rate']} streams/s "
            f"(nominal {results['plan']['stream_gap_ms']:g} ms)",
            "",
            "| target | gaps | p50 ms | p99 ms | max ms | reads with several tokens |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, row in s3["gaps"].items():
            out.append(
                f"| {name} | {row['count']:,} | {_ms(row['p50_ms'])} | {_ms(row['p99_ms'])} | "
                f"{_ms(row['max_ms'])} | {row['coalesced_reads']} |"
            )
        out.append("")
    s5 = results.get("s5_s6")
    if s5:
        out += [
            "### S5 / S6: open streams, then every client leaves at once",
            "",
            _row(
                "target",
                "round",
                "opened",
                "KiB per stream",
                "upstream closed",
                "close delay p50 / p99 / max ms",
                "RSS before / open / after KiB",
                "sockets before / open / after",
            ),
            "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
        ]
        for name, data in s5.items():
            for number, row in enumerate(data["rounds"], 1):
                delay = row["close_delay"]
                rss, socks = (
                    _before_during_after(row, "rss_kib"),
                    _before_during_after(row, "sockets"),
                )
                out.append(
                    f"| {name} | {number} | {row['opened']:,} | {row.get('kib_per_stream', '-')} | "
                    f"{row['upstream_closed']:,} | "
                    f"{_ms(delay['p50_ms'])} / {_ms(delay['p99_ms'])} / {_ms(delay['max_ms'])} | "
                    f"{rss} | {socks} |"
                )
        out.append("")
    s7 = results.get("s7")
    if s7:
        out += [
            "### S7: rejections on the portal",
            "",
            "| case | status | p50 ms | p99 ms | req/s |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for case, row in s7.items():
            out.append(
                f"| {case} | {', '.join(map(str, row['status']))} | {_ms(row['p50_ms'])} | "
                f"{_ms(row['p99_ms'])} | {row['rps']:,.0f} |"
            )
        out.append("")
    checks = results.get("checks", [])
    if checks:
        out += ["### Checks", ""]
        out += [f"- {'ok' if c['ok'] else 'FAILED'}: {c['check']}: {c['detail']}" for c in checks]
        out.append("")
    flagged = [o for o in results.get("overflows", []) if o["after"] > o["before"]]
    out.append(
        "Listen queue overflows (TcpExtListenOverflows): "
        + (
            ", ".join(f"{o['cell']} +{o['after'] - o['before']}" for o in flagged)
            if flagged
            else "none in any cell"
        )
        + "."
    )
    return "\n".join(out) + "\n"


def update_readme(readme: str, table: str) -> str:
    """``readme`` with the text between the bench markers replaced by ``table``."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {README_START} ... {README_END} section")
    return readme[: start + len(README_START)] + "\n" + table.rstrip("\n") + "\n" + readme[end:]


def _before_during_after(row: Results, key: str) -> str:
    if not row["before"]:
        return "-"
    return " / ".join(f"{row[moment].get(key, 0):,}" for moment in ("before", "during", "after"))


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return (
        f"{value:.2f}"
        if abs(value) < 10
        else f"{value:.1f}"
        if abs(value) < 100
        else f"{value:,.0f}"
    )


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _pressure(meta: Results) -> str:
    before, after = meta.get("cpu_pressure_before"), meta.get("cpu_pressure_after")
    if not before or not after:
        return ""
    return (
        f", CPU pressure (share of time a task waited for a CPU, 60 s) "
        f"{before.get('avg60', 0):.0f} % / {after.get('avg60', 0):.0f} %"
    )


def _load(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)
