"""Every proxied call is recorded, as the client saw it, with what it used."""

from __future__ import annotations

import json

from tests.metering.live.helpers import events_of, token_id
from tests.proxy.conftest import auth, complete_body

JSONL = {"Accept": "application/jsonl"}


def test_n_calls_make_n_events_whose_totals_are_the_calls_usage(world, client):
    token = world.token(world.a_child)
    billed = 0
    for number in range(3):
        answer = client.post(
            "/v1/conversation/complete", json=complete_body(f"hi {number}"), headers=auth(token)
        )
        assert answer.status_code == 200, answer.text
        billed += answer.json()["usage"]["token"]
    for _ in range(4):
        assert client.get("/v1/bot/list", headers=auth(token)).status_code == 200
    assert client.get("/v1/bot/list").status_code == 401  # no token: nobody to bill

    events = events_of(token, 7)

    assert sum(event.messages for event in events) == 3
    assert sum(event.tokens for event in events) == billed > 0
    assert not any(event.estimated for event in events)
    assert {event.account_id for event in events} == {world.a_child.pk}
    assert sorted({event.route for event in events}) == ["/bot/list", "/conversation/complete"]
    assert all(event.status == 200 and event.request_id for event in events)


def test_a_streamed_completion_records_the_tokens_of_its_result_and_usage_events(world, client):
    token = world.token(world.partner_a)
    as_child = auth(token, **JSONL, **{"X-RunAs-User-ID": world.a_sibling.public_id})

    with client.stream(
        "POST", "/v1/conversation/complete", json=complete_body("stream it"), headers=as_child
    ) as response:
        lines = [json.loads(line) for line in response.iter_lines()]

    result = next(line for line in lines if line["type"] == "result")
    usage = next(line for line in lines if line["type"] == "usage")["data"]
    (event,) = events_of(token, 1)
    assert event.account_id == world.a_sibling.pk  # the run-as target's usage
    assert event.token_id == token_id(token)
    assert (event.tokens, event.estimated) == (result["data"]["usage"]["token"], False)
    assert (event.input_tokens, event.output_tokens) == (
        usage["inputTokensUsed"],
        usage["outputTokensUsed"],
    )
    assert (event.route, event.method, event.status, event.messages) == (
        "/conversation/complete",
        "POST",
        200,
        1,
    )


def test_a_client_that_leaves_mid_stream_leaves_its_partial_usage(world, client):
    world.sandbox.configure(tokenDelayMs=150)
    token = world.token(world.a_child)

    with client.stream(
        "POST",
        "/v1/conversation/complete",
        json=complete_body("a long answer please"),
        headers=auth(token, **JSONL),
    ) as response:
        lines = response.iter_lines()  # held: a dropped iterator closes the connection
        seen = 0
        for line in lines:
            seen += json.loads(line)["type"] == "token"
            if seen == 2:
                break

    (event,) = events_of(token, 1)
    assert event.client_disconnected is True
    assert event.status == 200
    assert event.messages == 1
    assert event.estimated is True
    assert 2 <= event.tokens < 50  # the tokens relayed before the client left


def test_an_upstream_reset_mid_stream_keeps_the_partial_usage(world, client):
    token = world.token(world.a_child)
    world.sandbox.inject_fault("/v1/conversation/complete", "reset_mid_stream", afterTokens=3)

    with client.stream(
        "POST", "/v1/conversation/complete", json=complete_body(), headers=auth(token, **JSONL)
    ) as response:
        lines = [json.loads(line) for line in response.iter_lines()]
    assert lines[-1]["type"] == "error"

    (event,) = events_of(token, 1)
    assert (event.status, event.error_code) == (200, "BAD_GATEWAY")
    assert (event.tokens, event.estimated, event.messages) == (3, True, 1)
    assert event.client_disconnected is False


def test_refusals_are_recorded_with_their_code_and_no_usage(world, client):
    token = world.token(world.a_child, ["bot:list"])
    world.sandbox.inject_fault(
        "/v1/bot/list", "status", status=503, code="SERVICE_UNAVAILABLE", message="Down"
    )

    assert (
        client.post(
            "/v1/conversation/complete", json=complete_body(), headers=auth(token)
        ).status_code
        == 403
    )
    assert client.get("/v1/bot/list", headers=auth(token)).status_code == 503

    refused, failed = events_of(token, 2)
    assert (refused.status, refused.error_code, refused.messages) == (403, "NOT_AUTHORIZED", 0)
    assert refused.route == "/conversation/complete"
    assert (failed.status, failed.error_code) == (503, "SERVICE_UNAVAILABLE")


def test_unlisted_paths_are_recorded_without_their_ids(world, client):
    token = world.token(world.a_child)

    client.get("/v1/nothing/here/abc123", headers=auth(token))

    (event,) = events_of(token, 1)
    assert event.route == "*"
