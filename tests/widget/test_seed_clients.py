"""Seed 001's own clients against the widget stream: its Python ``requests`` loop, run as the
seed prints it (only the URL, key and body values filled in), on both paths and both key
headers. The seed's ``fetch`` reader runs in Chromium (tests/browser/test_widget.py)."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.widget.helpers import SITE, events, session, widget_key


def seed_python_client(base_url: str, path: str, api_key: str, session_id: str, message: str):
    """The seed's Python example, verbatim but for the values (and the key header's name)."""
    import json

    import requests

    response = requests.post(  # noqa: S113  (the seed sets no timeout; pytest-timeout does)
        f"{base_url}{path}",
        headers={"Content-Type": "application/json", "x-api-key": api_key},
        json={"sessionId": session_id, "message": message},
        stream=True,
    )

    for line in response.iter_lines():
        if line:
            event = json.loads(line)
            if event["type"] == "start":
                print(f"Stream started: {event['conversationId']}")
            elif event["type"] == "token":
                print(event["token"], end="", flush=True)
            elif event["type"] == "done":
                print(f"\nComplete message: {event['message']}")
            elif event["type"] == "error":
                print(f"Error: {event['error']}")
    return response


@pytest.mark.parametrize("path", ["/v1/chat/stream", "/chat", "/api/v1/chat/stream"])
def test_the_seeds_python_client_prints_start_tokens_and_the_complete_message(
    world, portal, capsys, path
):
    key = widget_key(world, world.a_child)

    response = seed_python_client(portal.url, path, key, session(), "Tell me about your services")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    printed = capsys.readouterr().out
    started = re.match(r"Stream started: (\S+)\n", printed)
    assert started, printed
    streamed, _, complete = printed[started.end() :].partition("\nComplete message: ")
    assert complete == streamed + "\n"  # the tokens, joined, are the complete message
    assert "Tell me about your services" in complete
    assert "Error:" not in printed


def test_the_alias_and_both_paths_answer_exactly_alike(world, client):
    key = widget_key(world, world.a_child)

    def shape(path: str) -> list[tuple[str, str]]:
        response = client.post(
            path, json={"sessionId": session(), "message": "same words"}, headers={"x-api-key": key}
        )
        assert response.status_code == 200
        return [
            (event["type"], event.get("token") or event.get("message") or "")
            for event in events(response)
        ]

    assert shape("/chat") == shape("/v1/chat/stream") == shape("/api/v1/chat/stream")


@pytest.mark.parametrize("header", ["x-api-key", "x-widget-api-key", "X-Widget-Api-Key"])
def test_either_key_header_is_accepted(world, client, header):
    key = widget_key(world, world.a_child)

    response = client.post(
        "/v1/chat/stream",
        json={"sessionId": session(), "message": "hi"},
        headers={header: key},
    )

    assert response.status_code == 200
    assert [event["type"] for event in events(response)][:: len(events(response)) - 1] == [
        "start",
        "done",
    ]


def test_the_lines_are_the_seeds_shapes_and_nothing_else(world, client):
    key = widget_key(world, world.a_child)

    response = client.post(
        "/chat",
        json={"sessionId": "user-123", "message": "Explain what your company does"},
        headers={"x-api-key": key, "Origin": SITE},
    )

    lines = response.text.split("\n")
    assert lines[-1] == ""  # every line ends with a newline, and none is blank
    parsed = [json.loads(line) for line in lines[:-1]]
    start, *tokens, done = parsed
    assert set(start) == {"type", "conversationId"}
    assert start["type"] == "start"
    assert all(set(token) == {"type", "token"} and token["type"] == "token" for token in tokens)
    assert len(tokens) > 3
    assert set(done) == {"type", "message", "conversationId"}
    assert done["type"] == "done"
    assert done["conversationId"] == start["conversationId"]
    assert done["message"] == "".join(token["token"] for token in tokens)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["access-control-allow-origin"] == SITE


def test_tokens_reach_the_client_as_the_bot_makes_them(world, client):
    world.sandbox.configure(tokenDelayMs=60)
    key = widget_key(world, world.a_child)
    started = time.monotonic()
    arrivals: list[tuple[float, dict[str, str]]] = []

    with client.stream(
        "POST",
        "/v1/chat/stream",
        json={"sessionId": session(), "message": "tell me a long story please"},
        headers={"x-api-key": key},
    ) as response:
        for line in response.iter_lines():
            arrivals.append((time.monotonic() - started, json.loads(line)))

    token_times = [at for at, event in arrivals if event["type"] == "token"]
    done_at = arrivals[-1][0]
    assert arrivals[-1][1]["type"] == "done"
    assert len(token_times) >= 8
    # Streamed as made (60 ms apart upstream), not buffered until the end.
    assert done_at - token_times[0] >= 0.06 * (len(token_times) - 1) * 0.6
