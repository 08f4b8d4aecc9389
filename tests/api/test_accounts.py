"""Accounts over the management API: each endpoint for each persona, and what it changes."""

from __future__ import annotations

import pytest

from tenants.models import Account, AuditEvent
from tests.api.conftest import PERSONAS, PREFIX, client_for, error_of, row_counts

pytestmark = pytest.mark.django_db

A_TREE = ("partner_a", "a_child", "a_grandchild", "a_sibling")
ALL = (*A_TREE, "partner_b", "b_child")
REACH = {
    "a_owner": A_TREE,
    "a_admin": A_TREE,
    "a_support": A_TREE,
    "a_viewer": A_TREE,
    "tenant_user": ("a_child", "a_grandchild"),
    "b_owner": ("partner_b", "b_child"),
    "outsider": (),
    "staff": ALL,
}
# What a write on a_sibling (A's tenant, outside the tenant user's subtree) answers.
WRITE_ON_A_SIBLING = {
    "a_owner": 200,
    "a_admin": 200,
    "a_support": 403,
    "a_viewer": 403,
    "tenant_user": 404,
    "b_owner": 404,
    "outsider": 404,
    "staff": 200,
    "anonymous": 401,
}
ERROR_CODES = {401: "NOT_AUTHENTICATED", 403: "NOT_AUTHORIZED", 404: "NOT_FOUND"}


def ids(world, names) -> set[str]:
    return {getattr(world, name).public_id for name in names}


def assert_refused(response, status: int) -> None:
    assert error_of(response) == (status, ERROR_CODES[status])


# -- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", REACH)
def test_the_list_is_exactly_the_accounts_the_persona_reaches(world, persona):
    response = client_for(world, persona).get(f"{PREFIX}/accounts/")
    assert response.status_code == 200
    assert {item["id"] for item in response.json()["results"]} == ids(world, REACH[persona])


def test_the_list_refuses_an_anonymous_caller_with_401(world):
    response = client_for(world, "anonymous").get(f"{PREFIX}/accounts/")
    assert_refused(response, 401)
    assert response["WWW-Authenticate"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", ALL)
def test_fetching_an_account_works_in_reach_and_is_404_elsewhere(world, persona, name):
    account = getattr(world, name)
    response = client_for(world, persona).get(f"{PREFIX}/accounts/{account.public_id}/")
    if persona == "anonymous":
        assert_refused(response, 401)
    elif name in REACH[persona]:
        assert response.status_code == 200
        assert response.json()["id"] == account.public_id
    else:
        assert_refused(response, 404)


def test_a_missing_account_and_another_partners_account_get_the_same_answer(world):
    client = client_for(world, "b_owner")
    missing = client.get(f"{PREFIX}/accounts/usr_does_not_exist/")
    not_yours = client.get(f"{PREFIX}/accounts/{world.a_child.public_id}/")
    assert missing.status_code == not_yours.status_code == 404
    assert missing.json() == not_yours.json()


def test_an_account_is_found_by_slug_the_shallowest_first(world):
    response = client_for(world, "a_owner").get(f"{PREFIX}/accounts/shared-slug/")
    assert response.json()["id"] == world.a_child.public_id
    response = client_for(world, "b_owner").get(f"{PREFIX}/accounts/shared-slug/")
    assert response.json()["id"] == world.b_child.public_id
    response = client_for(world, "staff").get(f"{PREFIX}/accounts/{world.partner_a.slug}/")
    assert response.json()["id"] == world.partner_a.public_id


def test_an_account_reads_as_documented_and_a_partner_shows_only_the_secrets_last4(world):
    body = client_for(world, "a_viewer").get(f"{PREFIX}/accounts/{world.partner_a.public_id}/")
    data = body.json()
    assert set(data) == {
        "id",
        "slug",
        "name",
        "email",
        "status",
        "parent",
        "is_partner",
        "timezone",
        "meta",
        "limits",
        "upstream",
        "created_at",
        "updated_at",
        "closed_at",
    }
    assert data["parent"] is None
    assert data["is_partner"] is True
    assert data["upstream"]["credential"] == f"sk-…{world.partner_a.upstream_secret_last4}"
    child = client_for(world, "a_viewer").get(f"{PREFIX}/accounts/{world.a_child.public_id}/")
    assert child.json()["parent"] == world.partner_a.public_id
    assert child.json()["upstream"] is None


def test_the_list_filters_by_search_status_and_parent(world):
    client = client_for(world, "a_owner")
    Account.objects.filter(pk=world.a_sibling.pk).update(status=Account.Status.SUSPENDED)

    def listed(query: str) -> set[str]:
        response = client.get(f"{PREFIX}/accounts/?{query}")
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["results"]}

    assert listed("search=grandchild") == ids(world, ["a_grandchild"])
    assert listed(f"search={world.a_child.public_id}") == ids(world, ["a_child"])
    assert listed("status=suspended") == ids(world, ["a_sibling"])
    assert listed(f"parent={world.partner_a.public_id}") == ids(world, ["a_child", "a_sibling"])
    assert listed("parent=shared-slug") == ids(world, ["a_grandchild"])


def test_a_parent_filter_outside_the_callers_reach_is_404_and_a_bad_status_is_400(world):
    client = client_for(world, "a_owner")
    assert_refused(client.get(f"{PREFIX}/accounts/?parent={world.partner_b.public_id}"), 404)
    assert error_of(client.get(f"{PREFIX}/accounts/?status=sleepy")) == (400, "BAD_REQUEST")
    assert "status" in client.get(f"{PREFIX}/accounts/?status=sleepy").json()["message"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_subtree_lists_every_depth_below_an_account_in_reach(world, persona):
    response = client_for(world, persona).get(
        f"{PREFIX}/accounts/{world.a_child.public_id}/subtree/"
    )
    if persona == "anonymous":
        assert_refused(response, 401)
    elif "a_child" in REACH.get(persona, ()):
        assert {item["id"] for item in response.json()["results"]} == ids(world, ["a_grandchild"])
    else:
        assert_refused(response, 404)


def test_the_subtree_applies_the_list_filters_to_the_rows_not_to_the_account(world):
    client = client_for(world, "a_owner")
    url = f"{PREFIX}/accounts/{world.partner_a.public_id}/subtree/?status=active&search=child"
    response = client.get(url)
    assert {item["id"] for item in response.json()["results"]} == ids(
        world, ["a_child", "a_grandchild"]
    )


# -- status changes without the upstream ------------------------------------------------------


@pytest.mark.parametrize(("persona", "status"), WRITE_ON_A_SIBLING.items())
def test_suspending_needs_the_admin_role_in_reach(world, persona, status):
    before = AuditEvent.objects.count()
    response = client_for(world, persona).post(
        f"{PREFIX}/accounts/{world.a_sibling.public_id}/suspend/", {"reason": "unpaid"}
    )
    world.a_sibling.refresh_from_db()
    if status == 200:
        assert response.json()["status"] == "suspended"
        assert world.a_sibling.status == "suspended"
        event = AuditEvent.objects.get(account=world.a_sibling, action="account.suspended")
        assert event.changes["reason"] == "unpaid"
    else:
        assert_refused(response, status)
        assert world.a_sibling.status == "active"
        assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(("persona", "status"), WRITE_ON_A_SIBLING.items())
def test_reactivating_needs_the_admin_role_in_reach(world, persona, status):
    Account.objects.filter(pk=world.a_sibling.pk).update(status=Account.Status.SUSPENDED)
    response = client_for(world, persona).post(
        f"{PREFIX}/accounts/{world.a_sibling.public_id}/reactivate/"
    )
    world.a_sibling.refresh_from_db()
    if status == 200:
        assert response.json()["status"] == "active"
    else:
        assert_refused(response, status)
        assert world.a_sibling.status == "suspended"


def test_a_tenant_user_administers_its_own_subtree(world):
    client = client_for(world, "tenant_user")
    response = client.post(f"{PREFIX}/accounts/{world.a_grandchild.public_id}/suspend/")
    assert response.json()["status"] == "suspended"


def test_the_audit_row_of_an_api_change_carries_the_request_id_and_ip(world):
    client = client_for(world, "a_admin")
    client.post(
        f"{PREFIX}/accounts/{world.a_sibling.public_id}/suspend/",
        HTTP_X_REQUEST_ID="req-123",
        REMOTE_ADDR="203.0.113.9",
    )
    event = AuditEvent.objects.get(account=world.a_sibling, action="account.suspended")
    assert (event.actor, event.request_id, event.ip) == (world.a_admin, "req-123", "203.0.113.9")


def test_a_closed_account_cannot_be_suspended_409(world):
    Account.objects.filter(pk=world.a_sibling.pk).update(status=Account.Status.CLOSED)
    response = client_for(world, "a_owner").post(
        f"{PREFIX}/accounts/{world.a_sibling.public_id}/suspend/"
    )
    assert error_of(response) == (409, "CONFLICT")


# -- onboarding, updates and closing against the live sandbox ---------------------------------

CREATE_UNDER_PARTNER_A = {
    "a_owner": 201,
    "a_admin": 201,
    "a_support": 403,
    "a_viewer": 403,
    "tenant_user": 404,
    "b_owner": 404,
    "outsider": 404,
    "staff": 201,
    "anonymous": 401,
}


@pytest.mark.parametrize(("persona", "status"), CREATE_UNDER_PARTNER_A.items())
def test_onboarding_under_a_partner_needs_its_admin_role(live, sandbox, persona, status):
    world = live.world
    before = row_counts()
    response = client_for(world, persona).post(
        f"{PREFIX}/accounts/",
        {
            "parent": world.partner_a.public_id,
            "name": f"Made by {persona}",
            "email": f"{persona}@made.example",
            "meta": {"plan": "gold"},
            "limits": {"tokens": 5000},
        },
    )
    if status == 201:
        body = response.json()
        assert response.status_code == 201
        tenant = Account.objects.get(public_id=body["id"])
        assert (tenant.parent, tenant.name, tenant.limits) == (
            world.partner_a,
            f"Made by {persona}",
            {"tokens": 5000},
        )
        assert body["parent"] == world.partner_a.public_id
        fetched = sandbox._client.get(
            f"/v1/partner/user/{body['id']}/fetch",
            headers={"Authorization": f"Bearer {live.secret}"},
        )
        assert fetched.status_code == 200
        assert fetched.json()["meta"]["plan"] == "gold"
    else:
        assert_refused(response, status)
        assert row_counts() == before


def test_a_tenant_user_onboards_under_its_own_account(live):
    world = live.world
    response = client_for(world, "tenant_user").post(
        f"{PREFIX}/accounts/", {"parent": world.a_child.public_id, "name": "Sub of child"}
    )
    assert response.status_code == 201
    assert Account.objects.get(public_id=response.json()["id"]).parent == world.a_child


def test_an_upstream_failure_while_onboarding_is_502_and_leaves_no_rows(live, sandbox):
    world = live.world
    sandbox.inject_fault(
        "/v1/partner/user/create", "status", status=503, code="SERVICE_UNAVAILABLE"
    )
    before = row_counts()
    try:
        response = client_for(world, "a_owner").post(
            f"{PREFIX}/accounts/", {"parent": world.partner_a.public_id, "name": "Unlucky"}
        )
    finally:
        sandbox.clear_faults()
    assert error_of(response) == (502, "BAD_GATEWAY")
    assert "create the tenant's upstream account" in response.json()["message"]
    assert live.secret not in response.content.decode()
    assert row_counts() == before
    retry = client_for(world, "a_owner").post(
        f"{PREFIX}/accounts/", {"parent": world.partner_a.public_id, "name": "Unlucky"}
    )
    assert retry.status_code == 201


def test_a_slow_upstream_is_504_and_leaves_no_rows(live, sandbox, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.3
    sandbox.inject_fault("/v1/partner/user/list", "latency", ms=3000)
    before = row_counts()
    response = client_for(live.world, "a_owner").post(
        f"{PREFIX}/accounts/", {"parent": live.world.partner_a.public_id, "name": "Slowpoke"}
    )
    sandbox.clear_faults()
    assert error_of(response) == (504, "GATEWAY_TIMEOUT")
    assert row_counts() == before


def test_a_duplicate_email_under_one_parent_is_409_and_leaves_no_rows(live):
    before = row_counts()
    response = client_for(live.world, "a_owner").post(
        f"{PREFIX}/accounts/",
        {"parent": live.world.partner_a.public_id, "name": "Twin", "email": "live@tenant.example"},
    )
    assert error_of(response) == (409, "CONFLICT")
    assert row_counts() == before


@pytest.mark.parametrize(("persona", "status"), WRITE_ON_A_SIBLING.items())
def test_updating_a_tenant_needs_the_admin_role_and_pushes_upstream(live, sandbox, persona, status):
    tenant = live.tenant
    response = client_for(live.world, persona).patch(
        f"{PREFIX}/accounts/{tenant.public_id}/",
        {"name": "Renamed", "meta": {"tier": "2"}, "limits": {"tokens": 7}},
    )
    tenant.refresh_from_db()
    if status == 200:
        assert response.json()["name"] == "Renamed"
        assert (tenant.name, tenant.meta["tier"], tenant.limits) == ("Renamed", "2", {"tokens": 7})
        fetched = sandbox._client.get(
            f"/v1/partner/user/{tenant.public_id}/fetch",
            headers={"Authorization": f"Bearer {live.secret}"},
        )
        assert fetched.json()["name"] == "Renamed"
    else:
        assert_refused(response, status)
        assert tenant.name == "Live Tenant"


def test_a_tenant_user_updates_a_tenant_in_its_subtree(live):
    response = client_for(live.world, "tenant_user").patch(
        f"{PREFIX}/accounts/{live.sub.public_id}/", {"timezone": "Europe/Paris"}
    )
    assert response.json()["timezone"] == "Europe/Paris"


def test_put_is_not_offered_405(world):
    response = client_for(world, "a_owner").put(
        f"{PREFIX}/accounts/{world.a_child.public_id}/", {"name": "X"}
    )
    assert error_of(response) == (405, "METHOD_NOT_ALLOWED")


CLOSE_A_TENANT = {
    "a_owner": 200,
    "a_admin": 403,
    "a_support": 403,
    "a_viewer": 403,
    "tenant_user": 404,
    "b_owner": 404,
    "outsider": 404,
    "staff": 200,
    "anonymous": 401,
}


@pytest.mark.parametrize(("persona", "status"), CLOSE_A_TENANT.items())
def test_closing_needs_the_owner_role_and_deletes_upstream(live, sandbox, persona, status):
    tenant = live.tenant
    response = client_for(live.world, persona).post(
        f"{PREFIX}/accounts/{tenant.public_id}/close/", {"confirm": tenant.slug}
    )
    tenant.refresh_from_db()
    fetched = sandbox._client.get(
        f"/v1/partner/user/{tenant.public_id}/fetch",
        headers={"Authorization": f"Bearer {live.secret}"},
    )
    if status == 200:
        assert response.json()["status"] == "closed"
        assert tenant.status == "closed"
        assert fetched.status_code == 404
    else:
        assert_refused(response, status)
        assert tenant.status == "active"
        assert fetched.status_code == 200


def test_closing_without_the_typed_slug_is_400_and_changes_nothing(live):
    tenant = live.tenant
    client = client_for(live.world, "a_owner")
    for body in ({}, {"confirm": "not-the-slug"}):
        response = client.post(f"{PREFIX}/accounts/{tenant.public_id}/close/", body)
        assert error_of(response) == (400, "BAD_REQUEST")
        assert "confirm" in response.json()["message"] or tenant.slug in response.json()["message"]
    tenant.refresh_from_db()
    assert tenant.status == "active"


def test_a_tenant_user_closes_a_tenant_of_its_own_subtree(live):
    response = client_for(live.world, "tenant_user").post(
        f"{PREFIX}/accounts/{live.sub.public_id}/close/", {"confirm": live.sub.slug}
    )
    assert response.json()["status"] == "closed"


def test_no_upstream_secret_appears_in_any_response(live):
    client = client_for(live.world, "staff")
    responses = [
        client.get(f"{PREFIX}/accounts/"),
        client.get(f"{PREFIX}/accounts/{live.world.partner_a.public_id}/"),
        client.get(f"{PREFIX}/audit-events/"),
        client.post(
            f"{PREFIX}/accounts/", {"parent": live.world.partner_a.public_id, "name": "Seen"}
        ),
        client.patch(f"{PREFIX}/accounts/{live.world.partner_a.public_id}/", {"name": "A2"}),
    ]
    for response in responses:
        assert response.status_code < 300
        assert live.secret not in response.content.decode()
        assert live.secret[3:] not in response.content.decode()
