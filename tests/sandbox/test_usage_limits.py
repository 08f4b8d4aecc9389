"""Usage (UPSTREAM.md §5) and per-child limits: 429 LIMITS_REACHED with the upstream's words."""

from __future__ import annotations

from tests.sandbox.client import Api

HELLO = {"messages": [{"type": "user", "text": "Count me"}]}


def test_it_reports_usage_for_the_caller_or_the_run_as_child(api: Api, child_api: Api) -> None:
    result = child_api.ok("POST", "/conversation/complete", HELLO)
    child_api.ok("POST", "/conversation/create", {})
    usage = child_api.ok("GET", "/usage/fetch")
    assert usage["tokens"] == result["usage"]["token"]
    assert usage["messages"] == 1
    assert usage["conversations"] == 1
    assert set(usage["database"]) == {
        "datasets",
        "records",
        "skillsets",
        "abilities",
        "files",
        "users",
    }
    parent_usage = api.ok("GET", "/usage/fetch")
    assert parent_usage["tokens"] == 0
    assert parent_usage["database"]["users"] == 1


def test_it_reports_ninety_daily_points_per_series(child_api: Api) -> None:
    result = child_api.ok("POST", "/conversation/complete", HELLO)
    series = child_api.ok("GET", "/usage/series/fetch")
    assert set(series) == {"tokens", "conversations", "messages"}
    assert len(series["tokens"]) == 90
    assert all(point["date"] % 86_400_000 == 0 for point in series["tokens"])
    assert series["tokens"][-1]["total"] == result["usage"]["token"]
    assert sum(point["total"] for point in series["tokens"][:-1]) == 0


def test_it_reports_usage_per_bot_and_per_conversation(child_api: Api) -> None:
    bot = child_api.ok("POST", "/bot/create", {})["id"]
    conversation = child_api.ok("POST", "/conversation/create", {"botId": bot})["id"]
    result = child_api.ok("POST", f"/conversation/{conversation}/complete", {"text": "hi"})
    assert child_api.ok("GET", f"/conversation/{conversation}/usage/fetch") == {
        "tokens": result["usage"]["token"],
        "messages": 2,
    }
    assert child_api.ok("GET", f"/bot/{bot}/usage/fetch")["conversations"] == 1


def assert_limited(response, resource: str) -> None:
    assert response.status_code == 429
    assert response.headers["x-failure-code"] == "LIMITS_REACHED"
    assert response.json() == {
        "message": f"You have exceeded your allocated account limits: {resource}",
        "code": "LIMITS_REACHED",
    }


def test_it_enforces_a_childs_message_allowance(api: Api) -> None:
    child = api.ok("POST", "/partner/user/create", {"limits": {"messages": 1}})["id"]
    as_child = api.as_child(child)
    as_child.ok("POST", "/conversation/complete", HELLO)
    assert_limited(as_child.post("/conversation/complete", HELLO), "message")
    # The limit fails before any stream starts, so a streaming client sees a plain 429 too.
    streamed = as_child.post("/conversation/complete", HELLO, Accept="application/jsonl")
    assert_limited(streamed, "message")
    # Raising the allowance lets the child continue.
    api.ok("POST", f"/partner/user/{child}/update", {"limits": {"messages": 5}})
    as_child.ok("POST", "/conversation/complete", HELLO)


def test_it_enforces_a_childs_token_allowance(api: Api) -> None:
    child = api.ok("POST", "/partner/user/create", {"limits": {"tokens": 5}})["id"]
    as_child = api.as_child(child)
    as_child.ok("POST", "/conversation/complete", HELLO)  # starts under the allowance
    assert_limited(as_child.post("/conversation/complete", HELLO), "token")


def test_it_enforces_a_childs_conversation_allowance(api: Api) -> None:
    child = api.ok("POST", "/partner/user/create", {"limits": {"conversations": 1}})["id"]
    as_child = api.as_child(child)
    as_child.ok("POST", "/conversation/create", {})
    assert_limited(as_child.post("/conversation/create", {}), "conversation")


def test_it_enforces_a_childs_bot_database_limit(api: Api) -> None:
    child = api.ok("POST", "/partner/user/create", {"limits": {"database": {"bots": 1}}})["id"]
    as_child = api.as_child(child)
    as_child.ok("POST", "/bot/create", {})
    response = as_child.post("/bot/create", {})
    assert response.status_code == 429
    assert response.json()["message"] == (
        "You have exceeded your allocated database limits: database/bot"
    )


def test_the_parent_has_no_child_limits(api: Api) -> None:
    api.ok("POST", "/partner/user/create", {"limits": {"messages": 0}})
    api.ok("POST", "/conversation/complete", HELLO)
    api.ok("POST", "/conversation/complete", HELLO)
