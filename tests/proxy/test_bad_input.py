"""Bad input is refused with the right code before any upstream call, and never with a 5xx."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from tenants.proxy import routes
from tenants.proxy.errors import ProxyError
from tests.proxy.conftest import auth


@pytest.fixture(autouse=True)
def _nothing_reaches_the_upstream(world):
    # Any call that got through to the upstream would come back as this 500.
    world.sandbox.inject_fault("/v1/**", "status", status=500, code="REACHED")


@pytest.fixture
def token(world):
    return world.token(world.a_child)


def _raw(portal, method: str, path: str, headers: dict[str, str] | None = None, body=None):
    """A request sent byte for byte as written: no client-side path normalisation."""
    connection = http.client.HTTPConnection("127.0.0.1", portal.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def _assert_error(status: int, body: bytes, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    data = json.loads(body)
    assert set(data) == {"message", "code"}
    assert data["code"] == code


@pytest.mark.parametrize(
    "path",
    [
        "/v1/bot/../partner/user/list",
        "/v1/%2e%2e/partner/user/list",
        "/v1/%2E%2E/%2E%2E/admin/",
        "/v1/bot%2flist",
        "/v1/bot%2Flist",
        "/v1//bot/list",
        "/api/v1/bot/list/..",
        "/v1/./bot/list",
        "/v1/bot/list%00",
        "/v1/bot/li%73t",
        "/v1/bot\\..\\list",
        "/api/v1/conversation/x/../../../partner/user/list",
    ],
)
@pytest.mark.parametrize("with_token", [False, True])
def test_path_tricks_are_refused_before_authentication(portal, token, path, with_token):
    headers = auth(token) if with_token else {}

    status, body, _ = _raw(portal, "GET", path, headers)

    _assert_error(status, body, 400, "BAD_REQUEST")


def test_the_proxy_itself_never_forwards_the_partner_api():
    # portal/asgi.py sends these to Django; the route table refuses them all the same.
    for path in ("/partner/user/list", "/user/create", "/partner/user/x/token/create"):
        with pytest.raises(ProxyError) as refused:
            routes.match("GET", path)
        assert refused.value.status == 404


def test_an_oversized_body_is_refused_with_413(client, token):
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'

    response = client.post(
        "/v1/bot/create", content=body, headers=auth(token, **{"Content-Type": "application/json"})
    )

    assert response.status_code == 413
    assert response.json()["code"] == "CONTENT_TOO_LARGE"
    assert "1048576 bytes" in response.json()["message"]


def test_an_oversized_body_without_a_length_is_refused_while_it_arrives(client, token):
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 32768

    response = client.post(
        "/v1/bot/create",
        content=chunks(),
        headers=auth(token, **{"Content-Type": "application/json"}),
    )

    assert response.status_code == 413
    assert response.json()["code"] == "CONTENT_TOO_LARGE"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_post_that_is_not_json_is_a_400(portal, token, content_type):
    headers = auth(token)
    if content_type:
        headers["Content-Type"] = content_type

    status, body, _ = _raw(portal, "POST", "/v1/bot/create", headers, b"name=x")

    _assert_error(status, body, 400, "BAD_REQUEST")


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_a_json_post_whose_body_is_not_an_object_is_a_400(portal, token, payload):
    headers = auth(token, **{"Content-Type": "application/json"})

    status, body, _ = _raw(portal, "POST", "/v1/bot/create", headers, payload)

    _assert_error(status, body, 400, "BAD_REQUEST")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "TRACE"])
def test_methods_the_upstream_does_not_have_are_a_405(portal, token, method):
    status, body, _ = _raw(portal, method, "/v1/bot/list", auth(token))

    _assert_error(status, body, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/bot/create"), ("POST", "/v1/bot/list")])
def test_a_known_route_with_the_wrong_method_is_a_405(client, token, method, path):
    response = client.request(
        method, path, json={} if method == "POST" else None, headers=auth(token)
    )

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_head_and_options_are_answered_like_the_upstream(client):
    head = client.head("/v1/bot/list")
    options = client.options("/v1/bot/list")

    assert head.status_code == 200
    assert head.content == b""
    assert options.status_code == 200
    assert options.json() == {}
    assert options.headers["access-control-allow-origin"] == "*"


def test_a_malformed_time_zone_is_a_400(client, token):
    response = client.get(
        "/v1/usage/fetch", headers=auth(token, **{"X-Timezone": "Europe/Lon don"})
    )

    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"


def test_an_over_long_idempotency_key_is_a_400(client, token):
    response = client.post(
        "/v1/bot/create", json={}, headers=auth(token, **{"Idempotency-Key": "k" * 256})
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/v1/partner/user/list",
        "/api/v1/partner/user/list",
        "/v1/user/list",
        "/api/v1/user/abc/token/list",
        "/v1/chat/stream",
        "/api/v1/portal/accounts/",
        "/chat",
    ],
)
def test_routes_the_portal_answers_itself_go_to_django(client, token, path):
    response = client.get(path, headers=auth(token))

    assert "server-timing" not in response.headers  # the proxy stamps every answer it gives
    assert response.status_code != 500 or "REACHED" not in response.text


def test_other_api_paths_go_to_the_proxy(client):
    response = client.get("/api/v1/anything/else")

    assert response.status_code == 401
    assert "server-timing" in response.headers
