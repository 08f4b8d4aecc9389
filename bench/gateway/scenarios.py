"""The request scenarios S1, S2 and S7, and what every scenario shares (``Run``).

The stream scenarios, S3 to S6, are in streams.py.

Each returns plain data (dicts of numbers) for the JSON file; ``report.py`` turns it into tables
and checks the goals. Cells alternate the targets' order between repetitions, so that a target
is not always measured right after the same other one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.gateway import system
from bench.gateway.calls import (
    LIST_PATH,
    PORTAL,
    Target,
    call_route,
    list_call,
    plain_call,
)
from bench.gateway.loadgen import Client, run_closed_loop
from bench.gateway.plan import Plan
from bench.gateway.processes import get_json
from bench.gateway.stats import Summary


@dataclass
class Run:
    plan: Plan
    targets: dict[str, Target]  # direct, portal, nginx (+ litellm)
    stub_url: str
    run_dir: Path
    client_cpu: int | None
    tokens: dict[str, str]  # the portal's tokens (bench/gateway/seed.py)
    tenant: str  # the tenant's upstream id: what the portal must run as
    overflows: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def stub_stats(self) -> dict[str, Any]:
        return get_json(self.stub_url + "/_stub/stats")

    def reset_stub(self) -> None:
        get_json(self.stub_url + "/_stub/reset", method="POST")

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append({"check": name, "ok": ok, "detail": detail})
        print(f"  check {'ok ' if ok else 'FAILED'} {name}: {detail}", flush=True)

    def orders(self, names: Sequence[str], reps: int) -> Iterator[tuple[int, list[str]]]:
        for rep in range(reps):
            yield rep, list(names) if rep % 2 == 0 else list(reversed(names))

    def watch(self, cell: str) -> _Overflows:
        return _Overflows(self, cell)


class _Overflows:
    """Records ``TcpExtListenOverflows`` before and after a cell and flags saturation."""

    def __init__(self, run: Run, cell: str) -> None:
        self.run, self.cell = run, cell

    def __enter__(self) -> None:
        self.before = system.listen_overflows()

    def __exit__(self, *exc: object) -> None:
        after = system.listen_overflows()
        entry = {"cell": self.cell, "before": self.before, "after": after}
        self.run.overflows.append(entry)
        if after > self.before:
            print(f"  ! {self.cell}: {after - self.before} listen queue overflows", flush=True)


def client_for(target: Target, timeout: float = 30.0) -> Client:
    return Client("127.0.0.1", target.port, timeout=timeout)


async def _warm(target: Target, request: bytes, calls: int) -> None:
    client = client_for(target)
    try:
        await run_closed_loop(client, request, count=calls, seconds=10)
    finally:
        client.close()


# -- S1: one request at a time -----------------------------------------------------------------


async def s1_latency(run: Run, kind: str, names: Sequence[str]) -> dict[str, Any]:
    """Closed loop, one call in flight: the latency each gateway adds to a plain call."""
    plan = run.plan
    samples: dict[str, list[float]] = {name: [] for name in names}
    failures: dict[str, int] = dict.fromkeys(names, 0)
    per_rep: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for rep, order in run.orders(names, plan.reps):
        for name in order:
            target = run.targets[name]
            request = plain_call(kind, target)
            await _warm(target, request, plan.warmup_calls if rep == 0 else 50)
            client = client_for(target)
            run.reset_stub()
            cpu_before = system.cpu_seconds(target.pid) if target.pid else 0.0
            with run.watch(f"S1 {kind} {name} #{rep + 1}"):
                results = await run_closed_loop(
                    client, request, count=plan.s1_calls, seconds=plan.s1_seconds
                )
            if target.pid and results:
                cpu[name].append((system.cpu_seconds(target.pid) - cpu_before) / len(results))
            client.close()
            good = [r.latency for r in results if r.ok]
            failures[name] += len(results) - len(good)
            samples[name] += good
            per_rep[name].append(Summary.of(good).p50)
            if name == PORTAL:
                _check_forwarded(run, kind, len(good))
    return {
        name: {
            **Summary.of(samples[name]).as_dict(),
            "failed": failures[name],
            "p50_per_rep_ms": [round(v, 3) for v in per_rep[name]],
            "cpu_us_per_call": _cpu_us(cpu[name]),
        }
        for name in names
    }


def _check_forwarded(run: Run, kind: str, calls: int) -> None:
    stats = run.stub_stats()
    method, path, _ = call_route(kind, run.targets[PORTAL])
    seen = stats["requests"].get(f"{method} {path}", 0)
    run_as = stats["runAs"].get(run.tenant, 0)
    run.check(
        f"portal forwarded S1 {kind}",
        seen == calls and run_as == calls,
        f"{calls} calls answered, the stub saw {seen}, {run_as} of them as the tenant",
    )


# -- S2: saturation ---------------------------------------------------------------------------


def s2_throughput(run: Run, kind: str, names: Sequence[str]) -> dict[str, Any]:
    """wrk, one thread, N connections, on the client core: requests per second."""
    plan = run.plan
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for rep, order in run.orders(names, plan.reps):
        for name in order:
            target = run.targets[name]
            script = run.run_dir / f"wrk-{name}-{kind}.lua"
            method, path, body = call_route(kind, target)
            headers = {**target.headers(), **({"Content-Type": "application/json"} if body else {})}
            system.wrk_lua(script, method, headers, body)
            url = target.url + path
            run.reset_stub()
            cpu_before = system.cpu_seconds(target.pid) if target.pid else 0.0
            with run.watch(f"S2 {kind} {name} #{rep + 1}"):
                result = system.run_wrk(
                    url,
                    script,
                    seconds=plan.s2_seconds,
                    connections=plan.s2_connections,
                    cpu=run.client_cpu,
                )
            if target.pid and result["requests"]:
                spent = system.cpu_seconds(target.pid) - cpu_before
                result["cpu_us_per_call"] = round(spent / result["requests"] * 1e6, 1)
            rows[name].append(result)
            if name == PORTAL:
                seen = run.stub_stats()["requests"].get(f"{method} {path}", 0)
                run.check(
                    f"portal forwarded S2 {kind} #{rep + 1}",
                    seen >= result["requests"] and not result["non_2xx"],
                    f"wrk counted {result['requests']:.0f} answers "
                    f"({result['non_2xx']:.0f} not 2xx), the stub saw {seen}",
                )
    return {name: _median_row(rows[name]) for name in names}


def _cpu_us(per_call: list[float]) -> float | None:
    """The median over repetitions, in microseconds (None: no process of its own)."""
    if not per_call:
        return None
    return round(sorted(per_call)[len(per_call) // 2] * 1e6, 1)


def _median_row(rows: list[dict[str, float]]) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda row: row["rps"])
    middle = ordered[len(ordered) // 2]
    return {**middle, "rps_per_rep": [round(row["rps"]) for row in rows]}


# -- S7: rejections ---------------------------------------------------------------------------


async def s7_rejections(run: Run) -> dict[str, Any]:
    """Refused calls: their cost against a forwarded call, and that none reached the stub."""
    plan = run.plan
    target = run.targets[PORTAL]
    cases = {
        "bad token": (run.tokens["bad"], 401),
        "wrong scope": (run.tokens["scope"], 403),
        "over limit": (run.tokens["limited"], 429),
    }
    out: dict[str, Any] = {}
    run.reset_stub()
    for case, (token, status) in cases.items():
        request = list_call(target, token)
        client = client_for(target)
        await run_closed_loop(client, request, count=100, seconds=5)
        with run.watch(f"S7 {case}"):
            results = await run_closed_loop(
                client, request, count=plan.s7_calls, seconds=plan.s7_seconds
            )
        client.close()
        statuses = {r.status for r in results}
        script = run.run_dir / f"wrk-s7-{status}.lua"
        system.wrk_lua(script, "GET", target.headers(token), "")
        with run.watch(f"S7 {case} wrk"):
            saturation = system.run_wrk(
                target.url + LIST_PATH,
                script,
                seconds=max(1.0, plan.s7_seconds),
                connections=plan.s2_connections,
                cpu=run.client_cpu,
            )
        run.check(
            f"S7 {case} answered {status}",
            statuses == {status},
            f"statuses {sorted(statuses)} of {len(results)} calls",
        )
        out[case] = {
            "status": sorted(statuses),
            "expected_status": status,
            **Summary.of([r.done - r.started for r in results if r.done]).as_dict(),
            "rps": saturation["rps"],
        }
    reached = run.stub_stats()["requests"]
    run.check(
        "rejections never reach the stub",
        not reached,
        f"the stub saw {sum(reached.values())} requests during S7",
    )
    return out
