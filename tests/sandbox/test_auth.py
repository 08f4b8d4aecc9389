"""Credentials (UPSTREAM.md §1, §3.3, §3.5): secrets, session JWTs, allowedRoutes and run-as."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.sandbox import Parent, Sandbox
from tests.sandbox.client import Api

NOT_AUTHENTICATED = {"message": "Not authenticated", "code": "NOT_AUTHENTICATED"}


def session_api(api: Api, child: str, **body: object) -> Api:
    session = api.ok("POST", f"/partner/user/{child}/session/create", body)
    return Api(api.client, session["token"])


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer sk-unknown",
        "Basic abc",
        "Bearer a.b.c",
        "Bearer garbage",
        "Bearer oart-x",
    ],
)
def test_it_refuses_a_missing_unknown_or_garbled_credential(api: Api, authorization) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = api.client.get("/v1/bot/list", headers=headers)
    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED


def test_it_accepts_a_session_jwt_as_the_child(api: Api, child: str) -> None:
    bot = api.as_child(child).ok("POST", "/bot/create", {"name": "Mine"})
    as_session = session_api(api, child)
    assert [b["id"] for b in as_session.ok("GET", "/bot/list")["items"]] == [bot["id"]]


def test_it_limits_a_session_to_its_allowed_routes(api: Api, child: str) -> None:
    scoped = session_api(api, child, config={"allowedRoutes": ["bot/**"]})
    assert scoped.get("/bot/list").status_code == 200
    assert scoped.with_prefix("/api/v1").get("/bot/list").status_code == 200
    refused = scoped.get("/conversation/list")
    assert refused.status_code == 401
    assert refused.json() == NOT_AUTHENTICATED


@pytest.mark.parametrize(
    "negation", ["!/api/v1/conversation/**", "!/v1/conversation/**", "!conversation/**"]
)
def test_it_honours_negated_route_globs_in_any_spelling(api: Api, child: str, negation) -> None:
    scoped = session_api(api, child, config={"allowedRoutes": ["**", negation]})
    assert scoped.get("/bot/list").status_code == 200
    assert scoped.get("/usage/fetch").status_code == 200
    assert scoped.get("/conversation/list").status_code == 401
    assert scoped.with_prefix("/api/v1").get("/conversation/list").status_code == 401


def test_it_blocks_every_route_for_an_empty_allowed_list(api: Api, child: str) -> None:
    scoped = session_api(api, child, config={"allowedRoutes": []})
    assert scoped.get("/bot/list").status_code == 401
    assert scoped.get("/usage/fetch").status_code == 401


def test_it_matches_single_star_within_one_path_segment(api: Api, child: str) -> None:
    scoped = session_api(api, child, config={"allowedRoutes": ["/api/v1/bot/*"]})
    assert scoped.get("/bot/list").status_code == 200
    bot = api.as_child(child).ok("POST", "/bot/create", {})
    assert scoped.get(f"/bot/{bot['id']}/fetch").status_code == 401


def test_it_refuses_an_expired_session(api: Api, child: str) -> None:
    short = api.ok("POST", f"/partner/user/{child}/session/create", {"durationInSeconds": 1})
    time.sleep(1.1)
    response = api.client.get("/v1/bot/list", headers={"Authorization": f"Bearer {short['token']}"})
    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED


@pytest.mark.parametrize(
    "header", ["X-RunAs-User-ID", "x-runas-user-id", "x-runas-userid", "X-RunAs-UserId"]
)
def test_it_runs_as_a_child_under_every_header_spelling(api: Api, child: str, header) -> None:
    bot = api.ok("POST", "/bot/create", {"name": "parent bot"})
    response = api.client.get("/v1/bot/list", headers={**api.headers, header: child})
    assert response.status_code == 200
    assert bot["id"] not in [b["id"] for b in response.json()["items"]]
    made = api.client.post("/v1/bot/create", json={}, headers={**api.headers, header: child})
    assert made.status_code == 200
    assert [b["id"] for b in api.as_child(child).ok("GET", "/bot/list")["items"]] == [
        made.json()["id"]
    ]


def test_it_runs_as_the_child_with_a_matching_partner_email(api: Api, child: str) -> None:
    headers = {**api.headers, "x-runas-child-user-email": "child@example.com"}
    made = api.client.post("/v1/bot/create", json={}, headers=headers)
    assert made.status_code == 200
    listed = api.as_child(child).ok("GET", "/bot/list")["items"]
    assert [b["id"] for b in listed] == [made.json()["id"]]


def test_it_refuses_a_run_as_target_that_is_not_a_child(
    api: Api, sandbox: Sandbox, other_parent_api: Api
) -> None:
    stranger = sandbox.create_child(Parent("", other_parent_api.secret))
    for target in (stranger, "does-not-exist"):
        response = api.as_child(target).get("/bot/list")
        assert response.status_code == 401
        assert response.json() == NOT_AUTHENTICATED
    unknown_email = {**api.headers, "x-runas-child-user-email": "nobody@example.com"}
    assert api.client.get("/v1/bot/list", headers=unknown_email).status_code == 401


def test_it_refuses_run_as_with_a_session_token(api: Api, child: str) -> None:
    session = session_api(api, child)
    response = session.as_child(child).get("/bot/list")
    assert response.status_code == 401


def test_it_refuses_run_as_from_a_child_token(api: Api, child: str) -> None:
    token = api.ok("POST", f"/partner/user/{child}/token/create", {})["token"]
    response = Api(api.client, token).as_child(child).get("/bot/list")
    assert response.status_code == 401
