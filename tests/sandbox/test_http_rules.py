"""Transport rules (UPSTREAM.md §1, §2): prefixes, verbs, content types and the error model."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.sandbox import start_sandbox, stop_sandbox
from tests.sandbox.client import Api


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_it_serves_every_route_under_both_prefixes(api: Api, prefix: str) -> None:
    api = api.with_prefix(prefix)
    bot = api.ok("POST", "/bot/create", {"name": "Both"})
    assert api.ok("GET", f"/bot/{bot['id']}/fetch")["name"] == "Both"
    assert api.ok("GET", "/usage/fetch")["tokens"] == 0


def test_it_answers_healthz_without_credentials(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_refuses_a_post_without_a_json_content_type(api: Api) -> None:
    response = api.client.post(
        "/v1/bot/create", content=b"{}", headers={**api.headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json() == {"message": "Bad request", "code": "BAD_REQUEST"}


def test_it_accepts_a_delete_with_an_empty_json_object(api: Api) -> None:
    bot = api.ok("POST", "/bot/create", {})
    assert api.ok("POST", f"/bot/{bot['id']}/delete", {}) == {"id": bot["id"]}


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/bot/create"), ("POST", "/v1/bot/list")])
def test_it_answers_the_wrong_verb_with_405(api: Api, method: str, path: str) -> None:
    response = api.client.request(method, path, headers=api.headers, json={})
    assert response.status_code == 405
    assert response.json() == {"message": "Method not allowed", "code": "METHOD_NOT_ALLOWED"}


def test_it_answers_head_with_an_empty_200_and_options_with_an_empty_object(
    http: httpx.Client,
) -> None:
    head = http.head("/api/v1/bot/list")
    assert head.status_code == 200
    assert head.content == b""
    options = http.options("/v1/conversation/complete")
    assert options.status_code == 200
    assert options.json() == {}


def test_it_answers_an_unknown_path_with_404_not_found(api: Api) -> None:
    response = api.get("/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found", "code": "NOT_FOUND"}


def test_it_rejects_unknown_and_mistyped_body_keys_joi_style(api: Api) -> None:
    response = api.post("/bot/create", {"foo": 1, "name": 3})
    assert response.status_code == 400
    assert response.json() == {
        "message": '"foo" is not allowed; "name" must be a string',
        "code": "BAD_REQUEST",
    }


def test_it_rejects_a_body_that_is_not_an_object(api: Api) -> None:
    response = api.post("/bot/create", [1, 2])
    assert response.status_code == 400


def test_it_rejects_an_accept_header_it_cannot_serve(api: Api) -> None:
    response = api.client.get("/v1/bot/list", headers={**api.headers, "Accept": "image/png"})
    assert response.status_code == 400


def test_it_allows_any_origin_for_get_and_post(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET,POST"


def test_it_adds_x_failure_code_to_403_only_among_client_errors(
    api: Api, other_parent_api: Api
) -> None:
    bot = api.ok("POST", "/bot/create", {})
    forbidden = other_parent_api.get(f"/bot/{bot['id']}/fetch")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"message": "Not authorized", "code": "NOT_AUTHORIZED"}
    assert forbidden.headers["x-failure-code"] == "NOT_AUTHORIZED"
    missing = api.get("/bot/nope/fetch")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Bot not found", "code": "NOT_FOUND"}
    assert "x-failure-code" not in missing.headers


def test_it_hides_the_control_surface_unless_started_with_dev(tmp_path) -> None:
    process, url = start_sandbox(tmp_path / "plain.log")
    try:
        response = httpx.post(f"{url}/_sandbox/parent/create", json={})
        assert response.status_code == 404
        assert httpx.get(f"{url}/_sandbox/state").status_code == 404
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        stop_sandbox(process)
