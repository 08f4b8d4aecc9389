"""Secrets never reach a log record of the portal.upstream logger, nor an error message."""

from __future__ import annotations

import logging

import pytest

from portal.upstream import UpstreamConnection, UpstreamHTTPError
from tests.fixtures.sandbox import Parent, Sandbox
from tests.upstream.conftest import fast_client

SECRET = "sk-" + "5e" * 32
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGlsZCJ9.c2lnbmF0dXJlLWJ5dGVz"
PORTAL_TOKEN = "ppk_live_4f9c2a7e1b3d5f60"


@pytest.mark.parametrize(
    ("template", "argument", "secret"),
    [
        ("sent %s", f"Authorization: Bearer {SECRET}", SECRET),
        ("upstream secret %s", SECRET, SECRET),
        ("session token %s", JWT, JWT),
        ("portal token %s", PORTAL_TOKEN, PORTAL_TOKEN),
        ("header %s", "Bearer opaque-oauth-value", "opaque-oauth-value"),
    ],
)
def test_the_upstream_logger_masks_every_kind_of_secret(
    caplog: pytest.LogCaptureFixture, template: str, argument: str, secret: str
) -> None:
    caplog.set_level(logging.DEBUG, "portal.upstream")
    logging.getLogger("portal.upstream").warning(template, argument)
    assert secret not in caplog.records[-1].getMessage()
    assert secret not in caplog.text
    assert "[redacted]" in caplog.text


@pytest.mark.anyio
async def test_calls_log_method_path_status_and_duration_only(
    sandbox: Sandbox, sandbox_parent: Parent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "portal.upstream")
    conn = UpstreamConnection(sandbox.url, sandbox_parent.secret)
    wrong = UpstreamConnection(sandbox.url, SECRET)
    async with fast_client() as client:
        await client.request_json(conn, "GET", "/v1/bot/list", params={"take": 5})
        with pytest.raises(UpstreamHTTPError) as caught:
            await client.request_json(wrong, "GET", "/v1/bot/list")
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.upstream"]
    assert lines
    assert all(line.startswith("upstream GET /v1/bot/list -> ") for line in lines)
    for secret in (sandbox_parent.secret, SECRET):
        assert secret not in caplog.text
        assert secret not in str(caught.value)
    assert "take" not in caplog.text  # query strings stay out of the log


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
