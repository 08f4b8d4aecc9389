"""Outbound HTTP client benchmark: which transport should portal/upstream/ use?

Compares, against a tiny local aiohttp server (JSON reply of about 1 KB) on loopback:

    (a) httpx.AsyncClient with its own pool (httpcore)
    (b) httpx.AsyncClient over httpx_aiohttp.AiohttpTransport (aiohttp's pool, httpx's API)
    (c) a bare aiohttp.ClientSession

at 1, 10, 50 and 200 requests in flight. Every cell is bounded by a request count and by
wall-clock time, so a slow client cannot make the run hang. The server runs in a subprocess
so that it does not share the event loop (or the GIL) with the client being measured.

Run:  .venv/bin/python -m bench.outbound_client [--loop uvloop|asyncio] [--seconds 4]
Writes bench/results/outbound-client.md (one table per event loop) unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

CONCURRENCY_LEVELS = (1, 10, 50, 200)
# One pool size for every client, so that the comparison is about the pool implementation and
# not about its limit. 100 is both httpx's and aiohttp's default, and portal/upstream/ uses it.
POOL_SIZE = 100
# Each cell first runs this long at its own concurrency, so that connection set-up (and the
# SYN-backlog stalls of opening 100 sockets at once) is not counted as steady-state latency.
WARMUP_SECONDS = 0.5
RESULTS_FILE = Path(__file__).parent / "results" / "outbound-client.md"

# About 1 KB, shaped like an upstream list page.
PAYLOAD = json.dumps(
    {
        "items": [
            {"id": f"clx{i:021d}", "name": f"Bot {i}", "createdAt": 1_780_000_000_000 + i}
            for i in range(14)
        ],
        "cursor": "clx000000000000000000013",
    }
).encode()


# --- server (subprocess) -------------------------------------------------------------------


def serve() -> None:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=PAYLOAD, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v1/bot/list", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        # The parent reads the port from our first line of output.
        print(port, flush=True)
        await asyncio.Event().wait()

    _install_loop(os.environ.get("BENCH_SERVER_LOOP", "uvloop"))
    asyncio.run(main())


@contextlib.contextmanager
def running_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.outbound_client", "--serve"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            raise RuntimeError("benchmark server did not start")
        yield f"http://127.0.0.1:{int(line)}/v1/bot/list"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- clients -------------------------------------------------------------------------------

Fetch = Callable[[], Awaitable[None]]


@dataclass
class Cell:
    client: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


async def run_cell(name: str, fetch: Fetch, concurrency: int, seconds: float) -> Cell:
    # Enough requests to fill the time at the best rates seen, but never unbounded.
    max_requests = int(20_000 * max(seconds, 0.5))
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal issued, errors
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            started = time.perf_counter()
            try:
                await asyncio.wait_for(fetch(), timeout=10)
            except Exception:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Cell(name, concurrency, len(latencies), errors, elapsed, latencies)


async def bench_httpx_pool(url: str, concurrency: int, seconds: float, pool_size: int) -> Cell:
    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def fetch() -> None:
            response = await client.get(url)
            response.raise_for_status()
            response.json()

        await run_cell("warmup", fetch, concurrency, WARMUP_SECONDS)
        return await run_cell("httpx (own pool)", fetch, concurrency, seconds)


async def bench_httpx_aiohttp(url: str, concurrency: int, seconds: float, pool_size: int) -> Cell:
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    transport = AiohttpTransport(limits=limits)
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:

        async def fetch() -> None:
            response = await client.get(url)
            response.raise_for_status()
            response.json()

        await run_cell("warmup", fetch, concurrency, WARMUP_SECONDS)
        return await run_cell("httpx + AiohttpTransport", fetch, concurrency, seconds)


async def bench_aiohttp(url: str, concurrency: int, seconds: float, pool_size: int) -> Cell:
    connector = aiohttp.TCPConnector(limit=pool_size)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch() -> None:
            async with session.get(url) as response:
                response.raise_for_status()
                await response.json()

        await run_cell("warmup", fetch, concurrency, WARMUP_SECONDS)
        return await run_cell("aiohttp (bare)", fetch, concurrency, seconds)


BENCHES = {
    "httpx": bench_httpx_pool,
    "httpx-aiohttp": bench_httpx_aiohttp,
    "aiohttp": bench_aiohttp,
}


# --- report --------------------------------------------------------------------------------


def _install_loop(name: str) -> None:
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def table(cells: list[Cell]) -> str:
    lines = [
        "| client | in flight | req/s | p50 ms | p99 ms | requests | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cells:
        lines.append(
            f"| {c.client} | {c.concurrency} | {c.rps:,.0f} | {c.percentile(50):.2f} "
            f"| {c.percentile(99):.2f} | {c.requests:,} | {c.errors} |"
        )
    return "\n".join(lines)


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{pkg} {metadata.version(pkg)}"
        for pkg in ("httpx", "httpcore", "aiohttp", "httpx-aiohttp", "uvloop")
    )
    return (
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- Machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}\n"
        f"- Python {platform.python_version()}; {versions}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=("uvloop", "asyncio", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=4.0, help="wall-clock time per cell")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--pool-size", type=int, default=POOL_SIZE, help="connections per client")
    parser.add_argument(
        "--clients", default="httpx,httpx-aiohttp,aiohttp", help="comma-separated subset to run"
    )
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    loops = ("uvloop", "asyncio") if args.loop == "both" else (args.loop,)
    sections: list[str] = []
    with running_server() as url:
        for loop_name in loops:
            cells: list[Cell] = []
            for bench in [BENCHES[name] for name in args.clients.split(",")]:
                for concurrency in CONCURRENCY_LEVELS:
                    _install_loop(loop_name)
                    cell = asyncio.run(bench(url, concurrency, args.seconds, args.pool_size))
                    asyncio.set_event_loop_policy(None)
                    cells.append(cell)
                    print(
                        f"[{loop_name}] {cell.client:26} c={concurrency:<4} {cell.rps:9,.0f} req/s"
                        f"  p50 {cell.percentile(50):7.2f} ms  p99 {cell.percentile(99):7.2f} ms"
                        f"  errors {cell.errors}",
                        flush=True,
                    )
            sections.append(f"### Client event loop: {loop_name}\n\n{table(cells)}\n")

    report = (
        "# Outbound client benchmark\n\n"
        "Produced by `bench/outbound_client.py`: a local aiohttp server (uvloop, subprocess) "
        f"answers `GET /v1/bot/list` with {len(PAYLOAD)} bytes of JSON on 127.0.0.1; "
        f"each cell runs for about {args.seconds:g} s with N requests in flight; "
        f"pool size {args.pool_size} for every client; latency is from request start to parsed "
        "JSON, pool wait included.\n\n" + machine_line() + "\n" + "\n".join(sections)
    )
    print()
    print(report)
    if not args.no_write:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(report)


if __name__ == "__main__":
    main()
