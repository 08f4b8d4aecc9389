"""Usage pages at scale: are they fast with 10,000 tenants and a million raw events?

Builds a throwaway database (a SQLite file under a temp dir, or, when ``DATABASE_URL`` is set,
a database named ``portal_bench_usage`` on that server, created and dropped here), migrates it,
seeds one partner with N tenants (two levels: resellers under the partner, tenants under them;
materialized paths set) and M raw usage events over the last ~45 days, runs the rollup task once
over the whole range, then times, through Django's test ``Client``:

- the partner usage page ``/usage/?partner=…`` (operator and partner admin),
- the live feed fragment (HTMX, ``HX-Target: limit-feed``),
- the CSV export (streamed, consumed fully),
- one tenant's Usage tab (a reseller with children, so every section is filled),
- the usage API: the period and the daily endpoints,
- the threshold check (``check_thresholds``) over every account with quotas (~20 % of tenants).

Each cell: median wall time of 5 runs, the number of queries, and peak Python memory
(tracemalloc, measured on a separate run so that it does not slow the timed ones).

Run:  .venv/bin/python -m bench.usage_scale [--tenants 10000] [--events 1000000]
Writes bench/results/usage-scale.md unless --no-write (or --out PATH).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.usage_seed import (
    DAYS,
    EVENT_BATCH,
    RESELLERS_SHARE,
    World,
    seed_accounts,
    seed_events,
)

RESULTS_FILE = Path(__file__).parent / "results" / "usage-scale.md"
BENCH_DB_NAME = "portal_bench_usage"
RUNS = 5
OLD_PATH_SAMPLE = 200  # accounts read the old way (one by one), for the before/after


# --- the throwaway database (before Django is set up) ----------------------------------------


def _pg_url_with_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """Point the settings at a fresh database; yield a label; drop it afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        tmp = tempfile.mkdtemp(prefix="portal-bench-usage-")
        os.environ["PORTAL_SQLITE_PATH"] = str(Path(tmp) / "bench.sqlite3")
        try:
            yield f"SQLite {sqlite3.sqlite_version} (a throwaway file in a temporary directory)"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    import psycopg

    admin_url = _pg_url_with_name(url, "postgres")
    bench_url = _pg_url_with_name(url, BENCH_DB_NAME)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB_NAME}"')
        conn.execute(f'CREATE DATABASE "{BENCH_DB_NAME}"')
        version = conn.execute("SHOW server_version").fetchone()
    os.environ["DATABASE_URL"] = bench_url
    try:
        yield f"PostgreSQL {version[0] if version else '?'} (database {BENCH_DB_NAME})"
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB_NAME}" WITH (FORCE)')


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    # Keep every raw event of the seeded range rollup-able, and no e-mail leaves the process.
    os.environ["METERING_RAW_RETENTION_DAYS"] = str(DAYS + 5)
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    import django

    django.setup()


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Cell:
    name: str
    median_ms: float
    runs_ms: list[float]
    queries: int
    peak_mb: float | None
    note: str = ""


def measure(
    name: str, action: Callable[[], Any], *, memory: bool = True, note: str = "", runs: int = RUNS
) -> Cell:
    from django.db import connection

    # One counted run (queries, and peak memory when asked), then RUNS timed runs. Queries are
    # counted with an execute wrapper: the test client's request signals reset
    # ``connection.queries`` (and close the connection) in the middle of a request.
    queries = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    peak = None
    if memory:
        tracemalloc.start()
    with connection.execute_wrapper(count):
        action()
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 1_048_576
        tracemalloc.stop()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    cell = Cell(name, statistics.median(timings), timings, queries, peak, note)
    peak_text = f"{peak:8.1f} MB" if peak is not None else "       -"
    print(
        f"  {name:52} {cell.median_ms:9.1f} ms  {cell.queries:6d} queries  {peak_text}",
        flush=True,
    )
    return cell


def get_ok(client: Any, url: str, **headers: str) -> Any:
    response = client.get(url, headers=headers or None)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} -> {response.status_code}")
    if getattr(response, "streaming", False):
        size = sum(len(chunk) for chunk in response.streaming_content)
    else:
        size = len(response.content)
    return size


def run_cells(world: World) -> list[Cell]:
    from django.test import Client

    from tenants.alerts.thresholds import check_thresholds

    operator = Client()
    operator.force_login(world.operator)
    admin = Client()
    admin.force_login(world.partner_admin)
    partner = world.partner.public_id
    feed_headers = {"HX-Request": "true", "HX-Target": "limit-feed"}
    api = "/api/v1/portal/accounts"
    csv_bytes = get_ok(admin, f"/usage/export.csv?partner={partner}")
    cells = [
        measure(
            "partner usage page (operator)", lambda: get_ok(operator, f"/usage/?partner={partner}")
        ),
        measure(
            "partner usage page (partner admin)",
            lambda: get_ok(admin, f"/usage/?partner={partner}"),
        ),
        measure(
            "live feed fragment (partner admin)",
            lambda: get_ok(admin, f"/usage/?partner={partner}", **feed_headers),
        ),
        measure(
            "CSV export, consumed (partner admin)",
            lambda: get_ok(admin, f"/usage/export.csv?partner={partner}"),
            note=f"{csv_bytes / 1024:,.0f} KB",
        ),
        measure(
            "tenant Usage tab: reseller (partner admin)",
            lambda: get_ok(admin, f"/accounts/{world.reseller.public_id}/usage/"),
        ),
        measure(
            "tenant Usage tab: leaf tenant (operator)",
            lambda: get_ok(operator, f"/accounts/{world.leaf.public_id}/usage/"),
        ),
        measure(
            "API period usage: reseller (partner admin)",
            lambda: get_ok(admin, f"{api}/{world.reseller.public_id}/usage/"),
        ),
        measure(
            "API period usage: partner (partner admin)",
            lambda: get_ok(admin, f"{api}/{partner}/usage/"),
        ),
        measure(
            "API daily usage, 30 days: reseller (partner admin)",
            lambda: get_ok(admin, f"{api}/{world.reseller.public_id}/usage/daily/"),
        ),
    ]
    fired = len(check_thresholds())
    cells.append(
        measure(
            "threshold check, all accounts with quotas",
            check_thresholds,
            note=f"{world.limited:,} accounts with quotas; first run fired {fired:,} alerts "
            "(not timed); timed runs fire none",
        )
    )
    cells.append(
        measure(
            f"  for comparison: the old per-account reads, first {OLD_PATH_SAMPLE} accounts",
            per_account_reads,
            memory=False,
            runs=1,
            note="period_usage per account: what check_thresholds read before (2 queries "
            f"each); x{world.limited / OLD_PATH_SAMPLE:.0f} for all {world.limited:,} accounts",
        )
    )
    return cells


def per_account_reads() -> None:
    from django.utils import timezone

    from tenants.alerts.thresholds import accounts_with_quotas, period_usage, quotas_of
    from tenants.limits.periods import period_at

    now = timezone.now()
    done = 0
    for account in accounts_with_quotas():
        if quotas_of(account):
            period_usage(account, period_at(account.timezone, now), now)
            done += 1
            if done >= OLD_PATH_SAMPLE:
                return


# --- report ----------------------------------------------------------------------------------


def machine_lines(database: str) -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{pkg} {metadata.version(pkg)}" for pkg in ("Django", "djangorestframework", "psycopg")
    )
    return (
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- Machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}\n"
        f"- Python {platform.python_version()}; {versions}\n"
        f"- Database: {database}\n"
    )


def table(cells: list[Cell]) -> str:
    lines = [
        f"| what | median ms (of {RUNS}) | min-max ms | queries | peak Python MB | note |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in cells:
        peak = f"{c.peak_mb:,.1f}" if c.peak_mb is not None else "-"
        lines.append(
            f"| {c.name} | {c.median_ms:,.1f} | {min(c.runs_ms):,.0f}-{max(c.runs_ms):,.0f} "
            f"| {c.queries:,} | {peak} | {c.note} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE, help="the Markdown report")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with throwaway_database() as database:
        setup_django()
        from django.core.management import call_command
        from django.utils import timezone

        from tenants.metering.models import UsageRollup
        from tenants.metering.rollups import HOUR, floor_hour, rollup_usage

        print(f"Database: {database}", flush=True)
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        migrate_s = time.perf_counter() - started
        now = timezone.now()

        started = time.perf_counter()
        world = seed_accounts(args.tenants, rng)
        accounts_s = time.perf_counter() - started
        print(f"  seeded {args.tenants:,} tenants in {accounts_s:.1f} s", flush=True)
        started = time.perf_counter()
        seed_events(world, args.events, now, rng)
        events_s = time.perf_counter() - started
        print(f"  seeded {args.events:,} events in {events_s:.1f} s", flush=True)

        tracemalloc.start()
        started = time.perf_counter()
        hours = rollup_usage(
            start=floor_hour(now - dt.timedelta(days=DAYS)) - HOUR, end=now + HOUR, now=now
        )
        rollup_s = time.perf_counter() - started
        rollup_peak = tracemalloc.get_traced_memory()[1] / 1_048_576
        tracemalloc.stop()
        rollups = UsageRollup.objects.count()
        print(
            f"  rollup: {hours:,} hours, {rollups:,} rollup rows in {rollup_s:.1f} s "
            f"(peak Python {rollup_peak:,.0f} MB)",
            flush=True,
        )
        cells = run_cells(world)

    setup = (
        "| step | seconds | note |\n| --- | ---: | --- |\n"
        f"| migrate | {migrate_s:,.1f} | |\n"
        f"| seed accounts (bulk_create) | {accounts_s:,.1f} | 1 partner, {args.tenants:,} tenants "
        f"({max(1, args.tenants // RESELLERS_SHARE):,} resellers + their tenants), "
        f"{world.limited:,} with quotas |\n"
        f"| seed raw events (bulk_create, {EVENT_BATCH:,} a batch) | {events_s:,.1f} | "
        f"{args.events:,} events over {DAYS} days, ~2 % limit rejections |\n"
        f"| rollup_usage over the whole range | {rollup_s:,.1f} | {hours:,} hours, "
        f"{rollups:,} rollup rows; peak Python {rollup_peak:,.0f} MB |\n"
    )
    report = (
        "# Usage pages at scale\n\n"
        "Produced by `bench/usage_scale.py` "
        f"(`--tenants {args.tenants} --events {args.events}`): a throwaway database, one partner, "
        "raw events rolled up once, then each page / endpoint through Django's test `Client` "
        f"(logged in), median of {RUNS} runs after one counted run (queries, tracemalloc peak).\n\n"
        + machine_lines(database)
        + "\n### Setup\n\n"
        + setup
        + "\n### Reads\n\n"
        + table(cells)
        + "\n"
    )
    print()
    print(report)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)


if __name__ == "__main__":
    main()
