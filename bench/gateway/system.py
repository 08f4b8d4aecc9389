"""What the machine says: its description, load, listen-queue overflows, a process's memory and
sockets, and wrk's answers."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# -- the machine -----------------------------------------------------------------------------


def machine() -> dict[str, object]:
    cpu = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(_meminfo_kib("MemTotal") / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


# Run pinned to the gateways' core: the median time of one HMAC (a small piece of C code the
# proxy runs on every call) when it is the first thing done after 20 ms asleep, and when it is
# done again at once. What the second costs is the code; what the first costs more is the
# machine waking a core that went idle (on a VM without halt polling, the vCPU left its
# physical core and comes back with cold caches). At 50 new streams/s the proxy sleeps between
# most steps of a call, so each step pays this; at 300/s it mostly does not.
_WAKE_PROBE = """
import hmac, json, os, sys, time
if sys.argv[1] != "-": os.sched_setaffinity(0, {int(sys.argv[1])})
key, message, idle, warm = b"k" * 32, b"portal-token:" + b"x" * 48, [], []
for _ in range(60):
    time.sleep(0.02)
    for out in (idle, warm):
        start = time.perf_counter(); hmac.digest(key, message, "sha256")
        out.append((time.perf_counter() - start) * 1e6)
print(json.dumps([sorted(idle)[30], sorted(warm)[30]]))
"""


def wake_penalty(cpu: int | None) -> dict[str, object]:
    """How much slower this core runs code right after it was idle (see ``_WAKE_PROBE``);
    empty when the probe could not run (the report then says nothing of it)."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _WAKE_PROBE, "-" if cpu is None else str(cpu)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        idle_us, warm_us = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        print(f"! wake probe failed: {error}", flush=True)
        return {}
    return {
        "idle_us": round(idle_us, 1),
        "warm_us": round(warm_us, 1),
        "cpuidle": _read("/sys/devices/system/cpu/cpuidle/current_driver").strip() or None,
        "halt_poll_ns": _read("/sys/module/haltpoll/parameters/guest_halt_poll_ns").strip() or None,
    }


def versions(litellm: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("django", "uvicorn", "uvloop", "httptools", "aiohttp", "redis", "hiredis"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    found["nginx"] = _command_version(["nginx", "-v"], r"nginx/(\S+)")
    found["wrk"] = _command_version(["wrk", "-v"], r"wrk (\S+)")
    found["redis-server"] = _command_version(["redis-server", "--version"], r"v=(\S+)")
    if litellm:
        found["litellm"] = litellm
    return found


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def cpu_pressure() -> dict[str, float]:
    """The share of time some runnable task waited for a CPU (PSI, /proc/pressure/cpu): how
    busy the machine was with other work."""
    for line in _read("/proc/pressure/cpu").splitlines():
        if line.startswith("some "):
            fields = dict(item.split("=", 1) for item in line.split()[1:])
            return {key: float(fields[key]) for key in ("avg10", "avg60") if key in fields}
    return {}


def listen_overflows() -> int:
    """``TcpExtListenOverflows`` (as nstat names it): connections dropped because a listen
    queue was full, machine-wide. Read from /proc/net/netstat, the counter nstat shows."""
    lines = _read("/proc/net/netstat").splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0))
    return 0


# -- a process -------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (nginx's master and worker, for example)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in _read(str(task / "children")).split():
            found += tree(int(child))
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the process (all its threads) and its children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in tree(pid):
        fields = _read(f"/proc/{member}/stat").rsplit(")", 1)[-1].split()
        if len(fields) > 12:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def rss_kib(pid: int) -> int:
    """Resident memory of the process and its children."""
    total = 0
    for member in tree(pid):
        for line in _read(f"/proc/{member}/status").splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def open_sockets(pid: int) -> int:
    """TCP and Unix sockets open in the process and its children."""
    count = 0
    for member in tree(pid):
        fds = Path(f"/proc/{member}/fd")
        try:
            entries = list(fds.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                if os.readlink(entry).startswith("socket:"):
                    count += 1
            except OSError:
                continue
    return count


# -- wrk -------------------------------------------------------------------------------------

_DURATION = re.compile(r"([\d.]+)(us|ms|s|m)\b")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, errors and latency percentiles (ms) from ``wrk --latency`` output."""
    result: dict[str, float] = {"rps": 0.0, "requests": 0, "non_2xx": 0, "socket_errors": 0}
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("Requests/sec:"):
            result["rps"] = float(text.split()[1])
        elif " requests in " in text:
            result["requests"] = int(text.split()[0])
        elif text.startswith("Non-2xx or 3xx responses:"):
            result["non_2xx"] = int(text.split(":")[1])
        elif text.startswith("Socket errors:"):
            result["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", text))
        else:
            match = re.match(r"^(50|90|99)(?:\.0+)?%\s+(\S+)$", text)
            if match:
                result[f"p{match.group(1)}_ms"] = _ms(match.group(2))
    return result


def _ms(text: str) -> float:
    match = _DURATION.fullmatch(text)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk_lua(path: Path, method: str, headers: dict[str, str], body: str) -> Path:
    """A wrk script that sends ``method`` with ``headers`` and ``body``."""
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = [[{body}]]")
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(
    url: str, script: Path, *, seconds: float, connections: int, cpu: int | None
) -> dict[str, float]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-s", str(script), url,
    ]  # fmt: skip
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return parse_wrk(out.stdout)


# -- helpers ---------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _meminfo_kib(name: str) -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _command_version(command: list[str], pattern: str) -> str:
    if shutil.which(command[0]) is None and not Path("/usr/sbin/" + command[0]).exists():
        return "-"
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "-"
