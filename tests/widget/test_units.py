"""The widget's plain parts, without a server: origins, routing, the protocol's lines and
errors, and how the pipeline's refusals read to a visitor."""

from __future__ import annotations

import json

import pytest

from portal.asgi import route_for
from tenants.credentials import TokenRecord
from tenants.proxy.errors import ProxyError
from tenants.proxy.routes import match
from tenants.widget.origins import MAX_ORIGINS, OriginError, clean_origins, normalize_origin
from tenants.widget.protocol import (
    WidgetError,
    done_line,
    error_line,
    parse_chat_request,
    start_line,
    token_line,
)
from tenants.widget.turn import refusal


@pytest.mark.parametrize(
    ("typed", "origin"),
    [
        ("https://shop.example", "https://shop.example"),
        ("HTTPS://Shop.EXAMPLE/", "https://shop.example"),
        ("  https://shop.example  ", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:80", "http://shop.example"),
        ("https://shop.example:8443", "https://shop.example:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://shop.example.", "https://shop.example"),
    ],
)
def test_an_origin_is_written_as_browsers_send_it(typed, origin):
    assert normalize_origin(typed) == origin


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("", "empty"),
        ("shop.example", "starts with https://"),
        ("ftp://shop.example", "starts with https://"),
        ("https://", "no host"),
        ("https://shop.example/widget", "without a path"),
        ("https://shop.example/?a=1", "without a path"),
        ("https://shop.example/#top", "without a path"),
        ("https://user:pw@shop.example", "user name"),
        ("https://*.shop.example", "wildcards"),
        ("*", "wildcards"),
        ("https://shop.example:99999", "not an origin"),
        ("null", "starts with https://"),
    ],
)
def test_what_is_no_origin_is_refused_saying_why(typed, why):
    with pytest.raises(OriginError, match=why):
        normalize_origin(typed)


def test_a_key_needs_one_to_fifty_distinct_origins():
    assert clean_origins(["https://a.example", "HTTPS://A.example/", "https://b.example"]) == [
        "https://a.example",
        "https://b.example",
    ]
    with pytest.raises(OriginError, match="at least one origin"):
        clean_origins([])
    with pytest.raises(OriginError, match="at most 50"):
        clean_origins([f"https://s{n}.example" for n in range(MAX_ORIGINS + 1)])
    with pytest.raises(OriginError, match="list"):
        clean_origins("https://a.example")


@pytest.mark.parametrize(
    ("path", "app"),
    [
        ("/v1/chat/stream", "widget"),
        ("/api/v1/chat/stream", "widget"),
        ("/chat", "widget"),
        ("/chat/", "django"),
        ("/chats", "django"),
        ("/chat/stream", "django"),
        ("/v1/chat/stream/", "proxy"),  # and the proxy refuses it (below)
        ("/v2/chat/stream", "django"),
        ("/v1/chat/streaming", "proxy"),
        ("/v1/bot/list", "proxy"),
        ("/api/v1/conversation/complete", "proxy"),
        ("/v1/partner/user/list", "django"),
        ("/api/v1/user/abc/fetch", "django"),
        ("/api/v1/portal/accounts/", "django"),
        ("/widget/chat.js", "django"),
        ("/", "django"),
    ],
)
def test_the_asgi_routing_sends_each_path_to_its_application(path, app):
    assert route_for(path) == app


@pytest.mark.parametrize("path", ["/chat/stream/", "/chat/streaming", "/chat", "/chat/x"])
def test_the_proxy_never_forwards_a_path_of_the_widget_upstream(path):
    with pytest.raises(ProxyError) as refused:
        match("POST", path)
    assert refused.value.status == 404


def test_the_lines_are_compact_json_each_ending_the_line():
    assert start_line("c1") == b'{"type":"start","conversationId":"c1"}\n'
    assert token_line("Grüße\n") == '{"type":"token","token":"Grüße\\n"}\n'.encode()
    assert done_line("Hi", "c1") == b'{"type":"done","message":"Hi","conversationId":"c1"}\n'
    assert json.loads(error_line("Internal server error")) == {
        "type": "error",
        "error": "Internal server error",
    }


def test_a_valid_request_keeps_the_message_as_sent():
    chat = parse_chat_request(
        json.dumps({"sessionId": "user-123", "message": "  Hello\nthere  "}).encode(),
        "application/json; charset=utf-8",
    )
    assert (chat.session_id, chat.message) == ("user-123", "  Hello\nthere  ")


def test_a_body_of_the_wrong_json_type_is_invalid():
    with pytest.raises(WidgetError) as refused:
        parse_chat_request(b'"just a string"', "application/json")
    assert refused.value.status == 400
    assert json.loads(refused.value.body()) == {
        "error": 'Invalid request payload: the body must be a JSON object {"sessionId", "message"}'
    }


@pytest.mark.parametrize(
    ("status", "problem", "headers", "expected"),
    [
        (
            429,
            {"code": "TOO_MANY_REQUESTS", "message": "x", "limit": {"session": "k:d"}},
            {"retry-after": "12"},
            (429, "Too many requests: you are sending messages too fast; try again in 12 s"),
        ),
        (
            429,
            {"code": "TOO_MANY_REQUESTS", "message": "x", "limit": {"token": "k"}},
            {"retry-after": "3"},
            (429, "Too many requests: this chat is busy; try again in 3 s"),
        ),
        (
            429,
            {"code": "LIMITS_REACHED", "message": "Acme has used its 5 messages"},
            {"retry-after": "86400"},
            (429, "Too many requests: this chat has reached its usage limit for now"),
        ),
        (403, {"code": "NOT_AUTHORIZED", "message": "The account Acme is suspended."}, {}, None),
        (404, {"code": "NOT_FOUND", "message": "Bot not found"}, {}, None),
        (502, {"code": "BAD_GATEWAY", "message": "api.example.com is unreachable"}, {}, None),
        (401, {"code": "NOT_AUTHENTICATED", "message": "Not authenticated"}, {}, None),
        (500, "not even JSON", {}, None),
    ],
)
def test_the_pipelines_refusals_read_plainly_to_a_visitor(status, problem, headers, expected):
    error = refusal(status, problem, headers)

    if expected is not None:
        assert (error.status, error.message) == expected
        assert (b"retry-after", headers["retry-after"].encode()) in error.headers
        return
    assert error.status in (403, 404, 500, 502)
    assert "Acme" not in error.message
    assert "api.example.com" not in error.message
    assert "Bot not found" not in error.message
    if status == 401:
        assert (error.status, error.message) == (500, "Internal server error")


def test_a_widget_record_keeps_its_origins_through_the_shared_store():
    record = TokenRecord(
        token_id="t1",
        kind="widget",
        account_id=1,
        account_public_id="usr_1",
        account_path="/1/",
        partner_id=1,
        scopes=("chat:stream",),
        bot_ids=("bot_1",),
        allowed_routes=None,
        expires_at=None,
        revoked_at=None,
        secret_hash="h",
        rpm=60,
        allowed_origins=("https://a.example",),
        session_rpm=10,
    )
    assert TokenRecord.from_json(record.to_json()) == record
    # A record cached before widget keys had origins still loads.
    old = json.loads(record.to_json())
    del old["allowed_origins"], old["session_rpm"]
    assert TokenRecord.from_json(json.dumps(old)).allowed_origins is None
