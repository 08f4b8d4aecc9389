"""Completions (UPSTREAM.md §6.2-6.4): JSON results and JSONL event streams."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.client import Api, events, read_jsonl

HELLO = {"messages": [{"type": "user", "text": "Hello there"}]}


def test_it_answers_a_stateless_complete_with_the_result_only(api: Api) -> None:
    result = api.ok("POST", "/conversation/complete", HELLO)
    assert set(result) == {"text", "usage", "end"}
    assert result["text"].startswith('[sandbox] You said: "Hello there"')
    assert result["usage"]["token"] > 0
    assert result["end"] == {"reason": "stop"}
    assert api.ok("POST", "/conversation/complete", HELLO) == result  # deterministic


def test_it_needs_at_least_one_message_for_a_stateless_complete(api: Api) -> None:
    missing = api.post("/conversation/complete", {})
    assert missing.json() == {"message": '"messages" is required', "code": "BAD_REQUEST"}
    empty = api.post("/conversation/complete", {"messages": []})
    assert empty.json()["message"] == '"messages" must contain at least 1 items'


def test_it_streams_a_stateless_complete_as_well_framed_jsonl(api: Api) -> None:
    with api.stream("/conversation/complete", HELLO) as response:
        lines = events(read_jsonl(response))
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "completeBegin"
    assert kinds[-1] == "result"
    assert kinds.index("message") < kinds.index("usage") < kinds.index("completeEnd")
    tokens = [line["data"]["token"] for line in lines if line["type"] == "token"]
    result = lines[-1]["data"]
    assert "".join(tokens) == result["text"]
    assert all(isinstance(line["createdAt"], int) for line in lines if line["type"] != "ping")
    usage = next(line["data"] for line in lines if line["type"] == "usage")
    assert usage["model"] == "gpt-5.4"
    assert usage["inputTokensUsed"] + usage["outputTokensUsed"] == result["usage"]["token"]


def test_it_sends_tokens_progressively(api: Api, sandbox: Sandbox) -> None:
    sandbox.configure(tokenDelayMs=15)
    with api.stream("/conversation/complete", HELLO) as response:
        lines = read_jsonl(response)
    tokens = [(at, event) for at, event in lines if event["type"] == "token"]
    assert len(tokens) > 10
    arrival_gap = tokens[-1][0] - tokens[0][0]
    stamp_gap = tokens[-1][1]["createdAt"] - tokens[0][1]["createdAt"]
    assert arrival_gap > 0.1
    assert stamp_gap >= 100


def test_it_pings_during_a_slow_completion(api: Api, sandbox: Sandbox) -> None:
    sandbox.configure(tokenDelayMs=40, pingIntervalMs=20)
    with api.stream("/conversation/complete", HELLO) as response:
        lines = events(read_jsonl(response))
    pings = [line for line in lines if line["type"] == "ping"]
    assert pings
    assert all(ping == {"type": "ping", "data": {}} for ping in pings)
    assert lines[-1]["type"] == "result"


def test_it_completes_a_stored_conversation_turn(api: Api) -> None:
    conversation = api.ok("POST", "/conversation/create", {"model": "gpt-4o/temperature=0.1"})["id"]
    with api.stream(f"/conversation/{conversation}/complete", {"text": "  Hi  "}) as response:
        lines = events(read_jsonl(response))
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "sendResult"
    assert kinds[-2:] == ["receiveResult", "result"]
    assert lines[0]["data"]["text"] == "Hi"
    result = lines[-1]["data"]
    assert set(result) == {"id", "text", "usage", "end"}
    assert next(line for line in lines if line["type"] == "usage")["data"]["model"] == "gpt-4o"
    stored = api.ok("GET", f"/conversation/{conversation}/message/list")["items"]
    assert [(m["type"], m["text"]) for m in stored] == [("user", "Hi"), ("bot", result["text"])]
    assert stored[1]["id"] == result["id"]


def test_it_continues_a_conversation_without_new_text_and_rejects_blank_text(api: Api) -> None:
    conversation = api.ok(
        "POST", "/conversation/create", {"messages": [{"type": "user", "text": "earlier"}]}
    )["id"]
    result = api.ok("POST", f"/conversation/{conversation}/complete", {})
    assert '"earlier"' in result["text"]
    blank = api.post(f"/conversation/{conversation}/complete", {"text": "   "})
    assert blank.json()["message"] == '"text" is not allowed to be empty'


def test_it_sends_and_receives_as_separate_steps(api: Api) -> None:
    conversation = api.ok("POST", "/conversation/create", {})["id"]
    sent = api.ok("POST", f"/conversation/{conversation}/send", {"text": "ping?"})
    assert set(sent) == {"id", "entities"}
    received = api.ok("POST", f"/conversation/{conversation}/receive", {})
    assert set(received) == {"id", "text", "usage"}
    assert '"ping?"' in received["text"]
    with api.stream(f"/conversation/{conversation}/send", {"text": "again"}) as response:
        (only,) = events(read_jsonl(response))
    assert only["type"] == "result"
    assert set(only["data"]) == {"id", "entities"}


def test_it_can_stream_server_sent_events(api: Api) -> None:
    headers = {**api.headers, "Accept": "text/event-stream"}
    response = api.client.post("/v1/conversation/complete", json=HELLO, headers=headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("event: completeBegin\ndata: {")
    assert "event: result\n" in response.text


def test_it_pads_replies_on_request_for_long_streams(api: Api, sandbox: Sandbox) -> None:
    sandbox.configure(tokenDelayMs=0)
    body = {"messages": [{"type": "user", "text": "long please [sandbox:words=300]"}]}
    assert len(api.ok("POST", "/conversation/complete", body)["text"].split()) == 300


def test_it_stops_a_stream_as_soon_as_the_client_goes_away(api: Api, sandbox: Sandbox) -> None:
    sandbox.configure(tokenDelayMs=50)
    before = sandbox.state()["streams"]
    with api.stream("/conversation/complete", HELLO) as response:
        lines = response.iter_lines()
        next(lines)
        next(lines)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        after = sandbox.state()["streams"]
        if after["streamsAborted"] > before["streamsAborted"]:
            break
        time.sleep(0.02)
    assert after["streamsAborted"] == before["streamsAborted"] + 1
    assert after["streamsCompleted"] == before["streamsCompleted"]


@pytest.mark.parametrize("accept", ["application/json", "*/*", ""])
def test_it_answers_json_for_plain_accept_headers(api: Api, accept: str) -> None:
    headers = {**api.headers, "Accept": accept}
    response = api.client.post("/v1/conversation/complete", json=HELLO, headers=headers)
    assert response.headers["content-type"].startswith("application/json")
    assert "text" in response.json()
