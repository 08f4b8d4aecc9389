"""Gateway benchmark: the portal's proxy against nginx and LiteLLM, side by side in one run.

    make bench          # the full run (~10 minutes): bench/results/gateway.{json,md}
    make bench-quick    # about a minute; exits 1 if the portal's added p50 on the plain call is
                        # more than --max-ratio times nginx's in the same run (CI)
    .venv/bin/python -m bench.gateway [--quick] [--no-litellm] [--update-readme] [--out DIR]

Targets, measured one after the other in each cell, order alternating: (a) client → stub,
(b) client → portal (the real ``portal.asgi:application`` under uvicorn, production settings)
→ stub, (c) client → nginx (``proxy_buffering off``, upstream keepalive) → stub, the floor,
(d) client → LiteLLM proxy → the stub's OpenAI-shaped variant, when LiteLLM installs (its own
throwaway venv under var/bench/). Gateways are pinned to one core, the stub, Redis and the
client to the other. The README's "Benchmarks" section says what each scenario measures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.gateway import goals, report, scenarios, streams, system
from bench.gateway.calls import DIRECT, DIRECT_OPENAI, LITELLM, NGINX, PORTAL, Target
from bench.gateway.plan import FULL, QUICK, QUICK_MAX_RATIO, Plan
from bench.gateway.processes import ROOT, stack_in
from bench.gateway.targets import (
    LITELLM_MASTER_KEY,
    LITELLM_VERSION,
    litellm_binary,
    portal_env,
    prepare_portal,
    start_litellm,
    start_nginx,
    start_portal,
    start_redis,
    start_stub,
    usage_rows,
)

RESULTS = ROOT / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="about a minute; for CI")
    parser.add_argument("--max-ratio", type=float, default=QUICK_MAX_RATIO)
    parser.add_argument("--no-litellm", action="store_true", help="skip target (d)")
    parser.add_argument("--proxy-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", type=Path, help="where to write gateway.json and gateway.md")
    parser.add_argument(
        "--update-readme", action="store_true", help="put the summary table into README.md"
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    ensure_tools()
    pinning = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    proxy_cpu = args.proxy_cpu if pinning else None
    client_cpu = args.client_cpu if pinning else None
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    else:
        print("! fewer than 2 CPUs (or no affinity): nothing is pinned", flush=True)
    stamp = dt.datetime.now(dt.UTC)
    run_dir = ROOT / "var" / "bench" / f"gateway-{stamp:%Y%m%d-%H%M%S}"
    results: dict[str, Any] = {
        "plan": {
            "name": plan.name,
            "s3_rates": list(plan.s3_rates),
            "s2_connections": plan.s2_connections,
            "stream_gap_ms": plan.stream_gap_ms,
            "stream_tokens": plan.stream_tokens,
            "reps": plan.reps,
        },
        "meta": {
            "date": f"{stamp:%Y-%m-%d %H:%M} UTC",
            "machine": system.machine(),
            "wake": system.wake_penalty(proxy_cpu),
            "load_before": system.load_average(),
            "cpu_pressure_before": system.cpu_pressure(),
            "proxy_cpu": proxy_cpu,
            "client_cpu": client_cpu,
            "database": "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite",
        },
    }
    litellm_version: str | None = None
    with stack_in(run_dir) as stack:
        print(f"run directory: {run_dir.relative_to(ROOT)}", flush=True)
        redis_url = start_redis(stack, client_cpu)
        stub = start_stub(stack, client_cpu)
        stub_url = f"http://127.0.0.1:{stub.port}"
        env = portal_env(run_dir, redis_url)
        if os.environ.get("DATABASE_URL"):
            ensure_database(os.environ["DATABASE_URL"])
        world = prepare_portal(env, stub_url)
        tokens: dict[str, str] = world["tokens"]  # type: ignore[assignment]
        portal = start_portal(stack, env, proxy_cpu, tokens["main"])
        nginx = start_nginx(stack, stub.port, proxy_cpu)
        targets = {
            DIRECT: Target(DIRECT, stub.port),
            PORTAL: Target(PORTAL, portal.port, tokens["main"], portal.pid),
            NGINX: Target(NGINX, nginx.port, pid=nginx.pid),
        }
        if plan.litellm and not args.no_litellm:
            print(f"LiteLLM {LITELLM_VERSION}: preparing its venv (var/bench/)", flush=True)
            binary = litellm_binary(ROOT / "var" / "bench" / "litellm-venv")
            if isinstance(binary, str):
                results["litellm_skipped"] = binary
                print(f"! skipping LiteLLM (d): {binary}", flush=True)
            else:
                try:
                    litellm = start_litellm(stack, binary, stub.port, proxy_cpu)
                except RuntimeError as error:
                    results["litellm_skipped"] = f"it did not start: {str(error)[:300]}"
                    print(f"! skipping LiteLLM (d): {error}", flush=True)
                else:
                    targets[LITELLM] = Target(
                        LITELLM, litellm.port, LITELLM_MASTER_KEY, litellm.pid
                    )
                    targets[DIRECT_OPENAI] = Target(DIRECT_OPENAI, stub.port)
                    litellm_version = LITELLM_VERSION
        elif not plan.litellm:
            results["litellm_skipped"] = "not part of the quick mode"
        run = scenarios.Run(
            plan=plan,
            targets=targets,
            stub_url=stub_url,
            run_dir=run_dir,
            client_cpu=client_cpu,
            tokens=tokens,
            tenant=str(world["tenant"]),
        )
        results.update(asyncio.run(_scenarios(run, env, world), loop_factory=_loop_factory()))
        results["checks"] = run.checks
        results["overflows"] = run.overflows
        for process in stack.processes:
            if not process.alive():
                print(f"! {process.name} died during the run:\n{process.tail()}", flush=True)
    results["meta"]["load_after"] = system.load_average()
    results["meta"]["cpu_pressure_after"] = system.cpu_pressure()
    results["meta"]["versions"] = system.versions(litellm_version)
    results["goals"] = goals.evaluate(results)
    summary = report.markdown(results)
    text = "# Gateway benchmark\n\n" + summary + "\n" + report.details(results)
    out_dir = args.out or (RESULTS if plan is FULL else run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if plan is FULL else "-quick"
    (out_dir / f"gateway{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / f"gateway{suffix}.md").write_text(text)
    print("\n" + text)
    print(f"written: {out_dir / f'gateway{suffix}.json'} and .md", flush=True)
    if args.update_readme:
        readme = ROOT / "README.md"
        readme.write_text(report.update_readme(readme.read_text(), summary))
        print("README.md: benchmark table updated", flush=True)
    if plan is QUICK:
        ok, verdict = goals.quick_verdict(results, args.max_ratio)
        busy = goals.too_busy_to_judge(results)
        if not ok and busy:
            print(f"\nquick mode: NOT JUDGED ({busy}): {verdict}", flush=True)
            return 0
        print(f"\nquick mode: {'PASS' if ok else 'FAIL'}: {verdict}", flush=True)
        return 0 if ok else 1
    return 0


async def _scenarios(
    run: scenarios.Run, env: dict[str, str], world: dict[str, Any]
) -> dict[str, Any]:
    plan: Plan = run.plan
    names = [DIRECT, PORTAL, NGINX]
    out: dict[str, Any] = {"s1": {}, "s2": {}}
    print("S1: one call at a time", flush=True)
    out["s1"]["list"] = await scenarios.s1_latency(run, "list", names)
    out["s1_cpu_pressure"] = system.cpu_pressure()
    completion = [DIRECT, PORTAL, NGINX]
    if LITELLM in run.targets:
        completion += [DIRECT_OPENAI, LITELLM]
    if plan is FULL:
        out["s1"]["completion"] = await scenarios.s1_latency(run, "completion", completion)
    print("S2: saturation (wrk)", flush=True)
    out["s2"]["list"] = scenarios.s2_throughput(run, "list", names)
    if plan is FULL:
        out["s2"]["completion"] = scenarios.s2_throughput(
            run, "completion", [name for name in completion if name != DIRECT_OPENAI]
        )
    print("S3/S4: stream ladder and inter-token gaps", flush=True)
    out["s3"] = await streams.s3_stream_ladder(run, names)
    print("S5/S6: open streams and a disconnect storm", flush=True)
    storm_names = [PORTAL, NGINX] if plan is FULL else [PORTAL]
    out["s5_s6"] = await streams.s5_s6_open_streams(run, storm_names, run.tokens["storm"])
    out["s6_usage"] = await _storm_usage(run, env, world, out["s5_s6"][PORTAL]["rounds"])
    print("S7: rejections", flush=True)
    out["s7"] = await scenarios.s7_rejections(run)
    return out


async def _storm_usage(
    run: scenarios.Run, env: dict[str, str], world: dict[str, Any], rounds: list[dict[str, Any]]
) -> dict[str, int]:
    """The storm token's usage rows, once the portal's metering buffer has written them: one
    per call (a refused one too), marked disconnected for every stream that was open."""
    calls = sum(r["streams"] for r in rounds)
    opened = sum(r["opened"] for r in rounds)
    token_id = world["token_ids"]["storm"]
    rows: dict[str, int] = {}
    for _ in range(20):
        rows = usage_rows(env, token_id)
        if rows["rows"] >= calls:
            break
        await asyncio.sleep(0.5)
    rows["streams"], rows["calls"] = opened, calls
    run.check(
        "usage rows of the disconnect storm",
        rows["rows"] == calls and rows["disconnected"] == opened,
        f"{rows['rows']} rows for {calls} calls, {rows['disconnected']} marked disconnected "
        f"for {opened} open streams",
    )
    return rows


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def ensure_tools() -> None:
    """nginx and wrk (and redis-server) from Debian's packages when missing and we may."""
    missing = [
        package
        for command, package in (
            ("wrk", "wrk"),
            ("nginx", "nginx-light"),
            ("redis-server", "redis-server"),
        )
        if shutil.which(command) is None and not Path(f"/usr/sbin/{command}").exists()
    ]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(
            f"missing: {', '.join(missing)} (install them: apt-get install {' '.join(missing)})"
        )
    print(f"installing {', '.join(missing)} (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database DATABASE_URL names if it does not exist yet."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


if __name__ == "__main__":
    sys.exit(main())
