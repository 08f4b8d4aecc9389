"""Authorization from the route table: scopes on every route family, bot restrictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tenants.proxy.routes import ROUTES
from tests.proxy.conftest import auth, complete_body

CHANNEL = "scope-test-channel-0123456789"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


@pytest.fixture(scope="module")
def ids(world) -> dict[str, str]:
    """Two bots and a conversation of a_child, made straight upstream."""
    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        bot1 = upstream.post("/v1/bot/create", json={"name": "one"}).json()["id"]
        bot2 = upstream.post("/v1/bot/create", json={"name": "two"}).json()["id"]
        conversation = upstream.post("/v1/conversation/create", json={"botId": bot1}).json()["id"]
    return {"bot1": bot1, "bot2": bot2, "conversation": conversation}


# One representative call per route family, and the scope it needs.
FAMILIES: dict[str, tuple[str, Call]] = {
    "bot list": ("bot:list", Call("GET", "/v1/bot/list")),
    "bot create": ("bot:create", Call("POST", "/v1/bot/create", {"name": "scoped"})),
    "bot fetch": ("bot:fetch", Call("GET", "/v1/bot/{bot1}/fetch")),
    "bot clone": ("bot:clone", Call("POST", "/v1/bot/{bot1}/clone", {})),
    "conversation create": ("conversation:create", Call("POST", "/v1/conversation/create", {})),
    "conversation list": ("conversation:list", Call("GET", "/v1/conversation/list")),
    "conversation fetch": (
        "conversation:fetch",
        Call("GET", "/v1/conversation/{conversation}/fetch"),
    ),
    "message list": ("message:list", Call("GET", "/v1/conversation/{conversation}/message/list")),
    "message create": (
        "message:create",
        Call(
            "POST", "/v1/conversation/{conversation}/message/create", {"type": "user", "text": "x"}
        ),
    ),
    "stateless complete": (
        "conversation:complete",
        Call("POST", "/v1/conversation/complete", complete_body()),
    ),
    "stateful complete": (
        "conversation:complete",
        Call("POST", "/v1/conversation/{conversation}/complete", {"text": "hi"}),
    ),
    "dispatch": (
        "conversation:dispatch",
        Call("POST", "/v1/conversation/dispatch", complete_body()),
    ),
    "channel publish": (
        "channel:publish",
        Call("POST", f"/v1/channel/{CHANNEL}/publish", {"message": {"data": {}}}),
    ),
    "usage fetch": ("usage:fetch", Call("GET", "/v1/usage/fetch")),
    "usage series": ("usage:fetch", Call("GET", "/v1/usage/series/fetch")),
    "bot usage": ("usage:fetch", Call("GET", "/v1/bot/{bot1}/usage/fetch")),
}


def _send(client, token: str, call: Call, ids: dict[str, str]):
    path = call.path.format(**ids)
    if call.method == "GET":
        return client.get(path, headers=auth(token))
    return client.post(path, json=call.body, headers=auth(token))


def _assert_not_authorized(response, scope_part: str = "") -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "NOT_AUTHORIZED"
    assert scope_part in response.json()["message"]
    assert response.headers["X-Failure-Code"] == "NOT_AUTHORIZED"


@pytest.mark.parametrize("family", FAMILIES)
def test_a_token_with_the_scope_reaches_the_route(world, client, ids, family):
    scope, call = FAMILIES[family]
    token = world.token(world.a_child, [scope])

    response = _send(client, token, call, ids)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("family", FAMILIES)
def test_a_token_without_the_scope_is_refused_before_the_upstream(world, client, ids, family):
    scope, call = FAMILIES[family]
    other = "bot:update" if scope != "bot:update" else "usage:list"
    token = world.token(world.a_child, [other])
    world.sandbox.inject_fault("/v1/**", "status", status=500, code="REACHED")

    _assert_not_authorized(_send(client, token, call, ids), scope)


def test_resource_wildcards_cover_every_action_of_the_resource(world, client, ids):
    token = world.token(world.a_child, ["conversation:*"])

    assert _send(client, token, FAMILIES["stateless complete"][1], ids).status_code == 200
    assert _send(client, token, FAMILIES["conversation list"][1], ids).status_code == 200
    _assert_not_authorized(_send(client, token, FAMILIES["bot list"][1], ids), "bot:list")


def test_action_wildcards_cover_the_action_on_every_resource(world, client, ids):
    token = world.token(world.a_child, ["*:list"])

    assert _send(client, token, FAMILIES["bot list"][1], ids).status_code == 200
    assert _send(client, token, FAMILIES["message list"][1], ids).status_code == 200
    _assert_not_authorized(_send(client, token, FAMILIES["bot create"][1], ids), "bot:create")


def test_routes_the_table_does_not_know_are_only_for_star_tokens(world, client):
    scoped = world.token(world.a_child, ["bot:*", "conversation:*", "usage:*"])
    star = world.token(world.a_child, ["*"])

    _assert_not_authorized(client.get("/v1/dataset/list", headers=auth(scoped)), "/v1/dataset/list")
    # The sandbox has no datasets: the star token is forwarded and gets the upstream's 404.
    forwarded = client.get("/v1/dataset/list", headers=auth(star))
    assert forwarded.status_code == 404
    assert forwarded.json()["code"] == "NOT_FOUND"
    assert "server-timing" in forwarded.headers


def test_every_route_in_the_table_names_a_scope_of_the_catalogue():
    from tenants.credentials import validate_scope

    for route in ROUTES:
        assert validate_scope(route.scope) == route.scope


# -- bot restrictions ---------------------------------------------------------------------------


@pytest.fixture
def bot_token(world, ids):
    return world.token(world.a_child, ["*"], bot_ids=[ids["bot1"]])


@pytest.mark.parametrize("path", ["/v1/bot/{bot}/fetch", "/v1/bot/{bot}/usage/fetch"])
def test_a_bot_restricted_token_reaches_its_bot_by_path_and_no_other(
    world, client, ids, bot_token, path
):
    allowed = client.get(path.format(bot=ids["bot1"]), headers=auth(bot_token))
    refused = client.get(path.format(bot=ids["bot2"]), headers=auth(bot_token))

    assert allowed.status_code == 200, allowed.text
    _assert_not_authorized(refused, ids["bot2"])


@pytest.mark.parametrize(
    "path", ["/v1/conversation/complete", "/v1/conversation/create", "/v1/conversation/dispatch"]
)
def test_a_bot_restricted_token_must_name_its_bot_in_the_body(world, client, ids, bot_token, path):
    own = client.post(path, json=complete_body(botId=ids["bot1"]), headers=auth(bot_token))
    other = client.post(path, json=complete_body(botId=ids["bot2"]), headers=auth(bot_token))
    unnamed = client.post(path, json=complete_body(), headers=auth(bot_token))
    not_a_string = client.post(path, json=complete_body(botId=["x"]), headers=auth(bot_token))

    assert own.status_code == 200, own.text
    _assert_not_authorized(other, ids["bot2"])
    _assert_not_authorized(unnamed, "botId")
    _assert_not_authorized(not_a_string, "botId")


def test_an_unrestricted_token_uses_any_bot(world, client, ids):
    token = world.token(world.a_child, ["*"])

    response = client.post(
        "/v1/conversation/complete", json=complete_body(botId=ids["bot2"]), headers=auth(token)
    )

    assert response.status_code == 200, response.text
