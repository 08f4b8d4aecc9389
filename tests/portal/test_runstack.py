"""`make run` as a person runs it: everything starts, answers, and one Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from django.conf import settings

from tests.fixtures.sandbox import free_port


@pytest.mark.timeout(180)
def test_the_stack_starts_serves_and_stops_on_one_interrupt(tmp_path):
    portal_port, sandbox_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "PORTAL_", "SANDBOX_"))
    }
    env |= {
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_PORT": str(portal_port),
        "SANDBOX_PORT": str(sandbox_port),
    }
    log = (tmp_path / "run.log").open("wb")
    stack = subprocess.Popen(
        [sys.executable, "-m", "portal.runstack"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and stack.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{portal_port}/healthz", timeout=2).json()
                if health["checks"]["broker"]["worker"]["alive"]:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        assert health is not None, output
        assert health["status"] == "ok", health
        assert health["checks"]["broker"]["worker"]["alive"], output
        assert "Demo parent secret" in output
        secret = output.split("Demo parent secret on the sandbox")[1].split(": ", 1)[1].split()[0]

        with httpx.stream(
            "POST",
            f"http://127.0.0.1:{sandbox_port}/v1/conversation/complete",
            headers={"Authorization": f"Bearer {secret}", "Accept": "application/jsonl"},
            json={"messages": [{"type": "user", "text": "hi"}]},
            timeout=10,
        ) as response:
            lines = [line for line in response.iter_lines()]
        assert response.status_code == 200
        assert '"type":"token"' in lines[1]
        assert lines[-1].startswith('{"type":"result"')
        assert httpx.get(f"http://127.0.0.1:{portal_port}/login/").status_code == 200

        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=30) == 0
    finally:
        if stack.poll() is None:
            stack.kill()
        log.close()
    # Nothing of the stack is left listening.
    for port in (portal_port, sandbox_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    assert (tmp_path / "var" / "sandbox-state.json").exists()
