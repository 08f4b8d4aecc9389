"""Streams through the proxy: line for line as they arrive, lists, channels, disconnects."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.processes import wait_for
from tests.proxy.conftest import auth, complete_body

JSONL = {"Accept": "application/jsonl"}


def _timed_lines(client, method: str, path: str, headers: dict[str, str], **kwargs):
    started = time.monotonic()
    lines: list[tuple[float, str]] = []
    with client.stream(method, path, headers=headers, **kwargs) as response:
        for line in response.iter_lines():
            lines.append((time.monotonic() - started, line))
    return response, lines


def test_a_streamed_completion_arrives_line_by_line_as_the_upstream_sends_it(world, client):
    world.sandbox.configure(tokenDelayMs=60)
    token = world.token(world.a_child)

    response, lines = _timed_lines(
        client,
        "POST",
        "/v1/conversation/complete",
        auth(token, **JSONL, **{"Accept-Encoding": "gzip"}),
        json=complete_body("Tell me a long story please"),
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonl")
    assert "content-encoding" not in response.headers  # never compressed
    assert "content-length" not in response.headers, list(response.headers.items())
    events = [json.loads(line) for _, line in lines]
    assert all(line for _, line in lines)  # no blank lines (the Node SDK would throw)
    assert events[-1]["type"] == "result"
    token_times = [
        at for (at, _), event in zip(lines, events, strict=True) if event["type"] == "token"
    ]
    assert len(token_times) >= 4
    # Tokens flow as they are made (60 ms apart upstream), not all at once at the end.
    assert token_times[-1] - token_times[0] >= 0.06 * (len(token_times) - 1) * 0.6
    assert token_times[0] < lines[-1][0] - 0.1


def test_the_relayed_stream_is_the_upstreams_stream(world, client):
    token = world.token(world.a_child)
    body = complete_body("same words")

    _, lines = _timed_lines(
        client, "POST", "/api/v1/conversation/complete", auth(token, **JSONL), json=body
    )
    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        direct = upstream.post(
            "/v1/conversation/complete", json=body, headers=JSONL
        ).text.splitlines()

    def shape(line: str) -> tuple[str, object]:
        event = json.loads(line)
        return event["type"], event["data"].get("token") or event["data"].get("text")

    assert [shape(line) for _, line in lines] == [shape(line) for line in direct]


def test_a_jsonl_list_streams_every_item(world, client):
    token = world.token(world.a_sibling)
    for number in range(3):
        client.post("/v1/bot/create", json={"name": f"listed {number}"}, headers=auth(token))

    response, lines = _timed_lines(client, "GET", "/v1/bot/list", auth(token, **JSONL))
    as_json = client.get("/v1/bot/list", params={"take": 2}, headers=auth(token))

    assert response.status_code == 200
    items = [json.loads(line) for _, line in lines]
    assert [item["type"] for item in items] == ["item"] * 3
    assert {item["data"]["name"] for item in items} == {"listed 0", "listed 1", "listed 2"}
    assert len(as_json.json()["items"]) == 2  # query parameters go upstream
    assert as_json.headers["content-length"] == str(len(as_json.content))


def test_a_dispatch_is_heard_by_a_subscriber_with_the_same_run_as(world, client):
    token = world.token(world.partner_a)
    as_child = auth(token, **{"X-RunAs-UserId": world.a_child.public_id})
    channel = "proxy-dispatch-channel-000000001"

    dispatched = client.post(
        "/v1/conversation/dispatch", json=complete_body(channelId=channel), headers=as_child
    )
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json() == {"channelId": channel}

    inner = []
    with client.stream(
        "POST",
        f"/v1/channel/{channel}/subscribe",
        json={"historyLength": 1000},
        headers={**as_child, **JSONL},
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            event = json.loads(line)
            if event["type"] == "message":
                inner.append(event["data"]["type"])
                if event["data"]["type"] in {"result", "error"}:
                    break
    assert "token" in inner
    assert inner[-1] == "result"


def test_a_client_that_leaves_a_completion_closes_the_upstream_stream(world, client):
    world.sandbox.configure(tokenDelayMs=200)
    token = world.token(world.a_child)
    before = world.sandbox.state()["streams"]

    with client.stream(
        "POST",
        "/v1/conversation/complete",
        json=complete_body("a long answer please"),
        headers=auth(token, **JSONL),
    ) as response:
        # Held in a variable: a line iterator that is dropped closes the connection (httpcore).
        lines = response.iter_lines()
        for line in lines:
            if json.loads(line)["type"] == "token":
                break
        assert world.sandbox.state()["streams"]["activeStreams"] == before["activeStreams"] + 1
    left_at = time.monotonic()

    def upstream_closed() -> bool:
        streams = world.sandbox.state()["streams"]
        return bool(
            streams["activeStreams"] == before["activeStreams"]
            and streams["streamsAborted"] == before["streamsAborted"] + 1
        )

    wait_for(upstream_closed, 2, "the upstream stream to be aborted")
    assert time.monotonic() - left_at < 1.0


def test_a_client_that_leaves_a_subscription_unsubscribes_upstream(world, client):
    token = world.token(world.a_child)
    before = world.sandbox.state()["subscribers"]

    with client.stream(
        "POST",
        "/v1/channel/proxy-leaving-channel-00000001/subscribe",
        json={},
        headers=auth(token, **JSONL),
    ) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines)) == {"type": "nop", "data": {}}
        assert world.sandbox.state()["subscribers"] == before + 1

    wait_for(lambda: world.sandbox.state()["subscribers"] == before, 2, "the unsubscribe")


@pytest.mark.parametrize("path", ["/v1/usage/fetch", "/v1/nothing/here"])
def test_every_answer_says_how_long_the_portal_took(world, client, path):
    token = world.token(world.a_child)

    response = client.get(path, headers=auth(token))

    timing = response.headers["server-timing"]
    match = re.match(r"portal;dur=(\d+\.\d+)(?:, upstream;dur=(\d+\.\d+))?$", timing)
    assert match, timing
    assert float(match.group(1)) < 1000
