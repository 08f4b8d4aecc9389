"""The partner API's users, field by field against UPSTREAM.md §3.1, and its tenancy rules."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tenants import crypto
from tenants.models import Account

pytestmark = pytest.mark.django_db

USER_KEYS = {
    "id",
    "createdAt",
    "updatedAt",
    "name",
    "description",
    "meta",
    "image",
    "email",
    "limits",
}


def post(client, path: str, body: object, **headers: str):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def upstream_child(partner: Account, child_id: str) -> httpx.Response:
    secret = crypto.decrypt(partner.upstream_secret_encrypted)
    return httpx.get(
        f"{partner.upstream_base_url}/v1/partner/user/{child_id}/fetch",
        headers={"Authorization": f"Bearer {secret}"},
    )


@pytest.mark.parametrize(
    "prefix", ["/v1/partner/user", "/api/v1/partner/user", "/v1/user", "/api/v1/user"]
)
def test_it_creates_a_tenant_with_an_upstream_child_under_every_prefix(client, partners, prefix):
    response = post(
        client,
        f"{prefix}/create",
        {"name": "New Co", "email": "new@co.example", "meta": {"plan": "gold"}, "alias": "newco"},
        **partners.auth("a"),
    )
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"id"}
    tenant = Account.objects.get(public_id=response.json()["id"])
    assert tenant.parent == partners.a
    assert tenant.slug == "newco"
    upstream = upstream_child(partners.a, tenant.public_id)
    assert upstream.status_code == 200
    assert upstream.json()["email"] == "new@co.example"


def test_the_sdks_token_scheme_works_too(client, partners):
    response = client.get("/api/v1/partner/user/list", **partners.auth("a", scheme="Token"))
    assert response.status_code == 200


def test_fetch_returns_the_upstream_user_shape(client, partners):
    response = client.get(f"/v1/partner/user/{partners.a1.public_id}/fetch", **partners.auth("a"))
    assert response.status_code == 200
    user = response.json()
    assert set(user) == USER_KEYS
    assert user["id"] == partners.a1.public_id
    assert user["name"] == "A One"
    assert user["email"] == "one@a.example"
    assert user["description"] is None
    assert user["image"] is None
    assert isinstance(user["createdAt"], int)
    assert abs(user["createdAt"] / 1000 - time.time()) < 600


def test_fetch_accepts_the_alias(client, partners):
    response = client.get(f"/v1/partner/user/{partners.a1.slug}/fetch", **partners.auth("a"))
    assert response.json()["id"] == partners.a1.public_id


def test_update_merges_meta_and_pushes_limits_upstream(client, partners):
    path = f"/v1/partner/user/{partners.a2.public_id}/update"
    assert post(client, path, {"meta": {"x": 1}}, **partners.auth("a")).status_code == 200
    response = post(
        client, path, {"meta": {"y": 2}, "limits": {"messages": 10}}, **partners.auth("a")
    )
    assert response.json() == {"id": partners.a2.public_id}
    partners.a2.refresh_from_db()
    assert partners.a2.meta["x"] == 1
    assert partners.a2.meta["y"] == 2
    assert partners.a2.limits == {"messages": 10}
    assert upstream_child(partners.a, partners.a2.public_id).json()["limits"] == {"messages": 10}


def test_delete_closes_the_tenant_and_its_upstream_child_but_keeps_the_record(client, partners):
    child_id = partners.a2.public_id
    response = post(client, f"/v1/partner/user/{child_id}/delete", {}, **partners.auth("a"))
    assert response.json() == {"id": child_id}
    assert Account.objects.get(pk=partners.a2.pk).status == Account.Status.CLOSED
    assert upstream_child(partners.a, child_id).status_code == 404
    again = client.get(f"/v1/partner/user/{child_id}/fetch", **partners.auth("a"))
    assert again.status_code == 404


def test_a_tenant_token_makes_sub_tenants_under_its_own_account(client, partners):
    response = post(client, "/v1/partner/user/create", {"name": "Deep"}, **partners.auth("a1"))
    assert response.status_code == 200
    assert Account.objects.get(public_id=response.json()["id"]).parent == partners.a1


@pytest.mark.parametrize(
    ("caller", "target"),
    [("b", "a1"), ("b1", "a1"), ("a1", "a2"), ("a1", "a"), ("a2", "a1a"), ("a1", "a1")],
)
def test_it_answers_not_yours_exactly_like_missing(client, partners, caller, target):
    account = getattr(partners, target)
    for path in (
        f"/v1/partner/user/{account.public_id}/fetch",
        f"/v1/partner/user/{account.public_id}/token/list",
    ):
        response = client.get(path, **partners.auth(caller))
        assert response.status_code == 404
        assert response.json() == {"message": "Not found", "code": "NOT_FOUND"}
    missing = client.get("/v1/partner/user/nope/fetch", **partners.auth(caller))
    assert missing.json() == {"message": "Not found", "code": "NOT_FOUND"}
    for action in ("update", "delete"):
        response = post(
            client, f"/v1/partner/user/{account.public_id}/{action}", {}, **partners.auth(caller)
        )
        assert response.status_code == 404
    assert Account.objects.get(pk=account.pk).status == Account.Status.ACTIVE


def test_a_partner_reaches_its_grandchildren(client, partners):
    path = f"/v1/partner/user/{partners.a1a.public_id}/fetch"
    assert client.get(path, **partners.auth("a")).status_code == 200


def test_run_as_a_descendant_lists_its_children(client, partners):
    for header in ("HTTP_X_RUNAS_USER_ID", "HTTP_X_RUNAS_USERID"):
        response = client.get(
            "/v1/partner/user/list", **partners.auth("a"), **{header: partners.a1.public_id}
        )
        assert [user["id"] for user in response.json()["items"]] == [partners.a1a.public_id]
    by_email = client.get(
        "/v1/partner/user/list",
        **partners.auth("a"),
        HTTP_X_RUNAS_CHILD_USER_EMAIL="one@a.example",
    )
    assert [user["id"] for user in by_email.json()["items"]] == [partners.a1a.public_id]


@pytest.mark.parametrize(
    ("caller", "target"), [("a", "b1"), ("a1", "a2"), ("a1", "a"), ("b", "a1")]
)
def test_run_as_outside_the_tokens_subtree_is_refused_as_the_upstream_refuses(
    client, partners, caller, target
):
    response = client.get(
        "/v1/partner/user/list",
        **partners.auth(caller),
        HTTP_X_RUNAS_USER_ID=getattr(partners, target).public_id,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_a_token_without_the_scope_is_not_authorized(client, partners):
    response = post(
        client, "/v1/partner/user/create", {"name": "X"}, **partners.auth("a_list_only")
    )
    assert response.status_code == 403
    assert response.json()["code"] == "NOT_AUTHORIZED"
    assert response["X-Failure-Code"] == "NOT_AUTHORIZED"
    assert client.get("/v1/partner/user/list", **partners.auth("a_list_only")).status_code == 200


def test_a_suspended_account_is_refused_with_a_clear_message(client, partners):
    partners.a1.status = Account.Status.SUSPENDED
    partners.a1.save(update_fields=["status"])
    response = client.get("/v1/partner/user/list", **partners.auth("a1"))
    assert response.status_code == 403
    assert "A One is suspended" in response.json()["message"]
    # A suspended parent blocks the sub-tenant's own token too.
    response = client.get(
        "/v1/partner/user/list", **partners.auth("a"), HTTP_X_RUNAS_USER_ID=partners.a1a.public_id
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 401),
        ({"HTTP_AUTHORIZATION": "Bearer ppk_garbled"}, 401),
        ({"HTTP_AUTHORIZATION": "Basic x"}, 401),
    ],
)
def test_missing_or_garbled_credentials_are_not_authenticated(client, partners, headers, code):
    response = client.get("/v1/partner/user/list", **headers)
    assert response.status_code == code
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_bad_input_is_refused_in_the_upstreams_words_and_leaves_nothing(client, partners):
    before = Account.objects.count()
    auth = partners.auth("a")
    cases = [
        (
            client.post(
                "/v1/partner/user/create", data="name=x", content_type="text/plain", **auth
            ),
            400,
        ),
        (
            client.post(
                "/v1/partner/user/create", data="{", content_type="application/json", **auth
            ),
            400,
        ),
        (
            client.post(
                "/v1/partner/user/create", data="[]", content_type="application/json", **auth
            ),
            400,
        ),
        (post(client, "/v1/partner/user/create", {"name": "x", "foo": 1}, **auth), 400),
        (post(client, "/v1/partner/user/create", {"name": 5}, **auth), 400),
        (post(client, "/v1/partner/user/create", {"email": "not-an-email"}, **auth), 400),
        (post(client, "/v1/partner/user/create", {"limits": {"messages": -1}}, **auth), 400),
        (post(client, "/v1/partner/user/create", {"image": "javascript:alert(1)"}, **auth), 400),
        (client.get("/v1/partner/user/create", **auth), 405),
        (post(client, "/v1/partner/user/list", {}, **auth), 405),
        (client.get("/v1/partner/user/list?order=sideways", **auth), 400),
        (client.get("/v1/partner/user/whatever/else", **auth), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.content
        assert set(response.json()) == {"message", "code"}
    unknown = post(client, "/v1/partner/user/create", {"name": "x", "foo": 1}, **auth)
    assert unknown.json()["message"] == '"foo" is not allowed'
    assert Account.objects.count() == before


def test_head_and_options_answer_like_the_upstream(client):
    assert client.head("/v1/partner/user/list").status_code == 200
    assert client.options("/v1/partner/user/list").json() == {}


def test_a_duplicate_email_under_one_parent_conflicts(client, partners):
    response = post(
        client, "/v1/partner/user/create", {"email": "one@a.example"}, **partners.auth("a")
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_an_upstream_failure_leaves_no_tenant_and_says_why(client, partners, sandbox):
    before = Account.objects.count()
    sandbox.inject_fault(
        "/v1/partner/user/create", "status", status=503, code="SERVICE_UNAVAILABLE"
    )
    try:
        response = post(client, "/v1/partner/user/create", {"name": "Down"}, **partners.auth("a"))
    finally:
        sandbox.clear_faults()
    assert response.status_code == 502
    assert set(response.json()) == {"message", "code"}
    assert Account.objects.count() == before


def test_no_response_ever_carries_the_upstream_secret(client, partners):
    secret = crypto.decrypt(partners.a.upstream_secret_encrypted)
    responses = [
        client.get("/v1/partner/user/list", **partners.auth("a")),
        client.get(f"/v1/partner/user/{partners.a1.public_id}/fetch", **partners.auth("a")),
        post(client, "/v1/partner/user/create", {"name": "Z"}, **partners.auth("a")),
    ]
    for response in responses:
        assert secret not in response.content.decode()
