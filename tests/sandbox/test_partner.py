"""Partner API (UPSTREAM.md §3): child users, tokens, sessions and contexts."""

from __future__ import annotations

import re
import time

import pytest

from tests.fixtures.sandbox import Parent, Sandbox
from tests.sandbox.client import Api


@pytest.fixture(params=["/partner/user", "/user"])
def users(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_it_creates_fetches_updates_and_deletes_a_child(api: Api, users: str, prefix: str) -> None:
    api = api.with_prefix(prefix)
    created = api.ok(
        "POST",
        f"{users}/create",
        {"name": "Acme", "description": "d", "email": "a@acme.test", "meta": {"plan": "gold"}},
    )
    fetched = api.ok("GET", f"{users}/{created['id']}/fetch")
    assert fetched["name"] == "Acme"
    assert fetched["email"] == "a@acme.test"
    assert "description" not in fetched  # fetch selects no description upstream
    assert isinstance(fetched["createdAt"], int)
    assert fetched["limits"] is None
    assert api.ok("POST", f"{users}/{created['id']}/update", {"name": "Acme 2"}) == created
    assert api.ok("GET", f"{users}/{created['id']}/fetch")["name"] == "Acme 2"
    assert api.ok("POST", f"{users}/{created['id']}/delete", {}) == created
    assert api.get(f"{users}/{created['id']}/fetch").status_code == 404


def test_it_lists_children_with_their_description(api: Api) -> None:
    api.ok("POST", "/partner/user/create", {"name": "A", "description": "first"})
    (item,) = api.ok("GET", "/partner/user/list")["items"]
    assert item["description"] == "first"


def test_it_merges_meta_shallowly_on_update(api: Api, child: str) -> None:
    api.ok("POST", f"/partner/user/{child}/update", {"meta": {"a": 1, "b": {"x": 1}}})
    api.ok("POST", f"/partner/user/{child}/update", {"meta": {"b": {"y": 2}, "c": 3}})
    meta = api.ok("GET", f"/partner/user/{child}/fetch")["meta"]
    assert meta == {"a": 1, "b": {"y": 2}, "c": 3}


def test_it_stores_and_validates_limits(api: Api) -> None:
    limits = {"messages": 10, "tokens": 1000, "database": {"datasets": 0}}
    child = api.ok("POST", "/partner/user/create", {"limits": limits})
    assert api.ok("GET", f"/partner/user/{child['id']}/fetch")["limits"] == limits
    bad = api.post("/partner/user/create", {"limits": {"messages": -1, "wat": 1}})
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        '"limits.wat" is not allowed; "limits.messages" must be greater than or equal to 0'
    )


def test_it_filters_children_by_exact_email(api: Api) -> None:
    first = api.ok("POST", "/partner/user/create", {"email": "one@example.com"})
    api.ok("POST", "/partner/user/create", {"email": "two@example.com"})
    items = api.ok("GET", "/partner/user/list", email="one@example.com")["items"]
    assert [item["id"] for item in items] == [first["id"]]


def test_it_refuses_a_duplicate_email_under_the_same_parent(
    api: Api, other_parent_api: Api
) -> None:
    api.ok("POST", "/partner/user/create", {"email": "dup@example.com"})
    response = api.post("/partner/user/create", {"email": "dup@example.com"})
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    # Another parent may use the same address.
    other_parent_api.ok("POST", "/partner/user/create", {"email": "dup@example.com"})


def test_it_treats_an_empty_email_as_none_and_rejects_a_malformed_one(api: Api) -> None:
    child = api.ok("POST", "/partner/user/create", {"email": ""})
    assert api.ok("GET", f"/partner/user/{child['id']}/fetch")["email"] is None
    response = api.post("/partner/user/create", {"email": "not-an-email"})
    assert response.status_code == 400
    assert response.json()["message"] == '"email" must be a valid email'


def test_it_answers_403_for_another_parents_child_and_404_for_an_unknown_one(
    api: Api, other_parent_api: Api
) -> None:
    foreign = other_parent_api.ok("POST", "/partner/user/create", {})["id"]
    for method, path in [
        ("GET", f"/partner/user/{foreign}/fetch"),
        ("POST", f"/partner/user/{foreign}/update"),
        ("POST", f"/partner/user/{foreign}/delete"),
        ("POST", f"/partner/user/{foreign}/token/create"),
        ("POST", f"/partner/user/{foreign}/session/create"),
    ]:
        response = api.get(path) if method == "GET" else api.post(path, {})
        assert response.status_code == 403, path
        assert response.headers["x-failure-code"] == "NOT_AUTHORIZED"
    assert api.get("/partner/user/unknown-id/fetch").status_code == 404
    assert api.post("/partner/user/unknown-id/delete", {}).status_code == 404


def test_it_does_not_let_a_child_create_children(api: Api, child: str) -> None:
    for caller in (
        api.as_child(child),
        Api(api.client, api.ok("POST", f"/partner/user/{child}/token/create")["token"]),
    ):
        response = caller.post("/partner/user/create", {})
        assert response.status_code == 403
        assert response.json() == {
            "message": "You are not allowed to create a user.",
            "code": "NOT_AUTHORIZED",
        }


def test_it_finds_a_child_by_alias(api: Api) -> None:
    child = api.ok("POST", "/partner/user/create", {"alias": "acme"})
    assert api.ok("GET", "/partner/user/acme/fetch")["id"] == child["id"]


def test_it_deletes_a_childs_records_with_the_child(api: Api, child: str, sandbox: Sandbox) -> None:
    token = api.ok("POST", f"/partner/user/{child}/token/create", {})["token"]
    Api(api.client, token).ok("POST", "/bot/create", {})
    api.ok("POST", f"/partner/user/{child}/delete", {})
    assert Api(api.client, token).get("/bot/list").status_code == 401
    assert api.as_child(child).get("/bot/list").status_code == 401


def test_it_issues_a_child_token_once_and_lets_it_act_as_the_child(api: Api, child: str) -> None:
    created = api.ok("POST", f"/partner/user/{child}/token/create", {"name": "ci"})
    assert re.fullmatch(r"sk-[0-9a-f]{64}", created["token"])
    assert isinstance(created["createdAt"], int)
    (listed,) = api.ok("GET", f"/partner/user/{child}/token/list")["items"]
    assert listed["id"] == created["id"]
    assert listed["name"] == "ci"
    assert "token" not in listed
    as_token = Api(api.client, created["token"])
    bot = as_token.ok("POST", "/bot/create", {})
    assert api.as_child(child).ok("GET", f"/bot/{bot['id']}/fetch")["id"] == bot["id"]


def test_it_updates_and_deletes_a_child_token(api: Api, child: str) -> None:
    created = api.ok("POST", f"/partner/user/{child}/token/create", {})
    path = f"/partner/user/{child}/token/{created['id']}"
    assert api.ok("POST", f"{path}/update", {"name": "renamed"}) == {"id": created["id"]}
    assert api.ok("GET", f"/partner/user/{child}/token/list")["items"][0]["name"] == "renamed"
    assert api.ok("POST", f"{path}/delete", {}) == {"id": created["id"]}
    assert Api(api.client, created["token"]).get("/bot/list").status_code == 401
    assert api.post(f"{path}/delete", {}).status_code == 404


def test_it_issues_a_fifteen_minute_session_by_default(api: Api, child: str) -> None:
    before = time.time() * 1000
    session = api.ok("POST", f"/partner/user/{child}/session/create", {})
    assert session["token"].count(".") == 2
    assert session["id"]
    assert before + 899_000 <= session["expiresAt"] <= time.time() * 1000 + 901_000


def test_it_validates_the_session_duration(api: Api, child: str) -> None:
    response = api.post(f"/partner/user/{child}/session/create", {"durationInSeconds": 0})
    assert response.status_code == 400
    assert response.json()["message"] == '"durationInSeconds" must be a positive number'


def test_it_keeps_contexts_per_child(api: Api, child: str) -> None:
    base = f"/partner/user/{child}/context"
    made = api.ok("POST", f"{base}/create", {"name": "ctx", "botId": "b1", "payload": {"k": 1}})
    assert made["payload"] == {"k": 1}
    assert [c["id"] for c in api.ok("GET", f"{base}/list", botId="b1")["items"]] == [made["id"]]
    assert api.ok("GET", f"{base}/list", botId="other") == {"items": []}
    api.ok("POST", f"{base}/{made['id']}/update", {"name": "renamed"})
    assert api.ok("GET", f"{base}/{made['id']}/fetch")["name"] == "renamed"
    api.ok("POST", f"{base}/{made['id']}/delete", {})
    assert api.get(f"{base}/{made['id']}/fetch").status_code == 404


def test_the_control_surface_relinks_a_parent_and_imports_a_child(sandbox: Sandbox, http) -> None:
    parent = sandbox.create_parent("Relinked")
    again = sandbox.create_parent("Relinked", secret=parent.secret)
    assert again == parent
    response = http.post(
        "/_sandbox/user/create", json={"parentId": parent.id, "id": "tenant-42", "name": "T"}
    )
    assert response.json() == {"id": "tenant-42"}
    api = Api(http, parent.secret)
    assert api.ok("GET", "/partner/user/tenant-42/fetch")["name"] == "T"
    assert Parent(parent.id, parent.secret) == again
