"""The pieces of a run: stub, Redis, the portal, nginx and LiteLLM, each pinned to its core.

Gateways go on the proxy core; the stub, Redis and the bench client share the other one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from bench.gateway.processes import ROOT, Process, Stack, free_port, wait_http

LITELLM_VERSION = "1.93.0"
LITELLM_MASTER_KEY = "sk-litellm-bench-master"
UPSTREAM_SECRET = "sk-bench-parent-secret"  # noqa: S105 (the stub takes any secret)


def start_stub(stack: Stack, cpu: int | None) -> Process:
    port = free_port()
    process = stack.spawn(
        "stub",
        [sys.executable, "-m", "bench.gateway.stub", "--port", str(port)],
        cpu=cpu,
        port=port,
    )
    wait_http(process, f"http://127.0.0.1:{port}/_stub/stats")
    return process


def start_redis(stack: Stack, cpu: int | None) -> str:
    """A private Redis for the run (nothing else's keys, pinned with the stub), or
    BENCH_REDIS_URL when given."""
    given = os.environ.get("BENCH_REDIS_URL")
    if given:
        return given
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = stack.spawn(
        "redis",
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cpu=cpu,
        port=port,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return f"redis://127.0.0.1:{port}/0"
        if not process.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(f"redis-server did not start:\n{process.tail()}")


def portal_env(run_dir: Path, redis_url: str) -> dict[str, str]:
    """Production settings: DEBUG off, Redis limiter and cache, metering on; PostgreSQL when
    DATABASE_URL is set, else SQLite under the run directory."""
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_DEBUG": "false",
        "REDIS_URL": redis_url,
        "PORTAL_VAR_DIR": str(run_dir / "portal-var"),
        "PORTAL_LOG_LEVEL": "WARNING",
        # 1,000 open streams need 1,000 upstream connections (the default pool is 256).
        "UPSTREAM_MAX_CONNECTIONS": "2048",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("CELERY_BROKER_URL", None)
    return env


def prepare_portal(env: Mapping[str, str], stub_url: str) -> dict[str, object]:
    """Migrate, then seed the world (bench/gateway/seed.py); returns its tokens and ids."""
    full_env = {**os.environ, **env}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=full_env, check=True
    )
    out = subprocess.run(
        [sys.executable, "-m", "bench.gateway.seed", "world", "--stub-url", stub_url],
        cwd=ROOT,
        env=full_env,
        check=True,
        capture_output=True,
        text=True,
    )
    world: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return world


def usage_rows(env: Mapping[str, str], token_id: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.gateway.seed", "usage", token_id],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    rows: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return rows


def start_portal(stack: Stack, env: Mapping[str, str], cpu: int | None, token: str) -> Process:
    """``portal.asgi:application`` under uvicorn: one process, uvloop, httptools."""
    port = free_port()
    process = stack.spawn(
        "portal",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "portal.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--lifespan",
            "on",
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ],
        cpu=cpu,
        env=env,
        port=port,
    )
    wait_http(
        process,
        f"http://127.0.0.1:{port}/v1/bot/list",
        headers={"Authorization": f"Bearer {token}"},
    )
    return process


NGINX_CONF = """\
{user}worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    upstream stub {{
        server 127.0.0.1:{stub_port};
        keepalive 256;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://stub;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def start_nginx(stack: Stack, stub_port: int, cpu: int | None) -> Process:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    port = free_port()
    conf = stack.directory / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "",
            dir=stack.directory,
            stub_port=stub_port,
            port=port,
        )
    )
    process = stack.spawn(
        "nginx", [binary, "-p", str(stack.directory), "-c", str(conf)], cpu=cpu, port=port
    )
    wait_http(process, f"http://127.0.0.1:{port}/_stub/stats")
    return process


def litellm_binary(venv: Path) -> Path | str:
    """LiteLLM in its own throwaway venv (never a project dependency); the reason when it
    cannot be had."""
    binary = venv / "bin" / "litellm"
    if binary.exists():
        return binary
    python = sys.executable
    finder = ROOT / "scripts" / "find-python"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        python = (
            subprocess.run([str(finder)], capture_output=True, text=True, check=True).stdout.strip()
            or python
        )
    try:
        subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"litellm[proxy]=={LITELLM_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        shutil.rmtree(venv, ignore_errors=True)
        detail = getattr(error, "stderr", b"") or b""
        last = detail.decode(errors="replace").strip().splitlines()[-1:] if detail else []
        return f"pip install litellm[proxy]=={LITELLM_VERSION} failed: {' '.join(last) or error}"
    return binary if binary.exists() else "the litellm command is missing after install"


LITELLM_CONFIG = """\
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: http://127.0.0.1:{stub_port}/v1
      api_key: {secret}
general_settings:
  master_key: {master_key}
litellm_settings:
  telemetry: false
  drop_params: true
"""


def start_litellm(stack: Stack, binary: Path, stub_port: int, cpu: int | None) -> Process:
    port = free_port()
    config = stack.directory / "litellm.yaml"
    config.write_text(
        LITELLM_CONFIG.format(
            stub_port=stub_port, secret=UPSTREAM_SECRET, master_key=LITELLM_MASTER_KEY
        )
    )
    env: dict[str, str | None] = {
        # Offline: the model cost map ships with the package; no telemetry, no database.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        env[name] = None
    process = stack.spawn(
        "litellm",
        [
            str(binary),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        cpu=cpu,
        env=env,
        port=port,
    )
    wait_http(
        process,
        f"http://127.0.0.1:{port}/health/liveliness",
        timeout=120,
    )
    return process
