"""Every refusal of the widget stream is ``{"error": "..."}`` with its status, and nothing else:
bad payloads (400), keys (401), methods (405), the upstream failing before (5xx) or after the
stream started (an ``error`` line)."""

from __future__ import annotations

import json

import pytest

from tenants.models import Token
from tenants.services import revoke_token, rotate_token
from tests.processes import wait_for
from tests.widget.helpers import STREAM, chat, events, session, widget_key


def _error_of(response) -> str:
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert list(body) == ["error"], body
    assert isinstance(body["error"], str)
    assert body["error"]
    return body["error"]


@pytest.fixture
def key(world):
    return widget_key(world, world.a_child)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"message": "hi"}, "sessionId"),
        ({"sessionId": "", "message": "hi"}, "sessionId"),
        ({"sessionId": "a" * 129, "message": "hi"}, "sessionId"),
        ({"sessionId": "user 123", "message": "hi"}, "sessionId"),
        ({"sessionId": "user/123", "message": "hi"}, "sessionId"),
        ({"sessionId": "usér", "message": "hi"}, "sessionId"),
        ({"sessionId": "user-123\n", "message": "hi"}, "sessionId"),
        ({"sessionId": 123, "message": "hi"}, "sessionId"),
        ({"sessionId": "user-123"}, "message"),
        ({"sessionId": "user-123", "message": ""}, "message"),
        ({"sessionId": "user-123", "message": "   "}, "message"),
        ({"sessionId": "user-123", "message": ["hi"]}, "message"),
        ({"sessionId": "user-123", "message": "x" * 4001}, "longer than 4000"),
        ({"sessionId": "user-123", "message": "hi", "botId": "another"}, "'botId'"),
        (["user-123", "hi"], "JSON object"),
    ],
)
def test_an_invalid_payload_is_400_and_says_what_is_wrong(client, key, body, reason):
    response = client.post(STREAM, json=body, headers={"x-api-key": key})

    assert response.status_code == 400
    error = _error_of(response)
    assert error.startswith("Invalid request payload: ")
    assert reason in error


@pytest.mark.parametrize(
    "session_id",
    ["a", "A" * 128, "user-123", "u.s_e:r-9", "::", "..", "-", "2024-01-01T10:00:00.000Z"],
)
def test_session_ids_at_the_edges_of_the_pattern_are_accepted(client, key, session_id):
    response = chat(client, key, "hi", session_id=session_id)

    assert response.status_code == 200, response.text
    assert events(response)[-1]["type"] == "done"


def test_a_body_that_is_not_json_or_not_declared_json_is_400(client, key):
    garbage = client.post(
        STREAM, content=b"{nope", headers={"x-api-key": key, "content-type": "application/json"}
    )
    as_text = client.post(
        STREAM,
        content=json.dumps({"sessionId": "s", "message": "hi"}),
        headers={"x-api-key": key, "content-type": "text/plain"},
    )
    huge = client.post(
        STREAM,
        content=b'{"sessionId":"s","message":"' + b"x" * 20_000 + b'"}',
        headers={"x-api-key": key, "content-type": "application/json"},
    )

    assert [garbage.status_code, as_text.status_code, huge.status_code] == [400, 400, 400]
    assert "not valid JSON" in _error_of(garbage)
    assert "application/json" in _error_of(as_text)
    assert "larger than" in _error_of(huge)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "x-api-key"),
        ({"x-api-key": ""}, "x-api-key"),
        ({"x-api-key": "your-api-key-here"}, "not a widget key"),
        ({"x-api-key": "ppw_" + "A" * 54}, "not a widget key"),
        ({"Authorization": "Bearer whatever"}, "x-api-key"),
    ],
)
def test_a_missing_or_garbled_key_is_401(client, headers, reason):
    response = client.post(STREAM, json={"sessionId": "s", "message": "hi"}, headers=headers)

    assert response.status_code == 401
    error = _error_of(response)
    assert error.startswith("Unauthorized: ")
    assert reason in error


def test_a_well_formed_key_that_does_not_exist_is_401(world, client, key):
    # The right shape and checksum, another secret: as unknown as a key never issued.
    token_id = Token.objects.get(kind=Token.Kind.WIDGET, last4=key[-4:]).token_id
    from tenants.credentials.format import compose, new_secret

    forged = compose("ppw_", token_id, new_secret())

    response = chat(client, forged)

    assert response.status_code == 401
    assert _error_of(response) == "Unauthorized: the widget key is not valid"


def test_an_api_token_is_no_widget_key(world, client):
    api_token = world.token(world.a_child, ["*"])

    response = chat(client, api_token)

    assert response.status_code == 401
    assert "not a widget key" in _error_of(response)


def test_a_revoked_key_is_refused_within_a_second(world, client, key):
    assert chat(client, key).status_code == 200
    revoke_token(Token.objects.get(last4=key[-4:], kind=Token.Kind.WIDGET), actor=None)

    wait_for(lambda: chat(client, key).status_code == 401, 1.5, "the revocation")
    assert _error_of(chat(client, key)) == "Unauthorized: this widget key was revoked"


def test_a_rotated_key_keeps_its_old_value_for_the_grace_only(world, client, key):
    token = Token.objects.get(last4=key[-4:], kind=Token.Kind.WIDGET)
    rotated = rotate_token(token, grace_seconds=60, actor=None)

    assert chat(client, key).status_code == 200  # the old value, in its grace
    assert chat(client, rotated.plaintext).status_code == 200

    again = rotate_token(token, grace_seconds=0, actor=None)

    def old_values_refused() -> bool:
        return chat(client, key).status_code == 401 == chat(client, rotated.plaintext).status_code

    wait_for(old_values_refused, 1.5, "the rotation")
    assert _error_of(chat(client, rotated.plaintext)).startswith("Unauthorized: ")
    assert chat(client, again.plaintext).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_are_405_in_the_same_shape(client, key, method):
    response = client.request(method, STREAM, headers={"x-api-key": key})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"
    if method != "HEAD":
        assert _error_of(response).startswith("Method not allowed")


def test_the_upstream_failing_before_the_stream_is_a_5xx_that_names_no_host(world, client, key):
    world.sandbox.inject_fault("/v1/conversation/create", "status", status=500, times=1)

    response = chat(client, key)

    assert response.status_code == 500
    assert _error_of(response) == "Internal server error"


def test_an_unreachable_upstream_is_a_5xx_that_names_no_host(world, client, key):
    world.sandbox.inject_fault("/v1/conversation/create", "status", status=503, times=1)

    response = chat(client, key)

    assert response.status_code == 503
    error = _error_of(response)
    assert "unavailable" in error
    assert "127.0.0.1" not in error


def test_a_failure_after_the_stream_started_ends_it_with_an_error_line(world, client, key):
    session_id = session()
    assert chat(client, key, session_id=session_id).status_code == 200  # the conversation exists
    world.sandbox.inject_fault(
        "/v1/conversation/*/complete", "reset_mid_stream", afterTokens=2, times=1
    )

    response = chat(client, key, "a longer answer please", session_id=session_id)

    assert response.status_code == 200
    lines = events(response)
    assert [event["type"] for event in lines][:1] == ["start"]
    assert [event["type"] for event in lines].count("token") >= 1
    assert lines[-1]["type"] == "error"
    assert set(lines[-1]) == {"type", "error"}
    assert lines[-1]["error"].startswith("Internal server error")
    assert "done" not in [event["type"] for event in lines]
