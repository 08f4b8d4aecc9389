"""A revocation reaches another worker process within one second."""

from __future__ import annotations

import queue
import sys
import threading
import time

import pytest

from tenants.services import issue_token, revoke_token
from tests.processes import env_for_test_database, running

pytestmark = pytest.mark.django_db(transaction=True)


def lines_of(process) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line.decode().strip())

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], starts: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        if line.startswith(starts):
            return line
        seen.append(line)
    raise AssertionError(f"no line starting {starts!r} within {seconds} s; got {seen}")


def test_another_worker_refuses_a_revoked_token_within_one_second(tenant):
    issued = issue_token(tenant, name="polled", scopes=["*"], actor=None)
    env = {**env_for_test_database(), "PORTAL_TEST_TOKEN": issued.plaintext}
    env.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    with running([sys.executable, "-m", "tests.credentials.poll_token"], env=env) as process:
        lines = lines_of(process)
        wait_for_line(lines, "ready", 60)
        time.sleep(0.3)  # the other worker is now serving the token from its memory
        revoked_at = time.time()
        revoke_token(issued.token, actor=None)
        line = wait_for_line(lines, "refused", 10)
    _, refused_at, reason, token_queries = line.split()
    assert reason == "revoked"
    delay = float(refused_at) - revoked_at
    print(f"refused {delay:.3f} s after the revocation")
    assert delay < 1.0, f"refused only {delay:.3f} s after the revocation"
    # It learnt from the shared store, not by polling the token table.
    assert int(token_queries) == 0
