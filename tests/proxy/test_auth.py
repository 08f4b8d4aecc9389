"""Credentials at the proxy: every way a token is presented, and every way one is refused."""

from __future__ import annotations

import time

import pytest

from tenants.credentials.format import API_PREFIX, compose, new_secret, new_token_id
from tenants.models import Token
from tenants.services.tokens import revoke_token
from tests.proxy.conftest import auth

NOT_AUTHENTICATED = "NOT_AUTHENTICATED"


@pytest.fixture(autouse=True)
def _every_refusal_is_before_the_upstream(world):
    # If any refused call reached the upstream, this fault would turn it into a 500.
    world.sandbox.inject_fault("/v1/bot/list", "status", status=500, code="REACHED")


def _assert_refused(response, message_part: str = "") -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"message", "code"}
    assert body["code"] == NOT_AUTHENTICATED
    assert message_part in body["message"]


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer", "TOKEN"])
def test_it_accepts_a_token_with_either_scheme(world, client, scheme):
    world.sandbox.clear_faults()
    token = world.token(world.a_child)

    response = client.get("/v1/bot/list", headers=auth(token, scheme))

    assert response.status_code == 200, response.text
    assert response.json() == {"items": []}


def test_it_refuses_a_call_without_credentials(client):
    response = client.get("/v1/bot/list")

    _assert_refused(response)
    assert response.json() == {"message": "Not authenticated", "code": NOT_AUTHENTICATED}


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Token", "ppk_abc", "Digest ppk_abc"]
)
def test_it_refuses_other_schemes_and_empty_values(client, header):
    _assert_refused(client.get("/v1/bot/list", headers={"Authorization": header}))


def test_it_refuses_a_garbled_token(client):
    _assert_refused(
        client.get("/v1/bot/list", headers=auth("not-a-token-at-all")), "not a portal token"
    )


def test_it_refuses_a_token_with_a_bad_checksum(world, client):
    token = world.token(world.a_child)
    typo = token[:-1] + ("A" if token[-1] != "A" else "B")

    _assert_refused(client.get("/v1/bot/list", headers=auth(typo)), "checksum")


def test_it_refuses_an_unknown_token(client):
    unknown = compose(API_PREFIX, new_token_id(), new_secret())

    _assert_refused(client.get("/v1/bot/list", headers=auth(unknown)), "not valid")


def test_it_refuses_a_known_token_id_with_the_wrong_secret(world, client):
    token = world.token(world.a_child)
    token_id = token[len(API_PREFIX) : len(API_PREFIX) + 16]
    forged = compose(API_PREFIX, token_id, new_secret())

    _assert_refused(client.get("/v1/bot/list", headers=auth(forged)), "not valid")


def test_it_refuses_an_expired_token(world, client):
    token = world.token(world.a_child, expires_in=1)
    time.sleep(1.05)

    _assert_refused(client.get("/v1/bot/list", headers=auth(token)), "expired")


def test_it_refuses_a_revoked_token(world, client):
    token = world.token(world.a_child)
    world.sandbox.clear_faults()
    assert client.get("/v1/bot/list", headers=auth(token)).status_code == 200
    world.sandbox.inject_fault("/v1/bot/list", "status", status=500, code="REACHED")

    revoke_token(Token.objects.get(last4=token[-4:]), actor=None)

    _assert_refused(client.get("/v1/bot/list", headers=auth(token)), "revoked")


def test_it_never_accepts_the_partners_upstream_secret(world, client):
    _assert_refused(client.get("/v1/bot/list", headers=auth(world.parent_a.secret)))


def test_a_session_token_cannot_act_as_another_account(world, client):
    session = world.session(world.a_child)

    response = client.get(
        "/v1/bot/list",
        headers=auth(session, **{"X-RunAs-User-ID": world.a_grandchild.public_id}),
    )

    _assert_refused(response, "Session tokens")


def test_a_session_token_works_without_run_as(world, client):
    world.sandbox.clear_faults()
    session = world.session(world.a_child)

    assert client.get("/v1/bot/list", headers=auth(session)).status_code == 200


def test_a_session_token_is_held_to_its_allowed_routes(world, client):
    world.sandbox.clear_faults()
    session = world.session(world.a_child, allowed_routes=["/api/v1/bot/**"])

    assert client.get("/v1/bot/list", headers=auth(session)).status_code == 200
    refused = client.get("/api/v1/conversation/list", headers=auth(session))

    _assert_refused(refused, "does not cover")
