"""A console turn streamed over SSE through the live portal, as a browser receives it."""

from __future__ import annotations

import re
import time

from tenants.metering.models import UsageEvent
from tenants.models import Role
from tests.console.live.helpers import (
    conversation_of,
    logged_in,
    make_bot,
    parse_sse,
    read_stream,
    send,
    stop_url,
    stream_url,
    turn,
    used_this_period,
)
from tests.factories import make_member, make_partner
from tests.limits.live.helpers import limited_tenant
from tests.processes import wait_for

LONG = "Tell me everything [sandbox:words=40]"


def test_the_reply_streams_token_by_token_then_ends_with_its_usage(world, portal, people):
    world.sandbox.configure(tokenDelayMs=60)
    # A tenant of its own: another test's usage of a shared tenant may still be on its way to
    # the database (the metering buffer) and land between the two readings.
    tenant = limited_tenant(world)
    before = used_this_period(tenant)
    with logged_in(portal.url, people.support) as http:
        stream = turn(http, tenant, LONG)

    assert stream.status == 200
    tokens = stream.of("token")
    assert len(tokens) >= 20
    end = stream.of("turn-end")[0]
    # The first piece arrives long before the last: the page sees the reply being written.
    assert tokens[0].at < end.at - 1.0, (tokens[0].at, end.at)
    assert tokens[-1].at - tokens[0].at >= 0.06 * (len(tokens) - 1) * 0.6
    assert "You said" in stream.text
    assert re.search(r"\d+ tokens · ended: stop", stream.end)
    assert 'id="console-meter" class="card meter-card" hx-swap-oob="true"' in stream.end
    after = used_this_period(tenant)
    assert after["messages"] == before["messages"] + 2  # the text and the reply
    assert after["conversations"] == before["conversations"] + 1
    assert after["tokens"] > before["tokens"]


def _messages_upstream(world, account, conversation_id: str) -> list[tuple[str, str]]:
    with world.upstream(world.parent_a, account.public_id) as upstream:
        found = upstream.get(f"/v1/conversation/{conversation_id}/message/list")
    found.raise_for_status()
    return [(item["type"], item["text"]) for item in found.json()["items"]]


def test_the_conversation_continues_across_turns_with_its_upstream_id(world, portal, people):
    tenant = limited_tenant(world)  # its own: no other test's usage lands in its numbers
    bot = make_bot(world, tenant, "Continuity bot")
    with logged_in(portal.url, people.support) as http:
        first = turn(http, tenant, "first words", bot=bot)
        conversation = conversation_of(first.end)
        before = used_this_period(tenant)
        second = turn(http, tenant, "second words", conversation=conversation, bot=bot)

    assert conversation
    assert conversation_of(second.end) == conversation
    assert [kind for kind, _ in _messages_upstream(world, tenant, conversation)] == [
        "user",
        "bot",
        "user",
        "bot",
    ]
    with world.upstream(world.parent_a, tenant.public_id) as upstream:
        made = upstream.get(f"/v1/conversation/{conversation}/fetch").json()
    assert made["botId"] == bot
    after = used_this_period(tenant)
    assert after["messages"] == before["messages"] + 2  # the text and the reply
    assert after["conversations"] == before["conversations"]  # the same conversation


def test_a_conversation_without_a_bot_takes_a_model_and_a_backstory(world, portal, people):
    with logged_in(portal.url, people.support) as http:
        stream = turn(http, world.a_child, "hello", model="gpt-5.4", backstory="You are terse.")
    conversation = conversation_of(stream.end)
    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        made = upstream.get(f"/v1/conversation/{conversation}/fetch").json()
    assert (made.get("botId"), made["model"], made["backstory"]) == (
        None,
        "gpt-5.4",
        "You are terse.",
    )


def test_stop_ends_the_turn_closes_the_upstream_stream_and_keeps_the_partial_usage(
    world, portal, people
):
    world.sandbox.configure(tokenDelayMs=150)
    before = world.sandbox.state()["streams"]
    with logged_in(portal.url, people.support) as http:
        sent = send(http, world.a_child, LONG)
        started = time.monotonic()
        with http.stream("GET", stream_url(sent.text)) as response:
            tokens, end = 0, None
            for message in parse_sse(response.iter_lines(), started):
                if message.event == "token":
                    tokens += 1
                    if tokens == 2:
                        assert http.post(stop_url(sent.text)).status_code == 204
                if message.event == "turn-end":
                    end = message
                    break
    assert end is not None
    assert 'data-outcome="abort"' in end.data
    assert "Stopped. The reply above is what had arrived." in end.data
    assert end.at < 3.0  # long before the 40-word answer would have ended

    def upstream_aborted() -> bool:
        streams = world.sandbox.state()["streams"]
        return bool(streams["streamsAborted"] == before["streamsAborted"] + 1)

    wait_for(upstream_aborted, 3, "the upstream stream to be closed")
    completes = UsageEvent.objects.filter(
        token_id=f"web:{people.support.pk}", route__endswith="/complete"
    ).order_by("-pk")
    wait_for(lambda: completes.exists(), 3, "the stopped call's usage")
    stopped = completes.first()
    assert stopped is not None
    assert stopped.client_disconnected is True
    assert 2 <= stopped.tokens < 50


def test_a_browser_that_leaves_mid_turn_closes_the_upstream_stream(world, portal, people):
    world.sandbox.configure(tokenDelayMs=150)
    before = world.sandbox.state()["streams"]
    with logged_in(portal.url, people.support) as http:
        sent = send(http, world.a_child, LONG)
        with http.stream("GET", stream_url(sent.text)) as response:
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("event: token"):
                    break

    def upstream_aborted() -> bool:
        streams = world.sandbox.state()["streams"]
        return bool(
            streams["streamsAborted"] == before["streamsAborted"] + 1
            and streams["activeStreams"] == before["activeStreams"]
        )

    wait_for(upstream_aborted, 3, "the upstream stream to be closed")


def test_a_refused_limit_shows_the_limit_card_with_its_numbers(world, portal, people):
    tenant = limited_tenant(world, messages=2)  # one turn: the text and the reply
    with logged_in(portal.url, people.support) as http:
        first = turn(http, tenant, "one")
        second = turn(http, tenant, "two", conversation=conversation_of(first.end))

    assert 'data-outcome="result"' in first.end
    card = second.end
    assert 'class="problem-card limit-card"' in card
    assert "Limit reached: messages" in card
    assert '<dd class="limit-used">2 / 2</dd>' in card
    assert "has used its 2 messages for" in card
    assert re.search(r'<dd class="limit-reset">1 \w+ \d{4} 00:00 UTC</dd>', card)
    assert f'<dd class="limit-level">{tenant.name}</dd>' in card
    assert "Code <code>LIMITS_REACHED</code> · HTTP 429" in card
    assert second.of("token") == []
    # The meter beside it shows the limit reached.
    used = r'data-unit="messages">\s*<th scope="row">Messages</th>\s*<td class="right used">2<'
    assert re.search(used, card)


def test_a_limit_of_a_level_above_names_the_level_when_the_person_sees_it(world, portal, people):
    parent = limited_tenant(world, messages=0)
    child = limited_tenant(world, parent=parent)
    with logged_in(portal.url, people.support) as http:
        card = turn(http, child, "hello").end
    assert f'<dd class="limit-level">{parent.name}</dd>' in card
    assert '<dd class="limit-used">0 / 0</dd>' in card


def test_an_upstream_error_before_the_stream_shows_a_readable_card(world, portal, people):
    with logged_in(portal.url, people.support) as http:
        first = turn(http, world.a_child, "make the conversation")
        world.sandbox.inject_fault(
            "/v1/conversation/*/complete", "status", status=500, code="UPSTREAM_BROKE", times=1
        )
        failed = turn(http, world.a_child, "now fail", conversation=conversation_of(first.end))
    assert "The upstream answered 500" in failed.end
    assert "UPSTREAM_BROKE" in failed.end


def test_a_failure_mid_stream_keeps_the_partial_reply_and_says_so(world, portal, people):
    world.sandbox.inject_fault(
        "/v1/conversation/*/complete", "reset_mid_stream", afterTokens=3, times=1
    )
    with logged_in(portal.url, people.support) as http:
        failed = turn(http, world.a_child, LONG)
    assert len(failed.of("token")) == 3
    assert "The answer broke off" in failed.end
    assert "The reply above is what had arrived before." in failed.end


def test_an_unreachable_upstream_names_its_host(world, portal, people):
    partner = make_partner("Gone Partner")  # its upstream is 127.0.0.1:9: nothing listens
    make_member(people.support, partner, Role.SUPPORT)
    with logged_in(portal.url, people.support) as http:
        stream = turn(http, partner, "anyone there?")
    assert "The upstream at 127.0.0.1:9 did not answer" in stream.end
    assert "HTTP 502" in stream.end


def test_a_turn_runs_once_even_when_its_stream_is_opened_again(world, portal, people):
    with logged_in(portal.url, people.support) as http:
        sent = send(http, world.a_child, "once")
        url = stream_url(sent.text)
        first = read_stream(http, url)
        again = read_stream(http, url)
    assert 'data-outcome="result"' in first.end
    assert "TURN_ALREADY_RAN" in again.end
    assert again.of("token") == []


def test_nobody_else_can_open_or_stop_a_persons_turn(world, portal, people):
    with logged_in(portal.url, people.support) as http:
        sent = send(http, world.a_child, "mine")
    with logged_in(portal.url, people.tenant_owner) as other:
        assert read_stream(other, stream_url(sent.text)).status == 404
        assert other.post(stop_url(sent.text)).status_code == 404


def test_console_calls_are_metered_as_the_person_with_the_turn_as_request_id(world, portal, people):
    with logged_in(portal.url, people.tenant_owner) as http:
        sent = send(http, world.a_grandchild, "metered")
        url = stream_url(sent.text)
        read_stream(http, url)
    turn_id = url.split("/")[-3]
    events = UsageEvent.objects.filter(request_id=turn_id).order_by("pk")
    wait_for(lambda: events.count() == 2, 3, "two usage events")
    person = f"web:{people.tenant_owner.pk}"
    assert [(e.route, e.account_id, e.token_id) for e in events] == [
        ("/conversation/create", world.a_grandchild.pk, person),
        ("/conversation/{conversationId}/complete", world.a_grandchild.pk, person),
    ]


def test_who_may_send_a_turn_as_which_account(world, portal, people):
    cases = [
        (people.support, world.a_child, 200),
        (people.support, world.partner_a, 200),
        (people.tenant_owner, world.a_grandchild, 200),
        (people.tenant_owner, world.a_sibling, 404),  # outside its subtree
        (people.tenant_owner, world.partner_a, 404),
        (people.viewer, world.a_child, 403),  # sees it, may not spend its quota
        (people.b_owner, world.a_child, 404),  # another partner's tenant
    ]
    for person, account, expected in cases:
        with logged_in(portal.url, person) as http:
            assert send(http, account, "hi").status_code == expected, (person, account)
