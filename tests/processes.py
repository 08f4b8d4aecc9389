"""Real portal processes (Celery workers, a second portal worker) on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection


def env_for_test_database() -> dict[str, str]:
    """The environment of a child process that must see this test run's database and cache."""
    env = dict(os.environ)
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite":
        env["PORTAL_SQLITE_PATH"] = name
    else:
        parts = urlsplit(settings.DATABASE_URL)
        env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    env["PORTAL_VAR_DIR"] = str(settings.VAR_DIR)
    return env


@contextmanager
def running(
    argv: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        argv,
        env=env or env_for_test_database(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def celery_worker(**extra_env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker (solo pool) on this run's database, cache and broker; ``extra_env`` sets
    more of its environment (e.g. a short heartbeat)."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal.celery",
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with running(argv, {**env_for_test_database(), **extra_env}) as process:
        yield process


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")
