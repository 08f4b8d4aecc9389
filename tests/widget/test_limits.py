"""Limits and metering of the widget stream: the proxy's own code, with the key's and each
session's rates admitted with the account's limits (both backends: tests/limits/conftest.py
runs the counters on Redis too when REDIS_URL is set; these run on the configured one)."""

from __future__ import annotations

import json

from tests.limits.live.helpers import limited_tenant, used
from tests.metering.live.helpers import events_of
from tests.processes import wait_for
from tests.widget.helpers import chat, events, make_bot, session, widget_key


def _error(response) -> str:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    return str(body["error"])


def test_a_turn_is_metered_as_the_keys_account_in_the_upstreams_units(world, client):
    # A turn is a stateful complete: the upstream stores the visitor's text and the reply, two
    # messages of the key's account (tenants.limits.policy.cost_of), and so does the portal.
    tenant = limited_tenant(world, messages=100, conversations=100)
    key = widget_key(world, tenant)
    session_id = session()

    first = chat(client, key, "hello", session_id=session_id)
    second = chat(client, key, "again", session_id=session_id)

    assert first.status_code == second.status_code == 200
    recorded = events_of(key, 3)  # create, complete, complete
    assert [(e.route, e.status) for e in recorded] == [
        ("/conversation/create", 200),
        ("/conversation/{conversationId}/complete", 200),
        ("/conversation/{conversationId}/complete", 200),
    ]
    assert {e.account_id for e in recorded} == {tenant.pk}
    assert [e.messages for e in recorded] == [0, 2, 2]
    assert sum(e.conversations for e in recorded) == 1
    assert all(e.tokens > 0 for e in recorded[1:])
    assert used(tenant, "messages") == 4
    assert used(tenant, "conversations") == 1
    assert used(tenant, "tokens") == sum(e.tokens for e in recorded)


def test_a_session_over_its_rate_is_429_and_other_sessions_go_on(world, client):
    key = widget_key(world, world.a_child, session_rpm=2)
    chatty = session()

    answers = [chat(client, key, f"message {n}", session_id=chatty) for n in range(3)]
    other = chat(client, key, "hello", session_id=session())

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    refused = answers[-1]
    assert _error(refused).startswith("Too many requests: you are sending messages too fast")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert other.status_code == 200


def test_a_session_refusal_is_recorded_for_the_tenant_with_its_reason(world, client):
    key = widget_key(world, world.a_child, session_rpm=1)
    chatty = session()
    chat(client, key, "one", session_id=chatty)

    refused = chat(client, key, "two", session_id=chatty)

    assert refused.status_code == 429
    recorded = events_of(key, 3)
    assert (recorded[-1].status, recorded[-1].error_code) == (429, "TOO_MANY_REQUESTS")


def test_the_key_over_its_rate_is_429_whatever_the_session(world, client):
    key = widget_key(world, world.a_child, rpm=3)

    answers = [chat(client, key, "hi", session_id=session()) for _ in range(4)]

    # Each new session's turn creates a conversation and completes it: one turn, one count.
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert _error(answers[-1]).startswith("Too many requests: this chat is busy")
    assert int(answers[-1].headers["retry-after"]) > 0


def test_the_accounts_quota_refuses_a_turn_without_naming_anyone(world, client):
    tenant = limited_tenant(world, messages=2)  # one turn: the text and the reply
    key = widget_key(world, tenant, make_bot(world, tenant))
    session_id = session()

    ok = chat(client, key, "first", session_id=session_id)
    refused = chat(client, key, "second", session_id=session_id)

    assert ok.status_code == 200
    assert refused.status_code == 429
    error = _error(refused)
    assert error == "Too many requests: this chat has reached its usage limit for now"
    assert tenant.name not in error
    assert world.partner_a.name not in error
    assert int(refused.headers["retry-after"]) > 0
    assert used(tenant, "messages") == 2


def test_an_ancestors_quota_holds_its_tenants_widgets_too(world, client):
    reseller = limited_tenant(world, messages=2)
    tenant = limited_tenant(world, parent=reseller)
    key = widget_key(world, tenant, make_bot(world, tenant))

    assert chat(client, key, "first").status_code == 200
    refused = chat(client, key, "second")

    assert refused.status_code == 429
    assert reseller.name not in _error(refused)


def test_the_rate_headers_of_the_tightest_limit_come_with_the_stream(world, client):
    key = widget_key(world, world.a_child, rpm=50, session_rpm=5)

    response = chat(client, key)

    assert response.status_code == 200
    assert events(response)[-1]["type"] == "done"
    assert response.headers["ratelimit-limit"] == "5"
    assert response.headers["ratelimit-remaining"] == "4"


def test_a_visitor_leaving_mid_reply_ends_the_upstream_call_and_keeps_its_usage(world, client):
    world.sandbox.configure(tokenDelayMs=150)
    key = widget_key(world, world.a_child)
    session_id = session()
    assert chat(client, key, "first", session_id=session_id).status_code == 200

    with client.stream(
        "POST",
        "/v1/chat/stream",
        json={"sessionId": session_id, "message": "a long answer [sandbox:words=80]"},
        headers={"x-api-key": key},
    ) as response:
        seen = []
        for line in response.iter_lines():
            seen.append(json.loads(line)["type"])
            if seen.count("token") == 2:
                break

    recorded = events_of(key, 3)
    left = recorded[-1]
    assert left.route == "/conversation/{conversationId}/complete"
    assert left.client_disconnected is True
    assert 2 <= left.tokens < 80
    wait_for(
        lambda: world.sandbox.state()["streams"]["activeStreams"] == 0, 5, "the upstream to stop"
    )


def test_a_new_sessions_first_turn_counts_once_against_the_accounts_rate(world, client):
    # A first turn creates the session's conversation and then completes it: two calls
    # upstream, one visitor message, so one request against the account's rpm (as against the
    # key's and the session's).
    tenant = limited_tenant(world, rpm=2)
    key = widget_key(world, tenant, make_bot(world, tenant))

    answers = [chat(client, key, "hi", session_id=session()) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert _error(answers[-1]).startswith("Too many requests: this chat is busy")
