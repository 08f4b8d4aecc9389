"""The acting account: the token's own, or a run-as target in its subtree, and nothing else.

Each accepted call creates a bot through the proxy; the sandbox, asked directly as the partner
with the upstream's own run-as, says in whose upstream account it landed.
"""

from __future__ import annotations

import pytest

from tenants.services import reactivate_account, suspend_account
from tests.proxy.conftest import auth

SPELLINGS = [
    "X-RunAs-UserId",
    "X-RunAs-User-ID",
    "x-runas-userid",
    "x-runas-user-id",
    "X-RUNAS-USERID",
]


def _create_bot(client, token: str, name: str, **headers: str):
    return client.post("/v1/bot/create", json={"name": name}, headers=auth(token, **headers))


def _bot_names(world, parent, run_as: str | None) -> set[str]:
    with world.upstream(parent, run_as) as upstream:
        return {bot.get("name") for bot in upstream.get("/v1/bot/list").json()["items"]}


def _assert_not_authenticated(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Not authenticated", "code": "NOT_AUTHENTICATED"}


@pytest.mark.parametrize("header", SPELLINGS)
def test_a_partner_token_acts_as_its_child_in_every_spelling(world, client, header):
    token = world.token(world.partner_a)

    response = _create_bot(client, token, f"bot-{header}", **{header: world.a_child.public_id})

    assert response.status_code == 200, response.text
    assert f"bot-{header}" in _bot_names(world, world.parent_a, world.a_child.public_id)


def test_a_token_without_run_as_acts_as_its_own_account(world, client):
    token = world.token(world.a_child)

    assert _create_bot(client, token, "own-bot").status_code == 200

    assert "own-bot" in _bot_names(world, world.parent_a, world.a_child.public_id)


def test_a_partner_token_without_run_as_acts_as_the_partner_itself(world, client):
    token = world.token(world.partner_a)

    assert _create_bot(client, token, "partner-bot").status_code == 200

    assert "partner-bot" in _bot_names(world, world.parent_a, None)
    assert "partner-bot" not in _bot_names(world, world.parent_a, world.a_child.public_id)


def test_run_as_to_itself_is_the_same_as_no_run_as(world, client):
    token = world.token(world.a_child)

    response = _create_bot(client, token, "self-bot", **{"X-RunAs-UserId": world.a_child.public_id})

    assert response.status_code == 200, response.text
    assert "self-bot" in _bot_names(world, world.parent_a, world.a_child.public_id)


def test_a_partner_may_name_itself_as_run_as_target(world, client):
    token = world.token(world.partner_a)

    response = client.get(
        "/v1/bot/list", headers=auth(token, **{"X-RunAs-UserId": world.partner_a.public_id})
    )

    assert response.status_code == 200, response.text


def test_a_tenant_acts_as_its_grandchild_through_the_partners_upstream(world, client):
    # The upstream has one level of children: the grandchild is another child of the partner.
    token = world.token(world.a_child)

    response = _create_bot(
        client, token, "grandchild-bot", **{"X-RunAs-User-ID": world.a_grandchild.public_id}
    )

    assert response.status_code == 200, response.text
    assert "grandchild-bot" in _bot_names(world, world.parent_a, world.a_grandchild.public_id)
    assert "grandchild-bot" not in _bot_names(world, world.parent_a, world.a_child.public_id)


def test_run_as_by_child_email_finds_the_account_in_the_subtree(world, client):
    token = world.token(world.a_child)

    response = _create_bot(
        client, token, "email-bot", **{"x-runas-child-user-email": "GC@a.example"}
    )

    assert response.status_code == 200, response.text
    assert "email-bot" in _bot_names(world, world.parent_a, world.a_grandchild.public_id)


@pytest.mark.parametrize("target", ["a_sibling", "partner_a", "b_child", "partner_b"])
def test_it_refuses_run_as_outside_the_tokens_subtree(world, client, target):
    token = world.token(world.a_child)
    target_id = getattr(world, target).public_id

    _assert_not_authenticated(_create_bot(client, token, "nope", **{"X-RunAs-UserId": target_id}))


@pytest.mark.parametrize("target", ["nobody-has-this-id", "prt_00000000000000000000", "x" * 65])
def test_it_refuses_an_unknown_run_as_id(world, client, target):
    token = world.token(world.partner_a)

    _assert_not_authenticated(
        client.get("/v1/bot/list", headers=auth(token, **{"X-RunAs-UserId": target}))
    )


def test_it_refuses_run_as_by_an_email_outside_the_subtree(world, client):
    token = world.token(world.a_child)

    response = client.get(
        "/v1/bot/list", headers=auth(token, **{"x-runas-child-user-email": "sib@a.example"})
    )

    _assert_not_authenticated(response)


def test_it_refuses_a_suspended_account_and_says_which(world, client):
    token = world.token(world.a_child)
    # No cache is dropped by hand: the service tells the proxy once the change commits.
    suspend_account(world.a_grandchild, actor=None)
    try:
        refused = client.get(
            "/v1/bot/list", headers=auth(token, **{"X-RunAs-UserId": world.a_grandchild.public_id})
        )
        own = client.get("/v1/bot/list", headers=auth(token))
    finally:
        reactivate_account(world.a_grandchild, actor=None)

    assert refused.status_code == 403, refused.text
    assert refused.json() == {
        "message": "The account A Grandchild is suspended.",
        "code": "NOT_AUTHORIZED",
    }
    assert refused.headers["X-Failure-Code"] == "NOT_AUTHORIZED"
    assert own.status_code == 200


def test_a_suspended_ancestor_stops_its_whole_subtree(world, client):
    token = world.token(world.partner_a)
    suspend_account(world.a_child, actor=None)
    try:
        refused = client.get(
            "/v1/bot/list", headers=auth(token, **{"X-RunAs-UserId": world.a_grandchild.public_id})
        )
        sibling = client.get(
            "/v1/bot/list", headers=auth(token, **{"X-RunAs-UserId": world.a_sibling.public_id})
        )
    finally:
        reactivate_account(world.a_child, actor=None)

    assert refused.status_code == 403, refused.text
    assert "A Child" in refused.json()["message"]
    assert "A Grandchild" in refused.json()["message"]
    assert sibling.status_code == 200
