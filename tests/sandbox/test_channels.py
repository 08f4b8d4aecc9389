"""Dispatch and channels (UPSTREAM.md §7): nop first, envelopes, replay and session scoping."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.sandbox.client import Api

HELLO = {"messages": [{"type": "user", "text": "Hello channel"}]}


def subscribe(api: Api, channel: str, history: int = 0, read_timeout: float = 5.0):
    return api.client.stream(
        "POST",
        f"/v1/channel/{channel}/subscribe",
        json={"historyLength": history} if history else {},
        headers={**api.headers, "Accept": "application/jsonl"},
        timeout=httpx.Timeout(5.0, read=read_timeout),
    )


def read_until_result(response: httpx.Response) -> list[dict[str, Any]]:
    """Read envelopes until the inner result: the subscription itself never closes."""
    lines = []
    for raw in response.iter_lines():
        assert raw, "no blank lines"
        line = json.loads(raw)
        lines.append(line)
        if line["type"] == "message" and line["data"]["type"] in ("result", "error"):
            break
    return lines


def test_it_replays_a_dispatched_completion_after_nop(api: Api) -> None:
    channel = api.ok("POST", "/conversation/dispatch", HELLO)["channelId"]
    assert len(channel) >= 24
    with subscribe(api, channel, history=1000) as response:
        lines = read_until_result(response)
    assert lines[0] == {"type": "nop", "data": {}}
    envelopes = lines[1:]
    assert all(line["type"] == "message" for line in envelopes)
    inner = [line["data"] for line in envelopes]
    assert all(set(event) == {"type", "data"} for event in inner)  # createdAt is dropped
    assert [event["type"] for event in inner][-1] == "result"
    tokens = "".join(event["data"]["token"] for event in inner if event["type"] == "token")
    assert tokens == inner[-1]["data"]["text"]


def test_it_streams_live_messages_to_a_subscriber(api: Api) -> None:
    conversation = api.ok("POST", "/conversation/create", {})["id"]
    channel = "live-channel-" + "x" * 20
    with subscribe(api, channel) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines)) == {"type": "nop", "data": {}}
        dispatched = api.ok(
            "POST", f"/conversation/{conversation}/dispatch", {"text": "hi", "channelId": channel}
        )
        assert dispatched == {"channelId": channel}
        first = json.loads(next(lines))
        assert first["data"]["type"] == "sendResult"
    stored = api.ok("GET", f"/conversation/{conversation}/message/list")["items"]
    assert stored[0]["text"] == "hi"


def test_it_replays_only_the_requested_history(api: Api) -> None:
    channel = "history-channel-0000000001"
    for n in range(5):
        assert api.ok("POST", f"/channel/{channel}/publish", {"message": {"n": n}}) == {
            "id": channel
        }
    with subscribe(api, channel, history=2) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines))["type"] == "nop"
        assert json.loads(next(lines)) == {"type": "message", "data": {"n": 3}}
        assert json.loads(next(lines)) == {"type": "message", "data": {"n": 4}}


def assert_hears_nothing(api: Api, channel: str) -> None:
    with subscribe(api, channel, history=1000, read_timeout=0.2) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines))["type"] == "nop"
        with pytest.raises(httpx.ReadTimeout):
            next(lines)


def test_another_token_or_run_as_child_hears_nothing(
    api: Api, child: str, other_parent_api: Api
) -> None:
    channel = "scoped-channel-000000000001"
    api.ok("POST", f"/channel/{channel}/publish", {"message": {"secret": True}})
    token = api.ok("POST", f"/partner/user/{child}/token/create", {})["token"]
    assert_hears_nothing(other_parent_api, channel)
    assert_hears_nothing(api.as_child(child), channel)
    assert_hears_nothing(Api(api.client, token), channel)
    with subscribe(api, channel, history=10) as response:
        lines = response.iter_lines()
        next(lines)
        assert json.loads(next(lines))["data"] == {"secret": True}


def test_it_refuses_short_channel_ids(api: Api) -> None:
    response = api.post("/channel/short/publish", {"message": {}})
    assert response.json() == {"message": "channelId is too short", "code": "BAD_REQUEST"}
    dispatch = api.post("/conversation/dispatch", {**HELLO, "channelId": "a" * 20})
    assert dispatch.json()["message"] == '"channelId" length must be at least 24 characters long'


def test_a_dispatch_over_its_limits_publishes_an_error(api: Api) -> None:
    child = api.ok("POST", "/partner/user/create", {"limits": {"messages": 0}})["id"]
    as_child = api.as_child(child)
    channel = as_child.ok("POST", "/conversation/dispatch", HELLO)["channelId"]
    with subscribe(as_child, channel, history=10) as response:
        lines = read_until_result(response)
    assert lines[-1]["data"] == {"type": "error", "data": {"message": "Limits exceeded for user"}}
