"""The optional snapshot: demo data and sessions survive a restart with --state-file."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fixtures.sandbox import free_port, start_sandbox, stop_sandbox


def test_it_keeps_parents_children_and_sessions_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    port = free_port()
    args = ("--dev", "--state-file", str(state))
    process, url = start_sandbox(tmp_path / "first.log", *args, port=port)
    try:
        parent = httpx.post(f"{url}/_sandbox/parent/create", json={"name": "Keep"}).json()
        auth = {"Authorization": f"Bearer {parent['secret']}"}
        child = httpx.post(
            f"{url}/v1/partner/user/create", json={"name": "Kid"}, headers=auth
        ).json()["id"]
        session = httpx.post(
            f"{url}/v1/partner/user/{child}/session/create", json={}, headers=auth
        ).json()["token"]
    finally:
        stop_sandbox(process)
    assert state.exists()

    process, url = start_sandbox(tmp_path / "second.log", *args, port=port)
    try:
        fetched = httpx.get(f"{url}/v1/partner/user/{child}/fetch", headers=auth)
        assert fetched.status_code == 200
        assert fetched.json()["name"] == "Kid"
        as_session = httpx.get(
            f"{url}/v1/usage/fetch", headers={"Authorization": f"Bearer {session}"}
        )
        assert as_session.status_code == 200
    finally:
        stop_sandbox(process)
