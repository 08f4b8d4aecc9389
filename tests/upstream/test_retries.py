"""Retries: only idempotent calls, only for failures a retry can fix."""

from __future__ import annotations

import logging
import re

import pytest

from portal.upstream import UpstreamConnection, UpstreamHTTPError, UpstreamUnavailable
from tests.fixtures.sandbox import Sandbox, free_port
from tests.upstream.conftest import fast_client

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def attempts_logged(caplog: pytest.LogCaptureFixture, method: str, path: str) -> int:
    """Each attempt leaves one line: `-> <status> in …` or `failed after …`."""
    attempt = re.compile(rf"^upstream {method} {re.escape(path)} (-> \d+ in |failed after )")
    return sum(1 for record in caplog.records if attempt.match(record.getMessage()))


async def test_a_get_is_retried_on_503_until_it_succeeds(
    sandbox: Sandbox, conn: UpstreamConnection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "portal.upstream")
    sandbox.inject_fault("/v1/bot/list", "status", status=503, times=2)
    async with fast_client() as client:
        page = await client.request_json(conn, "GET", "/v1/bot/list")
    assert page == {"items": []}
    assert attempts_logged(caplog, "GET", "/v1/bot/list") == 3


async def test_a_get_gives_up_after_three_tries(sandbox: Sandbox, conn: UpstreamConnection) -> None:
    sandbox.inject_fault("/v1/bot/list", "status", status=503, times=5)
    async with fast_client() as client:
        with pytest.raises(UpstreamHTTPError) as caught:
            await client.request_json(conn, "GET", "/v1/bot/list")
    assert caught.value.status == 503
    assert [f["remaining"] for f in sandbox.state()["faults"]] == [2]


async def test_a_post_is_never_retried(
    sandbox: Sandbox, conn: UpstreamConnection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "portal.upstream")
    sandbox.inject_fault("/v1/bot/create", "status", status=503, times=1)
    async with fast_client() as client:
        with pytest.raises(UpstreamHTTPError) as caught:
            await client.request_json(conn, "POST", "/v1/bot/create", json={"name": "Once"})
        assert caught.value.status == 503
        assert attempts_logged(caplog, "POST", "/v1/bot/create") == 1
        # The fault was used up by that single attempt, and nothing was created twice.
        await client.request_json(conn, "POST", "/v1/bot/create", json={"name": "Twice"})
        names = [
            b["name"] for b in (await client.request_json(conn, "GET", "/v1/bot/list"))["items"]
        ]
    assert names == ["Twice"]


async def test_a_post_the_caller_marks_idempotent_is_retried(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.inject_fault("/v1/bot/create", "status", status=502, times=1)
    async with fast_client() as client:
        created = await client.request_json(
            conn, "POST", "/v1/bot/create", json={"alias": "dedup-me"}, idempotent=True
        )
    assert created["id"]


async def test_a_refused_connection_is_retried_for_a_get_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "portal.upstream")
    conn = UpstreamConnection(f"http://127.0.0.1:{free_port()}", "sk-unreachable")
    async with fast_client() as client:
        with pytest.raises(UpstreamUnavailable):
            await client.request_json(conn, "GET", "/v1/bot/list")
        with pytest.raises(UpstreamUnavailable):
            await client.request_json(conn, "POST", "/v1/bot/create", json={})
    assert attempts_logged(caplog, "GET", "/v1/bot/list") == 3
    assert attempts_logged(caplog, "POST", "/v1/bot/create") == 1
