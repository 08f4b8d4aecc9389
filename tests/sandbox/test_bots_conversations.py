"""Bots (§8), conversations and messages (§6.1), conversation and bot sessions (§4)."""

from __future__ import annotations

from tests.sandbox.client import Api, events, read_jsonl


def test_it_creates_fetches_updates_clones_and_deletes_a_bot(api: Api) -> None:
    bot = api.ok("POST", "/bot/create", {"name": "Helper", "model": "gpt-5.4", "alias": "h"})
    fetched = api.ok("GET", f"/bot/{bot['id']}/fetch")
    assert fetched["name"] == "Helper"
    assert fetched["backstory"] is None
    api.ok("POST", f"/bot/{bot['id']}/update", {"backstory": "Be brief."})
    clone = api.ok("POST", f"/bot/{bot['id']}/clone", {})
    assert clone["id"] != bot["id"]
    copied = api.ok("GET", f"/bot/{clone['id']}/fetch")
    assert copied["backstory"] == "Be brief."
    assert copied["alias"] is None
    api.ok("POST", f"/bot/{bot['id']}/delete", {})
    assert api.get(f"/bot/{bot['id']}/fetch").json() == {
        "message": "Bot not found",
        "code": "NOT_FOUND",
    }


def test_it_validates_bot_visibility(api: Api) -> None:
    response = api.post("/bot/create", {"visibility": "secret"})
    assert response.status_code == 400
    assert response.json()["message"] == '"visibility" must be one of [private, protected, public]'


def test_it_creates_a_conversation_with_opening_messages(api: Api) -> None:
    bot = api.ok("POST", "/bot/create", {})
    created = api.ok(
        "POST",
        "/conversation/create",
        {"botId": bot["id"], "messages": [{"type": "user", "text": "hello"}]},
    )
    assert created["messages"] == [{"type": "user", "text": "hello"}]
    conversation = api.ok("GET", f"/conversation/{created['id']}/fetch")
    assert conversation["botId"] == bot["id"]
    assert conversation["expiresAt"] is None
    api.ok("POST", f"/conversation/{created['id']}/update", {"name": "renamed"})
    assert api.ok("GET", f"/conversation/{created['id']}/fetch")["name"] == "renamed"
    assert api.ok("GET", "/conversation/list", botId=bot["id"])["items"][0]["id"] == created["id"]
    api.ok("POST", f"/conversation/{created['id']}/delete", {})
    missing = api.get(f"/conversation/{created['id']}/fetch")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Conversation not found"


def test_it_refuses_a_bot_or_conversation_of_another_account(
    api: Api, other_parent_api: Api
) -> None:
    bot = other_parent_api.ok("POST", "/bot/create", {})
    conversation = other_parent_api.ok("POST", "/conversation/create", {})
    assert api.post("/conversation/create", {"botId": bot["id"]}).status_code == 403
    assert api.get(f"/conversation/{conversation['id']}/fetch").status_code == 403
    assert (
        api.post(f"/conversation/{conversation['id']}/complete", {"text": "x"}).status_code == 403
    )


def test_it_keeps_messages_in_ascending_order_by_default(api: Api) -> None:
    conversation = api.ok("POST", "/conversation/create", {})["id"]
    base = f"/conversation/{conversation}/message"
    first = api.ok("POST", f"{base}/create", {"type": "user", "text": "one"})
    second = api.ok("POST", f"{base}/create", {"type": "bot", "text": "two"})
    assert first["entities"] == []
    assert [m["text"] for m in api.ok("GET", f"{base}/list")["items"]] == ["one", "two"]
    assert [m["id"] for m in api.ok("GET", f"{base}/list", order="desc")["items"]] == [
        second["id"],
        first["id"],
    ]
    api.ok("POST", f"{base}/{first['id']}/update", {"text": "uno"})
    assert api.ok("GET", f"{base}/{first['id']}/fetch")["text"] == "uno"
    api.ok("POST", f"{base}/{first['id']}/delete", {})
    assert api.get(f"{base}/{first['id']}/fetch").status_code == 404


def test_it_validates_message_types(api: Api) -> None:
    conversation = api.ok("POST", "/conversation/create", {})["id"]
    response = api.post(
        f"/conversation/{conversation}/message/create", {"type": "robot", "text": "x"}
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith('"type" must be one of [user, bot')


def test_a_conversation_session_may_complete_only_its_conversation(api: Api) -> None:
    conversation = api.ok("POST", "/conversation/create", {})["id"]
    other = api.ok("POST", "/conversation/create", {})["id"]
    session = api.ok("POST", f"/conversation/{conversation}/session/create", {})
    assert session["id"] == conversation
    end_user = Api(api.client, session["token"])
    assert end_user.ok("POST", f"/conversation/{conversation}/complete", {"text": "hi"})["text"]
    assert end_user.post(f"/conversation/{other}/complete", {"text": "hi"}).status_code == 401
    assert end_user.get("/conversation/list").status_code == 401
    # The server's allow-list has no message/list, whatever the manual says.
    assert end_user.get(f"/conversation/{conversation}/message/list").status_code == 401


def test_it_bounds_conversation_session_durations(api: Api) -> None:
    conversation = api.ok("POST", "/conversation/create", {})["id"]
    short = api.post(f"/conversation/{conversation}/session/create", {"durationInSeconds": 60})
    assert short.status_code == 400
    assert short.json()["message"] == '"durationInSeconds" must be greater than or equal to 1800'
    long = api.post(f"/conversation/{conversation}/session/create", {"durationInSeconds": 90000})
    assert long.json()["message"] == '"durationInSeconds" must be less than or equal to 86400'


def test_a_public_bot_session_needs_no_credentials(api: Api) -> None:
    public = api.ok("POST", "/bot/create", {"visibility": "public"})["id"]
    response = api.client.post(
        f"/v1/bot/{public}/session/create",
        json={"messages": [{"type": "user", "text": "hi"}]},
    )
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["id"] == public
    assert session["messages"] == [{"type": "user", "text": "hi"}]
    end_user = Api(api.client, session["token"])
    with end_user.stream(f"/conversation/{session['conversationId']}/complete", {}) as stream:
        assert events(read_jsonl(stream))[-1]["type"] == "result"
    owner_view = api.ok("GET", f"/conversation/{session['conversationId']}/fetch")
    assert owner_view["botId"] == public


def test_a_private_bot_session_needs_the_owners_credentials(
    api: Api, other_parent_api: Api
) -> None:
    private = api.ok("POST", "/bot/create", {})["id"]
    anonymous = api.client.post(f"/v1/bot/{private}/session/create", json={})
    assert anonymous.status_code == 401
    assert other_parent_api.post(f"/bot/{private}/session/create", {}).status_code == 403
    assert api.ok("POST", f"/bot/{private}/session/create", {})["conversationId"]
