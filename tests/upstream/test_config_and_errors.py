"""The pure parts: connection values, paths, timeouts and error shapes. No network."""

from __future__ import annotations

import pytest

from portal.upstream import Timeouts, UpstreamConnection
from portal.upstream.errors import (
    error_from_body,
    error_from_response,
    is_error_body,
    parse_retry_after,
)

SECRET = "sk-" + "a1" * 32


def test_a_connection_never_shows_its_secret() -> None:
    conn = UpstreamConnection("https://api.example.com", SECRET)
    assert SECRET not in repr(conn)
    assert conn.host == "api.example.com"


@pytest.mark.parametrize(
    "base_url",
    ["ftp://api.example.com", "api.example.com", "https://u:p@api.example.com", "https://a.b/?x=1"],
)
def test_it_refuses_base_urls_that_are_not_plain_http(base_url: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        UpstreamConnection(base_url, SECRET)


def test_it_joins_paths_under_a_base_path() -> None:
    conn = UpstreamConnection("https://gw.example.com:8443/cbk/", SECRET)
    assert str(conn.url_for("/v1/bot/list")) == "https://gw.example.com:8443/cbk/v1/bot/list"
    assert conn.host == "gw.example.com:8443"


@pytest.mark.parametrize(
    "path",
    [
        "v1/bot/list",
        "//evil.example/v1",
        "/v1/../admin",
        "/v1/bot/list?take=1",
        "/v1/a b",
        "/v1\\x",
    ],
)
def test_it_refuses_paths_that_could_leave_the_api(path: str) -> None:
    conn = UpstreamConnection("https://api.example.com", SECRET)
    with pytest.raises(ValueError, match="upstream path"):
        conn.url_for(path)


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="read"):
        Timeouts(read=0)


def test_only_an_exact_code_and_message_body_is_an_error() -> None:
    assert is_error_body({"code": "TIMEOUT", "message": "Response timeout"})
    assert not is_error_body({"code": "x", "message": "y", "id": "z"})
    assert not is_error_body({"message": "hello"})
    assert not is_error_body([{"code": "x", "message": "y"}])


def test_an_error_body_under_200_takes_its_status_from_the_code() -> None:
    error = error_from_body({"code": "LIMITS_REACHED", "message": "Limits reached"})
    assert (error.status, error.code, error.message) == (429, "LIMITS_REACHED", "Limits reached")


def test_a_non_json_error_falls_back_to_the_failure_code_header() -> None:
    error = error_from_response(
        status=429,
        body=b"<html>nope</html>",
        headers={"X-Failure-Code": "LIMITS_REACHED", "Retry-After": "7"},
        host="api.example.com",
    )
    assert error.code == "LIMITS_REACHED"
    assert error.retry_after == 7
    assert "api.example.com" in error.message


def test_a_non_json_gateway_error_gets_the_standard_code() -> None:
    error = error_from_response(status=502, body=b"Bad gateway", headers={}, host="h")
    assert (error.status, error.code) == (502, "BAD_GATEWAY")


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
