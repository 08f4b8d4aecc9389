"""List endpoints (UPSTREAM.md §9): cursor pages, take, order, meta filters and JSONL paging."""

from __future__ import annotations

import json

from tests.sandbox.client import Api


def make_bots(api: Api, count: int, **fields: object) -> list[str]:
    return [
        api.ok("POST", "/bot/create", {"name": f"bot {i}", **fields})["id"] for i in range(count)
    ]


def test_it_walks_pages_with_the_cursor_until_an_empty_page(api: Api) -> None:
    made = make_bots(api, 7)
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        params = {"take": 3, "order": "asc", **({"cursor": cursor} if cursor else {})}
        page = api.ok("GET", "/bot/list", **params)
        if not page["items"]:
            assert page == {"items": []}  # no cursor key at all
            break
        sizes.append(len(page["items"]))
        seen += [item["id"] for item in page["items"]]
        assert page["cursor"] == page["items"][-1]["id"]
        cursor = page["cursor"]
    assert sizes == [3, 3, 1]
    assert seen == made


def test_it_orders_newest_first_by_default(api: Api) -> None:
    made = make_bots(api, 3)
    assert [b["id"] for b in api.ok("GET", "/bot/list")["items"]] == made[::-1]
    assert [b["id"] for b in api.ok("GET", "/bot/list", order="asc")["items"]] == made
    assert api.get("/bot/list", order="sideways").status_code == 400


def test_it_clamps_take_to_one_through_a_hundred(api: Api) -> None:
    make_bots(api, 101)
    for take, expected in [("1000", 100), ("0", 100), ("nope", 100), ("-5", 1), ("7", 7)]:
        assert len(api.ok("GET", "/bot/list", take=take)["items"]) == expected, take


def test_it_filters_on_meta_in_both_query_spellings(api: Api) -> None:
    gold = api.ok("POST", "/bot/create", {"meta": {"tier": "gold", "live": True}})["id"]
    api.ok("POST", "/bot/create", {"meta": {"tier": "silver", "live": False}})
    assert [b["id"] for b in api.ok("GET", "/bot/list", **{"meta.tier": "gold"})["items"]] == [gold]
    assert [b["id"] for b in api.ok("GET", "/bot/list", **{"meta[tier]": "gold"})["items"]] == [
        gold
    ]
    assert [b["id"] for b in api.ok("GET", "/bot/list", **{"meta[live]": "true"})["items"]] == [
        gold
    ]


def jsonl_list(api: Api, path: str, **params: str | int) -> bytes:
    headers = {**api.headers, "Accept": "application/jsonl"}
    response = api.client.get(f"/v1{path}", params=params, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonl")
    return response.content


def test_it_pages_through_everything_itself_for_jsonl(api: Api) -> None:
    made = make_bots(api, 150)
    body = jsonl_list(api, "/bot/list", order="asc")
    assert body.endswith(b"\n")
    lines = [json.loads(line) for line in body.split(b"\n")[:-1]]
    assert all(line["type"] == "item" for line in lines)
    assert [line["data"]["id"] for line in lines] == made  # no closing result line
    assert len(jsonl_list(api, "/bot/list", take=5).split(b"\n")[:-1]) == 5


def test_it_answers_an_empty_jsonl_list_with_an_empty_body(api: Api) -> None:
    assert jsonl_list(api, "/bot/list") == b""


def test_it_lists_partner_users_and_messages_as_jsonl_too(api: Api, child: str) -> None:
    users = jsonl_list(api, "/partner/user/list").split(b"\n")[:-1]
    assert [json.loads(line)["data"]["id"] for line in users] == [child]
    conversation = api.ok(
        "POST", "/conversation/create", {"messages": [{"type": "user", "text": "a"}]}
    )["id"]
    messages = jsonl_list(api, f"/conversation/{conversation}/message/list").split(b"\n")[:-1]
    assert json.loads(messages[0])["data"]["text"] == "a"
