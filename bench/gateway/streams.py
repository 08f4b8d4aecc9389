"""The stream scenarios: S3 (the ladder of new streams/s), S4 (inter-token gaps, from the
ladder's 50/s rung), S5 (many open streams) and S6 (every client of S5 leaving at once)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.gateway import system
from bench.gateway.calls import DIRECT, PORTAL, Target, stream_call
from bench.gateway.loadgen import Exchange, Stream, arrivals, run_open_loop
from bench.gateway.plan import SUSTAINED_ADDED_TTFB_P99_MS, Plan
from bench.gateway.scenarios import Run, client_for
from bench.gateway.stats import Summary

# New streams per second while S5 opens its streams: well inside what the ladder (S3) shows a
# gateway sustains, so that S5 measures holding streams, not opening them.
OPEN_RATE = 100

# -- S3 / S4: the stream ladder and inter-token gaps ------------------------------------------


async def s3_stream_ladder(run: Run, names: Sequence[str]) -> dict[str, Any]:
    """Open loop: new streams at a fixed rate, each ``stream_tokens`` tokens ``gap`` apart."""
    plan = run.plan
    ladder: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in names}
    gaps: dict[str, list[float]] = {name: [] for name in names}
    coalesced: dict[str, int] = dict.fromkeys(names, 0)
    for rate in plan.s3_rates:
        collected: dict[str, list[Exchange]] = {name: [] for name in names}
        for rep, order in run.orders(names, plan.s3_reps):
            for name in order:
                target = run.targets[name]
                client = client_for(target)
                request = stream_call(target, tokens=plan.stream_tokens, gap_ms=plan.stream_gap_ms)
                # A few streams first, so that the pools (the client's and the gateway's
                # upstream one) hold some connections before the clock starts.
                same = _always(request)
                await run_open_loop(client, same, arrivals(rate, 0.5))
                with run.watch(f"S3 {rate}/s {name} #{rep + 1}"):
                    results = await run_open_loop(client, same, arrivals(rate, plan.s3_seconds))
                client.close()
                collected[name] += results
        for name in names:
            results = collected[name]
            complete = [r for r in results if r.ok and r.tokens == plan.stream_tokens]
            ladder[name][rate] = {
                "offered": len(results),
                "complete": len(complete),
                "ttfb": Summary.of([r.ttfb for r in complete]).as_dict(),
                "duration": Summary.of([r.latency for r in complete]).as_dict(),
                "client_lag_p99_ms": Summary.of([r.lag for r in results if r.started]).p99,
            }
            if rate == _gap_rate(plan):
                for result in complete:
                    gaps[name] += result.gaps()
                    coalesced[name] += result.coalesced_reads
    return {
        "ladder": {
            name: {str(rate): row for rate, row in rows.items()} for name, rows in ladder.items()
        },
        "sustained": _sustained(ladder, names),
        "gaps": {
            name: {
                "rate": _gap_rate(plan),
                **Summary.of(gaps[name]).as_dict(),
                "coalesced_reads": coalesced[name],
                "nominal_ms": plan.stream_gap_ms,
            }
            for name in names
        },
    }


def _always(request: bytes) -> Callable[[int], bytes]:
    return lambda _index: request


def _gap_rate(plan: Plan) -> int:
    return 50 if 50 in plan.s3_rates else plan.s3_rates[0]


def _sustained(
    ladder: dict[str, dict[int, dict[str, Any]]], names: Sequence[str]
) -> dict[str, Any]:
    """Per gateway, the highest rate up to which every rung was sustained."""
    result: dict[str, Any] = {}
    direct = ladder.get(DIRECT, {})
    for name in names:
        best = 0
        for rate, row in sorted(ladder[name].items()):
            base = direct.get(rate)
            added_p99 = row["ttfb"]["p99_ms"] - (base["ttfb"]["p99_ms"] if base else 0.0)
            every = row["complete"] == row["offered"]
            if not every or (name != DIRECT and not added_p99 <= SUSTAINED_ADDED_TTFB_P99_MS):
                break
            best = rate
        result[name] = best
    return result


# -- S5 / S6: many open streams, then every client leaves at once -----------------------------


async def s5_s6_open_streams(run: Run, names: Sequence[str], storm_token: str) -> dict[str, Any]:
    plan = run.plan
    out: dict[str, Any] = {}
    for name in names:
        target = run.targets[name]
        rounds = plan.s5_rounds if name != DIRECT else 1
        out[name] = {"rounds": []}
        for round_number in range(rounds):
            token = storm_token if name == PORTAL else None
            with run.watch(f"S5/S6 {name} #{round_number + 1}"):
                row = await _storm_round(run, target, round_number, token)
            out[name]["rounds"].append(row)
    return out


async def _storm_round(run: Run, target: Target, number: int, token: str | None) -> dict[str, Any]:
    plan = run.plan
    count = plan.s5_streams
    client = client_for(target, timeout=60)
    run.reset_stub()
    gc.collect()
    await asyncio.sleep(0.5)
    pid = target.pid
    before = {"rss_kib": system.rss_kib(pid), "sockets": system.open_sockets(pid)} if pid else {}
    # Open streams that mostly wait, as a chat whose model thinks (a token a second, for a
    # minute), opened at OPEN_RATE: what an open stream costs, not what relaying tokens costs
    # (that is S3). 1,000 streams at 10 tokens/s each would be 10,000 relays/s, beyond one core.
    sids = [f"{target.name}-{number}-{i}" for i in range(count)]
    started = time.perf_counter()
    opened: dict[str, Stream] = {}

    async def open_one(index: int, delay: float) -> None:
        await asyncio.sleep(delay)
        sid = sids[index]
        request = stream_call(target, tokens=60, gap_ms=1000, sid=sid, token=token)
        opened[sid] = await client.open_stream(request)

    tasks = [asyncio.create_task(open_one(i, i / OPEN_RATE)) for i in range(count)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    open_seconds = time.perf_counter() - started
    # A refusal has a first byte too: only streams answered 200 count as open.
    refused: dict[str, int] = {}
    for sid, stream in list(opened.items()):
        if stream.exchange.status != 200:
            status = str(stream.exchange.status)
            refused[status] = refused.get(status, 0) + 1
            stream.hang_up()
            del opened[sid]
    await asyncio.sleep(1.0)
    stub_open = run.stub_stats()["openStreams"]
    during = {"rss_kib": system.rss_kib(pid), "sockets": system.open_sockets(pid)} if pid else {}
    # The storm: every client leaves at once.
    for stream in opened.values():
        stream.hang_up()
    deadline = time.monotonic() + 15
    stats = run.stub_stats()
    while stats["openStreams"] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        stats = run.stub_stats()
    left_at = {sid: stream.exchange.closed_at for sid, stream in opened.items()}
    delays = [
        abort["at"] - left_at[abort["sid"]] for abort in stats["aborts"] if abort["sid"] in left_at
    ]
    await asyncio.sleep(2.0)
    gc.collect()
    after = {"rss_kib": system.rss_kib(pid), "sockets": system.open_sockets(pid)} if pid else {}
    client.close()
    row: dict[str, Any] = {
        "streams": count,
        "opened": len(opened),
        "failed_to_open": len(failed),
        "refused": refused,
        "open_seconds": round(open_seconds, 2),
        "stub_open_streams": stub_open,
        "stub_still_open_after": stats["openStreams"],
        "upstream_closed": len(delays),
        "close_delay": Summary.of(delays).as_dict(),
        "before": before,
        "during": during,
        "after": after,
    }
    if pid and opened:
        row["kib_per_stream"] = round((during["rss_kib"] - before["rss_kib"]) / len(opened), 1)
    return row
