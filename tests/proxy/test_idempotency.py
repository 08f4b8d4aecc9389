"""Idempotency-Key: a retried POST runs upstream once; a reused key with another body is 409."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.proxy.conftest import auth, complete_body


@pytest.fixture
def key() -> str:
    return str(uuid.uuid4())


def _conversations(world, account) -> int:
    with world.upstream(world.parent_a, account.public_id) as upstream:
        return len(upstream.get("/v1/conversation/list").json()["items"])


def test_a_repeated_key_with_the_same_body_replays_the_first_answer(world, client, key):
    token = world.token(world.a_sibling)
    before = _conversations(world, world.a_sibling)
    headers = auth(token, **{"Idempotency-Key": key})

    first = client.post("/v1/conversation/create", json={"name": "once"}, headers=headers)
    second = client.post("/v1/conversation/create", json={"name": "once"}, headers=headers)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _conversations(world, world.a_sibling) == before + 1


def test_the_same_key_with_another_body_is_a_409(world, client, key):
    token = world.token(world.a_sibling)
    headers = auth(token, **{"Idempotency-Key": key})

    client.post("/v1/conversation/create", json={"name": "first"}, headers=headers)
    other = client.post("/v1/conversation/create", json={"name": "second"}, headers=headers)

    assert other.status_code == 409
    assert other.json()["code"] == "CONFLICT"
    assert "different request" in other.json()["message"]


def test_concurrent_requests_with_one_key_make_one_upstream_call(world, portal, key):
    token = world.token(world.a_grandchild)
    before = _conversations(world, world.a_grandchild)
    # Slow enough upstream that all five arrive while the first is still in flight.
    world.sandbox.inject_fault("/v1/conversation/create", "latency", ms=400)
    headers = auth(token, **{"Idempotency-Key": key})

    def create(_: int) -> httpx.Response:
        return httpx.post(
            f"{portal.url}/v1/conversation/create",
            json={"name": "raced"},
            headers=headers,
            timeout=15,
        )

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(create, range(5)))

    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["id"] for response in responses}) == 1
    assert _conversations(world, world.a_grandchild) == before + 1


def test_keys_belong_to_one_token(world, client, key):
    first_token, second_token = world.token(world.a_sibling), world.token(world.a_sibling)
    before = _conversations(world, world.a_sibling)

    for token in (first_token, second_token):
        response = client.post(
            "/v1/conversation/create",
            json={"name": "per token"},
            headers=auth(token, **{"Idempotency-Key": key}),
        )
        assert "idempotent-replayed" not in response.headers

    assert _conversations(world, world.a_sibling) == before + 2


def test_a_failed_call_is_not_kept_so_the_retry_goes_upstream(world, client, key):
    token = world.token(world.a_sibling)
    world.sandbox.inject_fault("/v1/conversation/create", "status", status=502, times=1)
    headers = auth(token, **{"Idempotency-Key": key})

    failed = client.post("/v1/conversation/create", json={"name": "retry"}, headers=headers)
    retried = client.post("/v1/conversation/create", json={"name": "retry"}, headers=headers)

    assert failed.status_code == 502
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


def test_a_streamed_answer_is_replayed_byte_for_byte(world, client, key):
    token = world.token(world.a_sibling)
    headers = auth(token, **{"Idempotency-Key": key, "Accept": "application/jsonl"})
    body = complete_body("stream once")

    first = client.post("/v1/conversation/complete", json=body, headers=headers)
    second = client.post("/v1/conversation/complete", json=body, headers=headers)

    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert second.headers["content-type"].startswith("application/jsonl")
    assert json.loads(second.text.splitlines()[-1])["type"] == "result"
