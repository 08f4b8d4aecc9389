"""Partner API lists (UPSTREAM.md §9), tokens (§3.2) and sessions (§3.3)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import cast

import pytest
from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse
from django.test import AsyncClient

from tenants.credentials import CredentialError, authenticate_sync, record_allows_route
from tenants.models import AuditEvent, Token
from tenants.services import onboard_tenant

pytestmark = pytest.mark.django_db


def post(client, path: str, body: object, **headers: str):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def five(partners):
    made = [
        onboard_tenant(
            parent=partners.b,
            name=f"Five {n}",
            email=f"f{n}@b.example",
            meta={"n": n, "even": n % 2 == 0},
        )
        for n in range(5)
    ]
    return [partners.b1, *made]  # in creation order


def test_a_cursor_walk_visits_every_child_once_newest_first(client, partners, five):
    seen, cursor = [], ""
    while True:
        response = client.get(f"/v1/partner/user/list?take=2&cursor={cursor}", **partners.auth("b"))
        body = response.json()
        seen += [user["id"] for user in body["items"]]
        if len(body["items"]) < 2:
            break
        cursor = body["cursor"]
        assert cursor == body["items"][-1]["id"]
    assert seen == [a.public_id for a in reversed(five)]


def test_ascending_order_and_the_take_clamp(client, partners, five):
    body = client.get("/v1/partner/user/list?order=asc&take=500", **partners.auth("b")).json()
    assert [user["id"] for user in body["items"]] == [a.public_id for a in five]
    assert client.get("/v1/partner/user/list?take=abc", **partners.auth("b")).status_code == 200


def test_an_empty_page_has_no_cursor(client, partners):
    body = client.get("/v1/partner/user/list", **partners.auth("a1a")).json()
    assert body == {"items": []}


def test_email_and_meta_filters_in_both_spellings(client, partners, five):
    by_email = client.get("/v1/partner/user/list?email=f3@b.example", **partners.auth("b")).json()
    assert [user["email"] for user in by_email["items"]] == ["f3@b.example"]
    for spelling in ("meta.even=true", "meta[even]=true"):
        body = client.get(f"/v1/partner/user/list?{spelling}", **partners.auth("b")).json()
        assert sorted(user["meta"]["n"] for user in body["items"]) == [0, 2, 4]


def test_jsonl_walks_every_page_one_item_per_line(partners, five):
    async def fetch(query: str) -> tuple[int, str, bytes]:
        response = await AsyncClient().get(
            f"/v1/partner/user/list{query}",
            headers={
                "Authorization": f"Bearer {partners.tokens['b']}",
                "Accept": "application/jsonl",
            },
        )
        # The test client's response type hides that this one streams.
        # The partner API streams JSONL from an async iterator (tenants/partner_api/lists.py).
        content = cast(
            AsyncIterator[bytes], cast(StreamingHttpResponse, response).streaming_content
        )
        chunks = [chunk async for chunk in content]
        return response.status_code, response["Content-Type"], b"".join(chunks)

    status, content_type, raw = async_to_sync(fetch)("")
    assert status == 200
    assert content_type == "application/jsonl"
    lines = raw.decode().split("\n")
    assert lines[-1] == ""  # newline-terminated, and no blank line anywhere else
    items = [json.loads(line) for line in lines[:-1]]
    assert {item["type"] for item in items} == {"item"}
    assert [item["data"]["id"] for item in items] == [a.public_id for a in reversed(five)]
    _, _, limited = async_to_sync(fetch)("?take=2")
    assert len(limited.decode().splitlines()) == 2


def test_a_tenant_token_is_a_portal_token_that_acts_as_the_tenant(client, partners):
    path = f"/v1/partner/user/{partners.a1.public_id}/token/create"
    response = post(
        client,
        path,
        {"name": "ci", "description": "for CI", "meta": {"k": "v"}},
        **partners.auth("a"),
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "token", "createdAt"}
    assert body["token"].startswith("ppk_")
    assert not body["token"].startswith("sk-")
    record = authenticate_sync(body["token"])
    assert record.account_id == partners.a1.pk
    # Shown once: the list never carries the value, and the audit log never saw it.
    listed = client.get(
        f"/v1/partner/user/{partners.a1.public_id}/token/list", **partners.auth("a")
    ).json()
    # Newest first: the one just made, then the fixture's own token of this tenant.
    assert next(t["id"] for t in listed["items"]) == body["id"]
    assert len(listed["items"]) == 2
    assert listed["items"][0]["meta"] == {"k": "v"}
    assert set(listed["items"][0]) == {
        "id",
        "name",
        "description",
        "meta",
        "createdAt",
        "updatedAt",
    }
    assert body["token"] not in json.dumps(listed)
    assert body["token"] not in json.dumps(list(AuditEvent.objects.values("changes")))


def test_token_update_and_delete(client, partners):
    base = f"/v1/partner/user/{partners.a1.public_id}/token"
    created = post(client, f"{base}/create", {}, **partners.auth("a")).json()
    updated = post(
        client, f"{base}/{created['id']}/update", {"name": "renamed"}, **partners.auth("a")
    )
    assert updated.json() == {"id": created["id"]}
    assert Token.objects.get(token_id=created["id"]).name == "renamed"
    deleted = post(client, f"{base}/{created['id']}/delete", {}, **partners.auth("a"))
    assert deleted.json() == {"id": created["id"]}
    with pytest.raises(CredentialError):
        authenticate_sync(created["token"])
    again = post(client, f"{base}/{created['id']}/delete", {}, **partners.auth("a"))
    assert again.status_code == 404


def test_another_tenants_token_id_is_not_found(client, partners):
    created = post(
        client, f"/v1/partner/user/{partners.a2.public_id}/token/create", {}, **partners.auth("a")
    ).json()
    wrong_owner = f"/v1/partner/user/{partners.a1.public_id}/token/{created['id']}/delete"
    assert post(client, wrong_owner, {}, **partners.auth("a")).status_code == 404
    authenticate_sync(created["token"])  # still valid


def test_a_session_lasts_fifteen_minutes_by_default_and_keeps_to_its_routes(client, partners):
    path = f"/v1/partner/user/{partners.a1.public_id}/session/create"
    before = time.time() * 1000
    body = post(
        client, path, {"config": {"allowedRoutes": ["/api/v1/bot/**"]}}, **partners.auth("a")
    ).json()
    assert set(body) == {"id", "token", "expiresAt"}
    assert before + 899_000 <= body["expiresAt"] <= time.time() * 1000 + 901_000
    record = authenticate_sync(body["token"])
    assert record.account_id == partners.a1.pk
    assert record_allows_route(record, "/v1/bot/list")
    assert not record_allows_route(record, "/v1/conversation/list")
    short = post(client, path, {"durationInSeconds": 60}, **partners.auth("a")).json()
    assert short["expiresAt"] <= time.time() * 1000 + 61_000


@pytest.mark.parametrize(
    "body",
    [
        {"durationInSeconds": 0},
        {"durationInSeconds": "60"},
        {"config": {"allowedRoutes": "x"}},
        {"config": {"foo": 1}},
        {"bar": 1},
    ],
)
def test_bad_session_requests_are_refused(client, partners, body):
    path = f"/v1/partner/user/{partners.a1.public_id}/session/create"
    response = post(client, path, body, **partners.auth("a"))
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"


def test_a_session_token_cannot_use_run_as_nor_routes_outside_its_list(client, partners):
    path = f"/v1/partner/user/{partners.a1.public_id}/session/create"
    body = post(
        client, path, {"config": {"allowedRoutes": ["/api/v1/bot/**"]}}, **partners.auth("a")
    ).json()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['token']}"}
    assert client.get("/v1/partner/user/list", **auth).status_code == 401
    open_session = post(client, path, {}, **partners.auth("a")).json()
    response = client.get(
        "/v1/partner/user/list",
        HTTP_AUTHORIZATION=f"Bearer {open_session['token']}",
        HTTP_X_RUNAS_USER_ID=partners.a1a.public_id,
    )
    assert response.status_code == 401


def test_contexts_are_kept_upstream_on_the_child(client, partners):
    base = f"/v1/partner/user/{partners.a1.public_id}/context"
    created = post(
        client, f"{base}/create", {"name": "ctx", "payload": {"a": 1}}, **partners.auth("a")
    )
    assert created.status_code == 200, created.content
    context_id = created.json()["id"]
    fetched = client.get(f"{base}/{context_id}/fetch", **partners.auth("a")).json()
    assert fetched["name"] == "ctx"
    listed = client.get(f"{base}/list", **partners.auth("a")).json()
    assert [c["id"] for c in listed["items"]] == [context_id]
    assert post(client, f"{base}/{context_id}/delete", {}, **partners.auth("a")).json() == {
        "id": context_id
    }
    # Another partner cannot reach them.
    assert client.get(f"{base}/list", **partners.auth("b")).status_code == 404
