"""Tenancy of widget keys, across two partners: a key only ever chats with its own account's bot,
and opens nothing but the widget stream."""

from __future__ import annotations

import pytest

from tenants.credentials import cache as record_cache
from tenants.models import Token
from tenants.services import AccountError, reactivate_account, suspend_account
from tenants.services.widget_keys import issue_widget_key
from tests.limits.live.helpers import limited_tenant
from tests.processes import wait_for
from tests.widget.helpers import SITE, chat, events, make_bot, session, widget_key


def _issue(account, bot_id: str):
    return issue_widget_key(account, bot_id=bot_id, origins=[SITE], actor=None)


def test_a_tenant_of_partner_a_cannot_get_a_key_for_a_bot_of_partner_b(world, bots):
    before = Token.objects.filter(kind=Token.Kind.WIDGET).count()

    with pytest.raises(AccountError, match=f"A Child has no bot {bots.b_child}"):
        _issue(world.a_child, bots.b_child)

    assert Token.objects.filter(kind=Token.Kind.WIDGET).count() == before


def test_nor_for_a_bot_of_its_sibling_or_its_parent(world, bots):
    siblings_bot = make_bot(world, world.a_sibling)
    partners_bot = make_bot(world, world.partner_a)

    for bot_id in (siblings_bot, partners_bot, "not-a-bot", "../bot"):
        with pytest.raises(AccountError):
            _issue(world.a_child, bot_id)


def test_a_key_forced_onto_another_partners_bot_still_reaches_nothing_of_it(world, client, bots):
    # Suppose the database were edited by hand: the upstream still runs the key as its own
    # account, whose child does not own that bot.
    key = widget_key(world, world.a_child, bots.a_child)
    token = Token.objects.get(kind=Token.Kind.WIDGET, last4=key[-4:])
    Token.objects.filter(pk=token.pk).update(bot_ids=[bots.b_child])
    token.refresh_from_db()
    record_cache.publish(token, revoke_cached=True)
    with world.upstream(world.parent_b, world.b_child.public_id) as upstream_b:
        before = upstream_b.get("/v1/conversation/list").json()["items"]

    def refused() -> bool:
        return chat(client, key).status_code in (403, 404)

    wait_for(refused, 1.5, "the edited key to be refused")
    response = chat(client, key)
    assert response.json() == {"error": "This chat is not available right now."}
    with world.upstream(world.parent_b, world.b_child.public_id) as upstream_b:
        assert upstream_b.get("/v1/conversation/list").json()["items"] == before


def test_each_key_chats_with_its_own_bot_even_on_the_same_session_id(world, client, bots):
    with_x = widget_key(world, world.a_child, bots.a_child)
    with_y = widget_key(world, world.a_child, bots.a_child_other)

    on_x = events(chat(client, with_x, session_id="user-123"))[0]["conversationId"]
    on_y = events(chat(client, with_y, session_id="user-123"))[0]["conversationId"]

    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        assert upstream.get(f"/v1/conversation/{on_x}/fetch").json()["botId"] == bots.a_child
        assert upstream.get(f"/v1/conversation/{on_y}/fetch").json()["botId"] == (
            bots.a_child_other
        )


def test_a_key_of_partner_b_chats_as_partner_bs_tenant(world, client, bots):
    key = widget_key(world, world.b_child, bots.b_child)

    conversation_id = events(chat(client, key))[0]["conversationId"]

    with world.upstream(world.parent_b, world.b_child.public_id) as upstream:
        assert upstream.get(f"/v1/conversation/{conversation_id}/fetch").status_code == 200
    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        assert upstream.get(f"/v1/conversation/{conversation_id}/fetch").status_code in (403, 404)


def test_a_suspended_account_has_no_chat_and_the_visitor_is_not_told_its_name(world, client):
    tenant = limited_tenant(world)
    key = widget_key(world, tenant)
    suspend_account(tenant, actor=None)
    try:
        response = chat(client, key, session_id=session())
    finally:
        reactivate_account(tenant, actor=None)

    assert response.status_code == 403
    assert response.json() == {"error": "This chat is not available right now."}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/bot/list"),
        ("POST", "/v1/conversation/complete"),
        ("GET", "/api/v1/partner/user/list"),
        ("GET", "/api/v1/portal/accounts/"),
    ],
)
def test_a_widget_key_opens_nothing_but_the_widget_stream(world, client, method, path):
    key = widget_key(world, world.a_child)

    response = client.request(
        method,
        path,
        headers={"Authorization": f"Bearer {key}"},
        json={"messages": [{"type": "user", "text": "hi"}]} if method == "POST" else None,
    )

    assert response.status_code == 401, response.text
