"""Limits through the proxy: refusals as the upstream words them, headers, give-backs, tokens."""

from __future__ import annotations

import json

from tenants.models import Token
from tenants.services.limits import set_token_rpm
from tests.limits.live.helpers import limited_tenant, this_month, used
from tests.processes import wait_for
from tests.proxy.conftest import auth, complete_body

COMPLETE = "/v1/conversation/complete"
JSONL = {"Accept": "application/jsonl"}


def _fault_remaining(world, route: str) -> int | None:
    faults = [f for f in world.sandbox.state()["faults"] if f["route"] == route]
    return faults[0]["remaining"] if faults else None


def test_a_call_over_a_quota_gets_the_429_the_upstream_would_send_with_the_details(world, client):
    tenant = limited_tenant(world, timezone="Europe/Paris", messages=1)
    headers = auth(world.token(tenant))
    first = client.post(COMPLETE, headers=headers, json=complete_body())
    assert first.status_code == 200
    assert first.headers["ratelimit-limit"] == "1"
    assert first.headers["ratelimit-remaining"] == "0"

    refused = client.post(COMPLETE, headers=headers, json=complete_body())

    label, reset, reset_ms = this_month("Europe/Paris")
    assert refused.status_code == 429
    assert refused.json() == {
        "message": f"{tenant.name} has used its 1 message for {label} (resets {reset}).",
        "code": "LIMITS_REACHED",
        "limit": {
            "account": tenant.public_id,
            "name": "messages",
            "limit": 1,
            "used": 1,
            "resetAt": reset_ms,
        },
    }
    assert refused.headers["x-failure-code"] == "LIMITS_REACHED"
    assert refused.headers["content-type"] == "application/json"
    retry_after = int(refused.headers["retry-after"])
    assert 0 < retry_after <= 31 * 24 * 3600
    assert refused.headers["ratelimit-limit"] == "1"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == str(retry_after)


def test_a_refused_call_never_reaches_the_upstream(world, client):
    tenant = limited_tenant(world, messages=0)
    # Would turn the call into a 500 if it went upstream; it stays unused.
    world.sandbox.inject_fault(COMPLETE, "status", status=500, code="REACHED_UPSTREAM", times=1)

    refused = client.post(COMPLETE, headers=auth(world.token(tenant)), json=complete_body())

    assert refused.status_code == 429
    assert refused.json()["message"] == f"{tenant.name} may not use any messages (its limit is 0)."
    assert _fault_remaining(world, COMPLETE) == 1


def test_a_rate_limited_call_says_too_many_requests_and_when_to_retry(world, client):
    tenant = limited_tenant(world, rpm=2)
    headers = auth(world.token(tenant))
    assert [client.get("/v1/bot/list", headers=headers).status_code for _ in range(2)] == [
        200,
        200,
    ]
    refused = client.get("/v1/bot/list", headers=headers)
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "TOO_MANY_REQUESTS"
    assert body["message"].startswith(f"{tenant.name} has made 2 requests in the last minute")
    assert body["limit"]["name"] == "rpm"
    assert body["limit"]["account"] == tenant.public_id
    assert "x-failure-code" not in refused.headers
    assert 0 < int(refused.headers["retry-after"]) <= 60


def test_a_tokens_own_rate_limit_is_enforced(world, client):
    tenant = limited_tenant(world)
    plaintext = world.token(tenant)
    set_token_rpm(Token.objects.get(account=tenant), rpm=1, actor=None)
    headers = auth(plaintext)
    assert client.get("/v1/bot/list", headers=headers).status_code == 200
    refused = client.get("/v1/bot/list", headers=headers)
    assert refused.status_code == 429
    assert refused.json()["limit"]["token"] == Token.objects.get(account=tenant).token_id


def test_proxied_answers_carry_ratelimit_headers_of_the_tightest_limit(world, client):
    tenant = limited_tenant(world, rpm=100, messages=10)
    headers = auth(world.token(tenant))
    listed = client.get("/v1/bot/list", headers=headers)
    assert listed.status_code == 200
    assert (listed.headers["ratelimit-limit"], listed.headers["ratelimit-remaining"]) == (
        "100",
        "99",
    )
    assert 0 < int(listed.headers["ratelimit-reset"]) <= 60
    with client.stream("POST", COMPLETE, headers={**headers, **JSONL}, json=complete_body()) as r:
        assert r.status_code == 200
        # One of 10 messages used (90 % left) is tighter than 2 of 100 requests (98 %).
        assert (r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"]) == ("10", "9")
        r.read()
    # Upstream errors carry them too.
    world.sandbox.inject_fault("/v1/bot/list", "status", status=500, times=1)
    failed = client.get("/v1/bot/list", headers=headers)
    assert failed.status_code == 500
    assert "ratelimit-limit" in failed.headers


def test_an_upstream_refusal_before_streaming_gives_the_message_back(world, client):
    tenant = limited_tenant(world, messages=1)
    headers = auth(world.token(tenant), **JSONL)
    world.sandbox.inject_fault(COMPLETE, "status", status=503, times=1)

    failed = client.post(COMPLETE, headers=headers, json=complete_body())
    assert failed.status_code == 503
    wait_for(lambda: used(tenant, "messages") == 0, 3, "the message to be given back")
    assert client.post(COMPLETE, headers=headers, json=complete_body()).status_code == 200
    assert client.post(COMPLETE, headers=headers, json=complete_body()).status_code == 429


def test_tokens_are_settled_from_the_usage_the_upstream_reported(world, client):
    reseller = limited_tenant(world, tokens=1)
    tenant = limited_tenant(world, parent=reseller)
    headers = auth(world.token(tenant), **JSONL)

    with client.stream("POST", COMPLETE, headers=headers, json=complete_body("Hi there")) as r:
        events = [json.loads(line) for line in r.iter_lines() if line]
    result = next(e for e in events if e["type"] == "result")
    reported = result["data"]["usage"]["token"]
    assert reported > 1

    wait_for(lambda: used(tenant, "tokens") == reported, 3, "the tokens to be settled")
    assert used(reseller, "tokens") == reported  # every level
    refused = client.post(COMPLETE, headers=headers, json=complete_body())
    assert refused.status_code == 429
    limit = refused.json()["limit"]
    assert (limit["account"], limit["name"], limit["used"]) == (
        reseller.public_id,
        "tokens",
        reported,
    )


def test_an_ancestors_limit_blocks_its_descendants_through_the_proxy(world, client):
    reseller = limited_tenant(world, messages=1)
    shop = limited_tenant(world, parent=reseller)
    reseller_token = world.token(reseller)
    as_shop = auth(reseller_token, **{"X-RunAs-User-ID": shop.public_id})

    assert client.post(COMPLETE, headers=as_shop, json=complete_body()).status_code == 200
    for headers in (as_shop, auth(world.token(shop)), auth(reseller_token)):
        refused = client.post(COMPLETE, headers=headers, json=complete_body())
        assert refused.status_code == 429
        assert refused.json()["limit"]["account"] == reseller.public_id
    assert used(shop, "messages") == 1
    assert used(reseller, "messages") == 1


def test_an_upstream_429_passes_through_unchanged(world, client):
    tenant = limited_tenant(world, messages=5)
    world.sandbox.inject_fault(
        COMPLETE, "status", status=429, code="LIMITS_REACHED", message="Limits reached", times=1
    )
    refused = client.post(COMPLETE, headers=auth(world.token(tenant)), json=complete_body())
    assert refused.status_code == 429
    assert refused.json() == {"message": "Limits reached", "code": "LIMITS_REACHED"}
    # Refused upstream before doing anything: the reservation went back.
    wait_for(lambda: used(tenant, "messages") == 0, 3, "the message to be given back")


def test_limits_set_through_the_partner_api_field_apply(world, client):
    from tenants.services import update_account

    tenant = limited_tenant(world)
    update_account(tenant, limits={"messages": 1}, actor=None)
    headers = auth(world.token(tenant))
    assert client.post(COMPLETE, headers=headers, json=complete_body()).status_code == 200
    refused = client.post(COMPLETE, headers=headers, json=complete_body())
    assert refused.status_code == 429
    assert refused.json()["limit"]["name"] == "messages"


def test_a_stateful_turn_reserves_its_two_messages_and_is_refused_when_one_is_left(world, client):
    tenant = limited_tenant(world, messages=3)
    headers = auth(world.token(tenant))
    created = client.post("/v1/conversation/create", headers=headers, json={})
    assert created.status_code == 200, created.text
    turn = f"/v1/conversation/{created.json()['id']}/complete"

    first = client.post(turn, headers=headers, json={"text": "one"})
    second = client.post(turn, headers=headers, json={"text": "two"})

    assert first.status_code == 200
    assert first.headers["ratelimit-remaining"] == "1"  # the text and the reply: two of three
    assert second.status_code == 429
    assert second.json()["limit"]["used"] == 2
    assert used(tenant, "messages") == 2
