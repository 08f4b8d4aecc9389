"""Injected faults: latency, slow first token, status before the stream, resets and stalls."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.client import Api, events, read_jsonl

HELLO = {"messages": [{"type": "user", "text": "Hello faults"}]}
COMPLETE = "/v1/conversation/complete"


def read_until_failure(
    api: Api, path: str, body: object, **kwargs: object
) -> tuple[list[dict[str, object]], httpx.TransportError | None]:
    """The lines a stream delivered before the transport failed, and the failure."""
    received = []
    try:
        with api.stream(path, body, **kwargs) as response:
            for raw in response.iter_lines():
                received.append(json.loads(raw))
    except httpx.TransportError as error:
        return received, error
    return received, None


def test_latency_delays_only_as_many_requests_as_asked(api: Api, sandbox: Sandbox) -> None:
    sandbox.inject_fault("/v1/bot/list", "latency", ms=300, times=1)
    started = time.monotonic()
    assert api.get("/bot/list").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert api.get("/bot/list").status_code == 200
    assert time.monotonic() - started < 0.3


def test_a_status_fault_answers_before_any_stream(api: Api, sandbox: Sandbox) -> None:
    sandbox.inject_fault(COMPLETE, "status", status=503, times=1)
    with api.stream("/conversation/complete", HELLO) as response:
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/json")
        assert json.loads(response.read()) == {
            "message": "Service unavailable",
            "code": "SERVICE_UNAVAILABLE",
        }
    with api.stream("/conversation/complete", HELLO) as response:
        assert events(read_jsonl(response))[-1]["type"] == "result"


def test_a_status_fault_can_carry_its_own_code_and_matches_the_api_prefix_too(
    api: Api, sandbox: Sandbox
) -> None:
    sandbox.inject_fault("/v1/conversation/*", "status", status=429, code="TOO_MANY_REQUESTS")
    response = api.with_prefix("/api/v1").post("/conversation/complete", HELLO)
    assert response.status_code == 429
    assert response.json()["code"] == "TOO_MANY_REQUESTS"
    assert response.headers["x-failure-code"] == "TOO_MANY_REQUESTS"
    sandbox.clear_faults()
    assert api.post("/conversation/complete", HELLO).status_code == 200


def test_a_slow_first_token_holds_back_only_the_first_token(api: Api, sandbox: Sandbox) -> None:
    sandbox.inject_fault(COMPLETE, "slow_first_token", ms=400)
    started = time.monotonic()
    with api.stream("/conversation/complete", HELLO) as response:
        lines = read_jsonl(response)
    tokens = [at for at, event in lines if event["type"] == "token"]
    begin = next(at for at, event in lines if event["type"] == "completeBegin")
    assert begin - started < 0.3
    assert tokens[0] - started >= 0.4
    assert tokens[-1] - tokens[0] < 0.4


def test_a_reset_cuts_the_connection_after_some_tokens(api: Api, sandbox: Sandbox) -> None:
    sandbox.inject_fault(COMPLETE, "reset_mid_stream", afterTokens=2)
    received, failure = read_until_failure(api, "/conversation/complete", HELLO)
    assert isinstance(failure, httpx.RemoteProtocolError)  # incomplete chunked read
    assert [line["type"] for line in received].count("token") == 2
    assert "result" not in [line["type"] for line in received]


def test_a_reset_on_a_json_request_drops_the_connection(api: Api, sandbox: Sandbox) -> None:
    sandbox.inject_fault(COMPLETE, "reset_mid_stream", afterTokens=1, times=1)
    with pytest.raises(httpx.TransportError):
        api.post("/conversation/complete", HELLO)
    assert api.post("/conversation/complete", HELLO).status_code == 200


def test_a_stall_keeps_the_connection_open_and_silent(api: Api, sandbox: Sandbox) -> None:
    sandbox.inject_fault(COMPLETE, "stall", afterTokens=2)
    timeout = httpx.Timeout(5.0, read=0.5)
    received, failure = read_until_failure(api, "/conversation/complete", HELLO, timeout=timeout)
    assert isinstance(failure, httpx.ReadTimeout)
    assert [line["type"] for line in received].count("token") == 2
    # Once the client gives up, the stalled handler is cancelled rather than left hanging.
    deadline = time.monotonic() + 2
    while sandbox.state()["streams"]["activeStreams"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.state()["streams"]["activeStreams"] == 0


def test_stream_faults_apply_to_stateful_completes(api: Api, sandbox: Sandbox) -> None:
    conversation = api.ok("POST", "/conversation/create", {})["id"]
    sandbox.inject_fault("/v1/conversation/*/complete", "reset_mid_stream", afterTokens=0)
    received, failure = read_until_failure(
        api, f"/conversation/{conversation}/complete", {"text": "x"}
    )
    assert failure is not None
    assert "result" not in [line["type"] for line in received]
    # Cut before the usage event: the bot reply was neither stored nor billed.
    stored = api.ok("GET", f"/conversation/{conversation}/message/list")["items"]
    assert [m["type"] for m in stored] == ["user"]


def test_it_rejects_an_unknown_fault_kind(http: httpx.Client) -> None:
    response = http.post("/_sandbox/fault/create", json={"route": "/v1/**", "kind": "gremlins"})
    assert response.status_code == 400
