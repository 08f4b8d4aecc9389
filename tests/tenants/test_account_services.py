"""Account services against the live sandbox upstream: onboarding, updates, status, closing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tenants import audit, crypto
from tenants.models import Account, AuditEvent
from tenants.services import (
    AccountError,
    close_account,
    onboard_tenant,
    reactivate_account,
    rotate_upstream_secret,
    suspend_account,
    update_account,
)
from tests.factories import make_partner, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner(sandbox, sandbox_parent):
    return make_partner("Live Partner", upstream_url=sandbox.url, secret=sandbox_parent.secret)


def upstream(sandbox, parent, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {parent.secret}"}
    return httpx.request(method, f"{sandbox.url}{path}", headers=headers, timeout=10, **kwargs)


def children_by_ref(sandbox, parent, ref: str) -> list[dict[str, Any]]:
    response = upstream(
        sandbox, parent, "GET", "/v1/partner/user/list", params={"meta.portalRef": ref}
    )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# -- onboarding --------------------------------------------------------------------------------


def test_onboarding_creates_the_upstream_child_first_and_links_it(sandbox, sandbox_parent, partner):
    owner = make_user("owner")
    tenant = onboard_tenant(
        parent=partner,
        name="Acme",
        email="Ops@Acme.example",
        meta={"plan": "gold"},
        limits={"tokens": 1000, "portalRate": 5},
        actor=owner,
    )
    child = upstream(sandbox, sandbox_parent, "GET", f"/v1/partner/user/{tenant.public_id}/fetch")
    assert child.status_code == 200
    body = child.json()
    assert body["name"] == "Acme"
    assert body["email"] == "ops@acme.example"
    assert body["meta"] == {"plan": "gold", "portalRef": f"{partner.public_id}/acme"}
    assert body["limits"] == {"tokens": 1000}  # portal-only limits stay in the portal
    assert (tenant.parent, tenant.path) == (partner, f"{partner.path}{tenant.pk}/")
    assert tenant.limits == {"tokens": 1000, "portalRate": 5}
    event = AuditEvent.objects.get(account=tenant)
    assert event.action == "account.onboarded"
    assert event.actor == owner
    assert event.changes["name"] == {"before": None, "after": "Acme"}


def test_a_sub_tenant_is_another_child_of_the_same_upstream_parent(
    sandbox, sandbox_parent, partner
):
    tenant = onboard_tenant(parent=partner, name="Reseller")
    sub = onboard_tenant(parent=tenant, name="Reseller's customer")
    assert sub.path == f"{tenant.path}{sub.pk}/"
    fetched = upstream(sandbox, sandbox_parent, "GET", f"/v1/partner/user/{sub.public_id}/fetch")
    assert fetched.status_code == 200


def test_a_retry_after_a_local_failure_finds_the_same_upstream_child(
    sandbox, sandbox_parent, partner, monkeypatch
):
    real_record = audit.record

    def broken_record(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(audit, "record", broken_record)
    with pytest.raises(RuntimeError):
        onboard_tenant(parent=partner, name="Retry Co", email="retry@co.example")
    assert not Account.objects.filter(parent=partner).exists()
    assert len(children_by_ref(sandbox, sandbox_parent, f"{partner.public_id}/retry-co")) == 1

    monkeypatch.setattr(audit, "record", real_record)
    tenant = onboard_tenant(parent=partner, name="Retry Co", email="retry@co.example")
    children = children_by_ref(sandbox, sandbox_parent, f"{partner.public_id}/retry-co")
    assert [child["id"] for child in children] == [tenant.public_id]


@pytest.mark.parametrize("status", [500, 503])
def test_an_upstream_error_leaves_no_local_rows_and_says_why(sandbox, partner, status):
    sandbox.inject_fault(
        "/v1/partner/user/create", "status", status=status, message="Boom upstream"
    )
    before = (Account.objects.count(), AuditEvent.objects.count())
    with pytest.raises(AccountError) as error:
        onboard_tenant(parent=partner, name="Unlucky")
    assert "create the tenant's upstream account" in error.value.message
    assert (Account.objects.count(), AuditEvent.objects.count()) == before


def test_an_upstream_that_is_too_slow_leaves_no_local_rows(sandbox, partner, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.3
    sandbox.inject_fault("/v1/partner/user/list", "latency", ms=3000)
    before = (Account.objects.count(), AuditEvent.objects.count())
    with pytest.raises(AccountError) as error:
        onboard_tenant(parent=partner, name="Slowpoke")
    assert error.value.code == "GATEWAY_TIMEOUT"
    assert "Try again" in error.value.message
    assert (Account.objects.count(), AuditEvent.objects.count()) == before


def test_an_unreachable_upstream_leaves_no_local_rows():
    partner = make_partner()  # points at a closed port
    with pytest.raises(AccountError) as error:
        onboard_tenant(parent=partner, name="Nowhere")
    assert error.value.code == "BAD_GATEWAY"
    assert not Account.objects.filter(parent=partner).exists()


def test_a_duplicate_email_under_the_same_parent_is_a_conflict(partner):
    onboard_tenant(parent=partner, name="First", email="same@twins.example")
    with pytest.raises(AccountError) as error:
        onboard_tenant(parent=partner, name="Second", email="SAME@twins.example")
    assert error.value.code == "CONFLICT"
    assert not Account.objects.filter(name="Second").exists()


def test_an_email_the_upstream_already_holds_is_a_conflict_too(sandbox, sandbox_parent, partner):
    sandbox.create_child(sandbox_parent, "Made elsewhere", email="taken@elsewhere.example")
    with pytest.raises(AccountError) as error:
        onboard_tenant(parent=partner, name="Latecomer", email="taken@elsewhere.example")
    assert error.value.code == "CONFLICT"
    assert not Account.objects.filter(name="Latecomer").exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "  "},
        {"email": "not-an-email"},
        {"timezone": "Mars/Olympus"},
        {"timezone": "../../etc/passwd"},
        {"limits": {"tokens": -1}},
        {"limits": {"tokens": "many"}},
    ],
)
def test_bad_input_is_refused_before_anything_is_made(partner, bad):
    arguments = {"parent": partner, "name": "Valid", **bad}
    with pytest.raises(AccountError):
        onboard_tenant(**arguments)
    assert not Account.objects.filter(parent=partner).exists()


def test_no_tenant_can_be_onboarded_under_a_suspended_parent(partner):
    suspend_account(partner, actor=None)
    with pytest.raises(AccountError):
        onboard_tenant(parent=partner, name="Blocked")


# -- updates -----------------------------------------------------------------------------------


def test_an_update_merges_meta_and_pushes_the_profile_upstream(sandbox, sandbox_parent, partner):
    tenant = onboard_tenant(parent=partner, name="Before", meta={"plan": "gold", "region": "eu"})
    update_account(
        tenant,
        actor=None,
        name="After",
        email="new@after.example",
        timezone="Europe/London",
        meta={"plan": "platinum", "region": None},
        limits={"messages": 10},
    )
    tenant.refresh_from_db()
    assert tenant.meta == {"plan": "platinum"}
    assert tenant.timezone == "Europe/London"
    child = upstream(sandbox, sandbox_parent, "GET", f"/v1/partner/user/{tenant.public_id}/fetch")
    body = child.json()
    assert (body["name"], body["email"], body["limits"]) == (
        "After",
        "new@after.example",
        {"messages": 10},
    )
    assert body["meta"]["plan"] == "platinum"
    event = AuditEvent.objects.filter(account=tenant, action="account.updated").get()
    assert set(event.changes) == {"name", "email", "timezone", "meta", "limits"}
    assert event.changes["name"] == {"before": "Before", "after": "After"}


def test_an_update_that_changes_nothing_writes_nothing(partner):
    tenant = onboard_tenant(parent=partner, name="Same")
    update_account(tenant, actor=None, name="Same")
    assert not AuditEvent.objects.filter(account=tenant, action="account.updated").exists()


def test_a_failed_upstream_update_changes_nothing_locally(sandbox, partner):
    tenant = onboard_tenant(parent=partner, name="Stable")
    sandbox.inject_fault("/v1/partner/user/*/update", "status", status=500)
    with pytest.raises(AccountError):
        update_account(tenant, actor=None, name="Changed")
    tenant.refresh_from_db()
    assert tenant.name == "Stable"


def test_a_partner_update_stays_local():
    partner = make_partner("Local")  # unreachable upstream: any call would fail
    update_account(partner, actor=None, name="Renamed", timezone="Asia/Tokyo")
    partner.refresh_from_db()
    assert (partner.name, partner.timezone) == ("Renamed", "Asia/Tokyo")


# -- status ------------------------------------------------------------------------------------


def test_suspend_and_reactivate_record_one_event_each_and_are_idempotent(partner):
    tenant = onboard_tenant(parent=partner, name="Sleepy")
    suspend_account(tenant, actor=None, reason="unpaid invoice")
    suspend_account(tenant, actor=None)
    assert tenant.status == Account.Status.SUSPENDED
    reactivate_account(tenant, actor=None)
    assert Account.objects.get(pk=tenant.pk).status == Account.Status.ACTIVE
    actions = list(
        AuditEvent.objects.filter(account=tenant).order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["account.onboarded", "account.suspended", "account.reactivated"]
    suspended = AuditEvent.objects.get(account=tenant, action="account.suspended")
    assert suspended.changes["reason"] == "unpaid invoice"


# -- closing -----------------------------------------------------------------------------------


def test_closing_needs_the_slug_typed_as_confirmation(partner):
    tenant = onboard_tenant(parent=partner, name="Careful")
    with pytest.raises(AccountError):
        close_account(tenant, confirmation="yes", actor=None)
    assert Account.objects.get(pk=tenant.pk).status == Account.Status.ACTIVE


def test_closing_a_parent_deletes_the_subtree_upstream_and_keeps_local_history(
    sandbox, sandbox_parent, partner
):
    tenant = onboard_tenant(parent=partner, name="Parent Co")
    sub = onboard_tenant(parent=tenant, name="Child Co")
    sibling = onboard_tenant(parent=partner, name="Sibling Co")
    close_account(tenant, confirmation="parent-co", actor=make_user("closer"))

    for gone in (tenant, sub):
        path = f"/v1/partner/user/{gone.public_id}/fetch"
        assert upstream(sandbox, sandbox_parent, "GET", path).status_code == 404
        gone.refresh_from_db()
        assert gone.status == Account.Status.CLOSED
        assert gone.closed_at is not None
        actions = set(AuditEvent.objects.filter(account=gone).values_list("action", flat=True))
        assert actions == {"account.onboarded", "account.closed"}
    path = f"/v1/partner/user/{sibling.public_id}/fetch"
    assert upstream(sandbox, sandbox_parent, "GET", path).status_code == 200
    assert Account.objects.get(pk=sibling.pk).status == Account.Status.ACTIVE
    with pytest.raises(AccountError):
        update_account(tenant, actor=None, name="Zombie")


def test_a_close_that_fails_half_way_closes_what_is_gone_and_a_retry_finishes(
    sandbox, sandbox_parent, partner
):
    tenant = onboard_tenant(parent=partner, name="Halfway")
    sub = onboard_tenant(parent=tenant, name="Halfway Sub")
    sandbox.inject_fault(f"/v1/partner/user/{tenant.public_id}/delete", "status", status=500)
    with pytest.raises(AccountError) as error:
        close_account(tenant, confirmation="halfway", actor=None)
    assert "1 of 2" in error.value.message
    assert Account.objects.get(pk=sub.pk).status == Account.Status.CLOSED
    assert Account.objects.get(pk=tenant.pk).status == Account.Status.ACTIVE

    sandbox.clear_faults()
    close_account(tenant, confirmation="halfway", actor=None)
    assert Account.objects.get(pk=tenant.pk).status == Account.Status.CLOSED
    path = f"/v1/partner/user/{tenant.public_id}/fetch"
    assert upstream(sandbox, sandbox_parent, "GET", path).status_code == 404


# -- the upstream secret -----------------------------------------------------------------------


def test_rotating_the_secret_checks_it_upstream_then_stores_it_encrypted(
    sandbox, sandbox_parent, partner
):
    onboard_tenant(parent=partner, name="Existing")
    new_secret = "sk-rotated" + "0123456789abcdef"
    sandbox._control("parent/create", {"id": sandbox_parent.id, "secret": new_secret})
    rotate_upstream_secret(partner, new_secret=new_secret, actor=None)
    partner.refresh_from_db()
    assert crypto.decrypt(partner.upstream_secret_encrypted) == new_secret
    assert partner.upstream_secret_display == "sk-…cdef"
    event = AuditEvent.objects.get(account=partner, action="account.upstream_secret_rotated")
    assert event.changes["upstream_credential"]["after"] == "sk-…cdef"


def test_a_secret_the_upstream_refuses_is_not_stored(partner):
    stored = partner.upstream_secret_encrypted
    with pytest.raises(AccountError) as error:
        rotate_upstream_secret(partner, new_secret="sk-wrong-secret-000000", actor=None)
    assert error.value.code == "NOT_AUTHENTICATED"
    partner.refresh_from_db()
    assert partner.upstream_secret_encrypted == stored


def test_a_secret_of_another_upstream_parent_is_not_stored(sandbox, partner):
    onboard_tenant(parent=partner, name="Mine")
    other = sandbox.create_parent("Someone else")
    with pytest.raises(AccountError):
        rotate_upstream_secret(partner, new_secret=other.secret, actor=None)
    partner.refresh_from_db()
    assert crypto.decrypt(partner.upstream_secret_encrypted) != other.secret


def test_only_a_partner_has_a_secret_to_rotate(partner):
    tenant = onboard_tenant(parent=partner, name="Tenant")
    with pytest.raises(AccountError):
        rotate_upstream_secret(tenant, new_secret="sk-whatever-12345678", actor=None)


# -- secrets never reach the audit log ---------------------------------------------------------


def test_no_secret_reaches_any_audit_payload(sandbox, sandbox_parent, partner):
    tenant = onboard_tenant(
        parent=partner, name="Leaky", meta={"apiSecret": "sk-leak-in-meta-0000000", "note": "x"}
    )
    update_account(tenant, actor=None, meta={"token": "sk-another-leak-000000"})
    new_secret = "sk-fresh" + "fedcba9876543210"
    sandbox._control("parent/create", {"id": sandbox_parent.id, "secret": new_secret})
    rotate_upstream_secret(partner, new_secret=new_secret, actor=None)
    close_account(tenant, confirmation="leaky", actor=None)

    partner.refresh_from_db()
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    for secret in (
        sandbox_parent.secret,
        new_secret,
        partner.upstream_secret_encrypted,
        "sk-leak-in-meta-0000000",
        "sk-another-leak-000000",
    ):
        assert secret not in dumped
    assert AuditEvent.objects.filter(account__in=[partner, tenant]).count() >= 5
