"""request_json against the live sandbox: results, run-as, and the error model."""

from __future__ import annotations

import time

import pytest
from aiohttp import web

from portal.upstream import (
    Timeouts,
    UpstreamConnection,
    UpstreamHTTPError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.fixtures.sandbox import Parent, Sandbox, free_port
from tests.upstream.conftest import fast_client, quirk_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_it_creates_and_lists_bots(conn: UpstreamConnection) -> None:
    async with fast_client() as client:
        created = await client.request_json(conn, "POST", "/v1/bot/create", json={"name": "Ada"})
        page = await client.request_json(conn, "GET", "/v1/bot/list", params={"take": 10})
    assert [bot["id"] for bot in page["items"]] == [created["id"]]
    assert page["items"][0]["name"] == "Ada"


async def test_a_post_without_a_body_sends_an_empty_object(conn: UpstreamConnection) -> None:
    async with fast_client() as client:
        bot = await client.request_json(conn, "POST", "/v1/bot/create", json={})
        # The upstream refuses a POST without a JSON body (400), so this proves `{}` went out.
        deleted = await client.request_json(conn, "POST", f"/v1/bot/{bot['id']}/delete")
    assert deleted == {"id": bot["id"]}


async def test_run_as_acts_as_the_child(
    sandbox: Sandbox, sandbox_parent: Parent, conn: UpstreamConnection
) -> None:
    child = sandbox.create_child(sandbox_parent, "Kid")
    async with fast_client() as client:
        bot = await client.request_json(
            conn, "POST", "/v1/bot/create", json={"name": "Kid's bot"}, run_as=child
        )
        as_child = await client.request_json(conn, "GET", "/v1/bot/list", run_as=child)
        as_parent = await client.request_json(conn, "GET", "/v1/bot/list")
    assert [b["id"] for b in as_child["items"]] == [bot["id"]]
    assert as_parent["items"] == []


async def test_run_as_someone_elses_child_is_not_authenticated(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    stranger = sandbox.create_child(sandbox.create_parent("Other partner"))
    async with fast_client() as client:
        with pytest.raises(UpstreamHTTPError) as caught:
            await client.request_json(conn, "GET", "/v1/bot/list", run_as=stranger)
    assert (caught.value.status, caught.value.code) == (401, "NOT_AUTHENTICATED")


async def test_an_unknown_id_is_not_found(conn: UpstreamConnection) -> None:
    async with fast_client() as client:
        with pytest.raises(UpstreamHTTPError) as caught:
            await client.request_json(conn, "GET", "/v1/bot/cnotarealbot000000000000/fetch")
    assert (caught.value.status, caught.value.code) == (404, "NOT_FOUND")
    assert caught.value.message


async def test_a_wrong_secret_is_not_authenticated(sandbox: Sandbox) -> None:
    wrong = UpstreamConnection(sandbox.url, "sk-" + "0" * 64)
    async with fast_client() as client:
        with pytest.raises(UpstreamHTTPError) as caught:
            await client.request_json(wrong, "GET", "/v1/bot/list")
    assert (caught.value.status, caught.value.code) == (401, "NOT_AUTHENTICATED")


async def test_limits_reached_keeps_its_code_and_is_not_retried(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    message = "You have exceeded your allocated account limits: message"
    sandbox.inject_fault(
        "/v1/bot/list", "status", status=429, code="LIMITS_REACHED", message=message, times=3
    )
    async with fast_client() as client:
        with pytest.raises(UpstreamHTTPError) as caught:
            await client.request_json(conn, "GET", "/v1/bot/list")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        429,
        "LIMITS_REACHED",
        message,
    )
    # One attempt used one of the three faults: plan limits are not worth a retry.
    assert [f["remaining"] for f in sandbox.state()["faults"]] == [2]


async def test_a_200_whose_body_is_an_error_is_an_error() -> None:
    async def slow_call_failed(_request: web.Request) -> web.Response:
        return web.json_response({"code": "TIMEOUT", "message": "Response timeout"})

    async with quirk_server({"/v1/conversation/complete": slow_call_failed}) as url:
        conn = UpstreamConnection(url, "sk-quirk")
        async with fast_client() as client:
            with pytest.raises(UpstreamHTTPError) as caught:
                await client.request_json(conn, "POST", "/v1/conversation/complete", json={})
    assert (caught.value.status, caught.value.code) == (408, "TIMEOUT")


async def test_an_unreachable_upstream_is_a_bad_gateway_naming_the_host() -> None:
    port = free_port()  # nothing listens there
    conn = UpstreamConnection(f"http://127.0.0.1:{port}", "sk-unreachable")
    async with fast_client() as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.request_json(conn, "GET", "/v1/bot/list")
    assert (caught.value.status, caught.value.code) == (502, "BAD_GATEWAY")
    assert f"127.0.0.1:{port}" in caught.value.message


async def test_a_slow_answer_is_a_gateway_timeout_without_hanging(
    sandbox: Sandbox, conn: UpstreamConnection
) -> None:
    sandbox.inject_fault("/v1/bot/list", "latency", ms=3000, times=1)
    started = time.monotonic()
    async with fast_client(timeouts=Timeouts(connect=2, read=0.5, write=2, pool=2)) as client:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.request_json(conn, "GET", "/v1/bot/list")
    assert (caught.value.status, caught.value.code) == (504, "GATEWAY_TIMEOUT")
    # A read timeout is not retried: the upstream may still be working on it.
    assert time.monotonic() - started < 2
