"""From a run's results (the JSON file) to the markdown tables and the README.

Pure functions of the results dict, so that they are tested without running anything.
"""

from __future__ import annotations

import math
from typing import Any

from bench.gateway import plan as goals_
from bench.gateway.calls import DIRECT, DIRECT_OPENAI, LITELLM
from bench.gateway.goals import added_ms as _added
from bench.gateway.stats import format_ms as _ms

README_START = "<!-- bench:gateway:start -->"
README_END = "<!-- bench:gateway:end -->"
Results = dict[str, Any]


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
        f"{meta['client_cpu']}; one worker each; database {meta['database']}."
        f"{_wake(meta)}",
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


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _wake(meta: Results) -> str:
    wake = meta.get("wake")
    if not wake:
        return ""
    settings = []
    if wake.get("cpuidle"):
        settings.append(f"cpuidle {wake['cpuidle']}")
    if wake.get("halt_poll_ns"):
        settings.append(f"guest halt polling {wake['halt_poll_ns']} ns")
    how = f" ({', '.join(settings)})" if settings else ""
    return (
        f" Waking from idle (system.wake_penalty): on CPU {meta['proxy_cpu']}, one HMAC takes "
        f"{wake['idle_us']:g} µs as the first thing after 20 ms idle and {wake['warm_us']:g} µs "
        f"right after{how}; the low stream rates pay this at most steps of a call."
    )


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
