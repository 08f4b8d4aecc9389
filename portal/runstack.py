"""``make run``: everything the portal needs, in the foreground, stopped by one Ctrl-C.

Prepares the database (migrate, cache table), starts the bundled sandbox upstream, seeds the demo
data once, then runs the portal (uvicorn), a Celery worker and Celery beat. Output of each process
is prefixed with its name. If any process dies the others are stopped too, so a broken stack never
looks half-alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

import httpx

STOP_GRACE_SECONDS = 10


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (argv is built here, not from input)
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            # Own process group: Ctrl-C reaches only this supervisor, which then stops the
            # children in order and waits for them (Celery and uvicorn shut down cleanly).
            start_new_session=True,
        )
        assert self.process.stdout is not None
        threading.Thread(target=_relay, args=(self.name, self.process.stdout), daemon=True).start()


def _relay(name: str, stream: IO[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        sys.stdout.write(f"{name:>8} | {raw.decode(errors='replace')}")
        sys.stdout.flush()


def _wait_until_up(url: str, seconds: float, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{url} exited before it was ready (code {process.returncode})")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def _stop(children: list[Child]) -> None:
    # SIGTERM to each main process only: uvicorn, Celery and the sandbox each stop their own
    # children in order (a worker finishes its task, the sandbox saves its state). Whatever is
    # still alive after the grace period is killed with its whole process group.
    for child in reversed(children):
        if child.process and child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    settings.CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    (settings.CELERY_BROKER_DIR / "queue").mkdir(exist_ok=True)
    (settings.CELERY_BROKER_DIR / "processed").mkdir(exist_ok=True)

    call_command("migrate", interactive=False, verbosity=0)
    if not settings.REDIS_URL:
        call_command("createcachetable", verbosity=0)

    python = sys.executable
    env = dict(os.environ)
    children: list[Child] = []
    bundled_sandbox = not os.environ.get("PORTAL_SANDBOX_URL")
    if bundled_sandbox:
        children.append(
            Child(
                "sandbox",
                [
                    python,
                    "-m",
                    "portal.sandbox",
                    "--dev",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(settings.SANDBOX_PORT),
                    "--state-file",
                    str(settings.VAR_DIR / "sandbox-state.json"),
                ],
            )
        )
    children += [
        Child(
            "portal",
            [
                python,
                "-m",
                "uvicorn",
                "portal.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(settings.PORTAL_PORT),
                "--no-access-log",
            ],
        ),
        Child(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "portal.celery",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
            ],
        ),
        Child(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "portal.celery",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        ),
    ]

    stopping = threading.Event()
    failed = False

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if bundled_sandbox:
            children[0].start(env)
            _wait_until_up(f"{settings.SANDBOX_URL}/healthz", 30, children[0].process)
        call_command("seed_demo")
        for child in children[1 if bundled_sandbox else 0 :]:
            child.start(env)
        _wait_until_up(f"http://127.0.0.1:{settings.PORTAL_PORT}/healthz", 30, children[-3].process)
        print(
            f"\n  Portal   http://127.0.0.1:{settings.PORTAL_PORT}/\n"
            f"  Sandbox  {settings.SANDBOX_URL}\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping.is_set():
            dead = [c for c in children if c.process and c.process.poll() is not None]
            if dead:
                failed = True
                print(
                    f"{dead[0].name} exited with code {dead[0].process.returncode}; stopping.",  # type: ignore[union-attr]
                    flush=True,
                )
                break
            stopping.wait(0.5)
    finally:
        print("Stopping…", flush=True)
        _stop(children)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
