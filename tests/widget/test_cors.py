"""CORS: browsers reach the widget stream from a key's own origins, and from nowhere else.

The preflight carries no key, so it is answered for an origin that some live widget key lists;
the request itself is held to its key's origins. These run over HTTP with the headers a browser
sends; tests/browser/test_widget.py does the same in Chromium.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tenants.models import Token
from tenants.services import revoke_token
from tenants.services.widget_keys import change_widget_origins
from tenants.widget import origins
from tests.processes import wait_for
from tests.widget.helpers import STREAM, chat, events, widget_key

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-api-key",
}


def _preflight(client, origin: str, path: str = STREAM):
    return client.options(path, headers={"Origin": origin, **PREFLIGHT})


def _key_row(key: str) -> Token:
    return Token.objects.get(kind=Token.Kind.WIDGET, last4=key[-4:])


@pytest.mark.parametrize("path", [STREAM, "/chat", "/api/v1/chat/stream"])
def test_the_preflight_of_an_allowed_origin_allows_exactly_it(world, client, path):
    widget_key(world, world.a_child, origins=["https://allowed.example"])

    response = _preflight(client, "https://allowed.example", path)

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://allowed.example"
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == (
        "content-type, x-api-key, x-widget-api-key"
    )
    assert response.headers["vary"] == "Origin"
    assert int(response.headers["access-control-max-age"]) > 0
    assert response.content == b""


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://allowed-too.example",  # another scheme is another origin
        "https://allowed-too.example:8443",  # and so is another port
        "https://sub.allowed-too.example",
        "null",
    ],
)
def test_the_preflight_of_any_other_origin_gets_no_allow_header(world, client, origin):
    widget_key(world, world.a_child, origins=["https://allowed-too.example"])

    response = _preflight(client, origin)

    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"
    assert response.json() == {"error": "This origin may not use the chat widget"}


def test_a_request_from_an_allowed_origin_is_readable_by_that_origin_only(world, client):
    key = widget_key(world, world.a_child, origins=["https://one.example", "https://two.example"])

    response = chat(client, key, headers={"Origin": "https://two.example"})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://two.example"
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert response.headers["vary"] == "Origin"
    assert events(response)[-1]["type"] == "done"


def test_a_request_from_another_keys_origin_is_refused_before_anything_happens(world, client):
    # The preflight passes (another live key lists the origin), the key's own list decides.
    widget_key(world, world.a_child, origins=["https://theirs.example"])
    key = widget_key(world, world.a_child, origins=["https://mine.example"])
    assert _preflight(client, "https://theirs.example").status_code == 204
    before = world.sandbox.state()

    response = chat(client, key, headers={"Origin": "https://theirs.example"})

    assert response.status_code == 403
    assert response.json() == {"error": "This origin may not use this widget key"}
    assert "access-control-allow-origin" not in response.headers
    after = world.sandbox.state()
    assert (after["conversations"], after["messages"]) == (  # nothing reached the upstream
        before["conversations"],
        before["messages"],
    )


def test_a_request_without_origin_is_a_program_and_is_served(world, client):
    key = widget_key(world, world.a_child, origins=["https://shop.example"])

    response = chat(client, key)

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_a_refusal_before_the_key_is_known_is_readable_from_a_listed_origin(world, client):
    widget_key(world, world.a_child, origins=["https://listed.example"])

    listed = chat(client, "ppw_wrong", headers={"Origin": "https://listed.example"})
    unlisted = chat(client, "ppw_wrong", headers={"Origin": "https://unlisted.example"})

    assert listed.status_code == unlisted.status_code == 401
    assert listed.headers["access-control-allow-origin"] == "https://listed.example"
    assert "access-control-allow-origin" not in unlisted.headers


def test_changing_a_keys_origins_applies_at_once(world, client):
    key = widget_key(world, world.a_child, origins=["https://before.example"])

    change_widget_origins(_key_row(key), origins=["https://after.example"], actor=None)

    def moved() -> bool:
        before = chat(client, key, headers={"Origin": "https://before.example"})
        return before.status_code == 403

    wait_for(moved, 1.5, "the origin change on the stream")
    assert chat(client, key, headers={"Origin": "https://after.example"}).status_code == 200
    assert _preflight(client, "https://after.example").status_code == 204
    assert _preflight(client, "https://before.example").status_code == 403


def test_the_preflight_stops_allowing_an_origin_whose_only_key_was_revoked(world, client):
    key = widget_key(world, world.a_child, origins=["https://gone.example"])
    assert _preflight(client, "https://gone.example").status_code == 204

    revoke_token(_key_row(key), actor=None)

    # The revocation is announced on commit: this server shares the test's process, so it reads
    # the origins again at once (tests below: another process within LOCAL_SECONDS).
    assert _preflight(client, "https://gone.example").status_code == 403
    assert chat(client, key, headers={"Origin": "https://gone.example"}).status_code == 401


def test_a_preflight_without_origin_just_says_what_the_endpoint_takes(client):
    response = client.options(STREAM)

    assert response.status_code == 204
    assert response.headers["allow"] == "POST, OPTIONS"
    assert "access-control-allow-origin" not in response.headers


def test_another_worker_allows_a_new_keys_origin_within_its_epoch_check(
    world, portal, second_worker
):
    origin = "https://new-elsewhere.example"
    with httpx.Client(base_url=second_worker, timeout=15) as other:
        assert _preflight(other, origin).status_code == 403  # its copy has no such origin

        widget_key(world, world.a_child, origins=[origin])
        issued_at = time.monotonic()

        wait_for(lambda: _preflight(other, origin).status_code == 204, 3, "the other worker")
        assert time.monotonic() - issued_at < origins.LOCAL_SECONDS + 0.5


def test_another_worker_stops_allowing_a_revoked_keys_origin_within_its_epoch_check(
    world, portal, second_worker
):
    origin = "https://revoked-elsewhere.example"
    key = widget_key(world, world.a_child, origins=[origin])
    with httpx.Client(base_url=second_worker, timeout=15) as other:
        wait_for(lambda: _preflight(other, origin).status_code == 204, 3, "the other worker")

        revoke_token(_key_row(key), actor=None)
        revoked_at = time.monotonic()

        wait_for(lambda: _preflight(other, origin).status_code == 403, 3, "the other worker")
        assert time.monotonic() - revoked_at < origins.LOCAL_SECONDS + 0.5
