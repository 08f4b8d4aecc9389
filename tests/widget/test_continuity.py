"""Sessions: the same sessionId continues the same upstream conversation (the bot has the earlier
turns), a new one starts another, and a conversation that expired or vanished is replaced."""

from __future__ import annotations

import time

from django.test import override_settings

from tests.widget.helpers import chat, events, session, widget_key


def _turn(client, key: str, message: str, session_id: str) -> tuple[str, str]:
    response = chat(client, key, message, session_id=session_id)
    assert response.status_code == 200, response.text
    lines = events(response)
    assert lines[0]["conversationId"] == lines[-1]["conversationId"]
    return lines[0]["conversationId"], lines[-1]["message"]


def _history(world, account, conversation_id: str) -> list[tuple[str, str]]:
    with world.upstream(world.parent_a, account.public_id) as upstream:
        response = upstream.get(f"/v1/conversation/{conversation_id}/message/list")
    response.raise_for_status()
    return [(item["type"], item["text"]) for item in response.json()["items"]]


def test_the_same_session_continues_one_conversation_with_its_bot(world, client, bots):
    key = widget_key(world, world.a_child, bots.a_child)
    session_id = session()

    first, first_reply = _turn(client, key, "My name is Ada.", session_id)
    second, second_reply = _turn(client, key, "What is my name?", session_id)

    assert first == second
    # The upstream holds both turns, in order, in the one conversation: the bot sees them all.
    assert _history(world, world.a_child, first) == [
        ("user", "My name is Ada."),
        ("bot", first_reply),
        ("user", "What is my name?"),
        ("bot", second_reply),
    ]
    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        conversation = upstream.get(f"/v1/conversation/{first}/fetch").json()
    assert conversation["botId"] == bots.a_child


def test_a_new_session_starts_a_new_conversation(world, client):
    key = widget_key(world, world.a_child)

    one, _ = _turn(client, key, "hello", session())
    other, _ = _turn(client, key, "hello", session())

    assert one != other


def test_sessions_are_per_key(world, client, bots):
    # Two keys (two sites) whose visitors happen to pick the same sessionId never share.
    first_key = widget_key(world, world.a_child, bots.a_child)
    second_key = widget_key(world, world.a_child, bots.a_child)

    one, _ = _turn(client, first_key, "hello", "user-123")
    other, _ = _turn(client, second_key, "hello", "user-123")

    assert one != other


def test_a_conversation_gone_upstream_is_replaced_and_the_message_still_answered(world, client):
    key = widget_key(world, world.a_child)
    session_id = session()
    gone, _ = _turn(client, key, "remember this", session_id)
    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        upstream.post(f"/v1/conversation/{gone}/delete", json={}).raise_for_status()

    replaced, reply = _turn(client, key, "are you there?", session_id)
    then, _ = _turn(client, key, "and now?", session_id)

    assert replaced != gone
    assert "are you there?" in reply
    assert then == replaced  # the session continues the new conversation from now on
    assert [kind for kind, _ in _history(world, world.a_child, replaced)] == [
        "user",
        "bot",
        "user",
        "bot",
    ]


def test_a_session_silent_past_the_expiry_starts_over(world, client):
    key = widget_key(world, world.a_child)
    session_id = session()
    # 3 s: the database cache keeps expiries to the whole second (rounded down).
    with override_settings(WIDGET_CONVERSATION_TTL_SECONDS=3):
        first, _ = _turn(client, key, "hello", session_id)
        kept, _ = _turn(client, key, "still here", session_id)  # renews the 3 s
        time.sleep(3.1)
        later, _ = _turn(client, key, "back again", session_id)

    assert kept == first
    assert later != first


def test_a_stored_conversation_id_of_another_shape_starts_a_new_conversation(world, client):
    # The id goes into the next call's path; a store holding something else (written by an
    # older version, or by anyone with access to the store) must not steer that path.
    from asgiref.sync import async_to_sync

    from tenants.credentials.format import parse
    from tenants.widget import conversations

    key = widget_key(world, world.a_child)
    session_id = session()
    first, _ = _turn(client, key, "hello", session_id)
    token_id = parse(key).token_id
    async_to_sync(conversations.replace)(token_id, session_id, "../../bot/list")

    second, reply = _turn(client, key, "still there?", session_id)

    assert second != first
    assert second != "../../bot/list"
    assert "still there?" in reply
