"""Starting, pinning, watching and stopping the processes of a run.

Every process is started here, logs to the run directory, and is stopped (by its own pid,
SIGTERM then SIGKILL) when the run ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(command: list[str], cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class Stack:
    """What a run started, stopped in reverse order at the end."""

    directory: Path
    processes: list[Process] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        command: list[str],
        *,
        cpu: int | None,
        env: Mapping[str, str | None] | None = None,
        port: int = 0,
    ) -> Process:
        """Start ``command``; ``env`` adds variables (None removes one)."""
        log = self.directory / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            pinned(command, cpu),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={
                name: value
                for name, value in {**os.environ, **(env or {})}.items()
                if value is not None
            },
        )
        handle.close()
        process = Process(name, popen, log, port)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def wait_http(
    process: Process, url: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None
) -> None:
    """Wait until ``url`` answers (any status below 500), or fail with the process's log."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers=headers or {})
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{process.name} did not answer {url} within {timeout:.0f} s:\n{process.tail()}"
    )


def get_json(url: str, *, method: str = "GET") -> dict[str, object]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


@contextlib.contextmanager
def stack_in(directory: Path) -> Iterator[Stack]:
    directory.mkdir(parents=True, exist_ok=True)
    stack = Stack(directory)
    try:
        yield stack
    finally:
        stack.stop_all()
