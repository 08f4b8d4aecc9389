"""Upstream failures as clients see them: relayed unchanged, or named, never a stack trace."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tenants.services import create_partner
from tenants.services.tokens import issue_token
from tests.factories import UNREACHABLE_UPSTREAM
from tests.fixtures.live import PortalServer, portal_server
from tests.proxy.conftest import auth, complete_body

JSONL = {"Accept": "application/jsonl"}


def _assert_portal_error(response, status: int, code: str, *parts: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "code"}
    assert body["code"] == code
    for part in parts:
        assert part in body["message"]
    assert "Traceback" not in response.text


def _lines(client, path: str, headers: dict[str, str], body: dict[str, object]) -> list[Any]:
    with client.stream("POST", path, json=body, headers=headers) as response:
        assert response.status_code == 200
        raw = list(response.iter_lines())
    return [json.loads(line) for line in raw]  # every line is whole JSON


def test_an_unreachable_upstream_is_a_502_naming_it(client):
    partner = create_partner(
        name="Nowhere", upstream_base_url=UNREACHABLE_UPSTREAM, upstream_secret="sk-nowhere00"
    )
    token = issue_token(partner, name="t", scopes=["*"], actor=None).plaintext

    response = client.get("/v1/bot/list", headers=auth(token))

    _assert_portal_error(response, 502, "BAD_GATEWAY", "127.0.0.1:9")
    assert "sk-nowhere00" not in response.text


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (500, "INTERNAL_SERVER_ERROR", "Something went wrong"),
        (503, "SERVICE_UNAVAILABLE", "Down for maintenance"),
        (429, "LIMITS_REACHED", "You have exceeded your allocated account limits: message"),
    ],
)
def test_upstream_errors_pass_through_unchanged(world, client, status, code, message):
    token = world.token(world.a_child)
    world.sandbox.inject_fault(
        "/v1/conversation/complete", "status", status=status, code=code, message=message
    )

    response = client.post("/v1/conversation/complete", json=complete_body(), headers=auth(token))

    assert response.status_code == status
    assert response.json() == {"message": message, "code": code}
    if code == "LIMITS_REACHED":
        assert response.headers["X-Failure-Code"] == "LIMITS_REACHED"


def test_an_upstream_validation_error_passes_through(world, client):
    token = world.token(world.a_child)

    response = client.post(
        "/v1/conversation/complete", json={"messages": []}, headers=auth(token, **JSONL)
    )

    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"


def test_a_reset_in_the_middle_of_a_stream_ends_it_with_an_error_line(world, client):
    token = world.token(world.a_child)
    world.sandbox.inject_fault("/v1/conversation/complete", "reset_mid_stream", afterTokens=2)

    events = _lines(client, "/v1/conversation/complete", auth(token, **JSONL), complete_body())

    assert [e["type"] for e in events].count("token") == 2
    assert events[-1]["type"] == "error"
    assert events[-1]["data"]["code"] == "BAD_GATEWAY"
    assert "broke in the middle of a stream" in events[-1]["data"]["message"]


@pytest.fixture
def impatient_portal(settings, committed_db) -> Iterator[PortalServer]:
    """A second portal whose upstream client gives up after 1 s of silence."""
    settings.UPSTREAM_READ_TIMEOUT = 1
    with portal_server() as server:
        yield server


def test_an_upstream_that_does_not_answer_in_time_is_a_504_naming_it(world, impatient_portal):
    token = world.token(world.a_child)
    world.sandbox.inject_fault("/v1/usage/fetch", "latency", ms=3000)

    response = httpx.get(f"{impatient_portal.url}/v1/usage/fetch", headers=auth(token), timeout=10)

    _assert_portal_error(response, 504, "GATEWAY_TIMEOUT", "127.0.0.1", "1 s")


def test_an_upstream_that_stalls_mid_stream_ends_it_with_a_timeout_line(world, impatient_portal):
    token = world.token(world.a_child)
    world.sandbox.inject_fault("/v1/conversation/complete", "stall", afterTokens=1)

    with httpx.Client(base_url=impatient_portal.url, timeout=10) as client:
        events = _lines(client, "/v1/conversation/complete", auth(token, **JSONL), complete_body())

    assert [e["type"] for e in events].count("token") == 1
    assert events[-1] == {
        "type": "error",
        "data": {
            "message": events[-1]["data"]["message"],
            "code": "GATEWAY_TIMEOUT",
        },
    }
    assert "sent nothing for 1 s" in events[-1]["data"]["message"]


class _QuirkyUpstream(BaseHTTPRequestHandler):
    """An upstream whose slow call failed after it committed a 200 (UPSTREAM.md §2)."""

    def do_GET(self) -> None:
        body = json.dumps({"code": "LIMITS_REACHED", "message": "Limits reached"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_200_whose_body_is_an_error_is_relayed_as_that_error(client):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QuirkyUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        partner = create_partner(
            name="Quirky",
            upstream_base_url=f"http://127.0.0.1:{server.server_address[1]}",
            upstream_secret="sk-quirky000",
        )
        token = issue_token(partner, name="t", scopes=["*"], actor=None).plaintext
        response = client.get("/v1/usage/fetch", headers=auth(token))
    finally:
        server.shutdown()
        server.server_close()

    assert response.status_code == 429
    assert response.json() == {"code": "LIMITS_REACHED", "message": "Limits reached"}
