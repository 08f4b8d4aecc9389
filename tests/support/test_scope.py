"""While acting as a tenant: the tenant's subtree and nothing else, read-only unless changes are
allowed, enforced by tenants.access for pages, the management API (session) and services alike;
a portal token is not affected by a browser's support session."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404

from tenants import access, audit
from tenants.access import ReadOnlySupportSession
from tenants.credentials import clear_local_cache
from tenants.models import Account, AuditEvent, Invitation, Role, Token
from tenants.services import AccountError, invite_member, issue_token
from tests.support.conftest import HTMX, acting_user, logged_in

pytestmark = pytest.mark.django_db

PREFIX = "/api/v1/portal"


def names(accounts) -> set[str]:
    return {account.name for account in accounts}


# -- tenants.access while acting -----------------------------------------------------------------


def test_acting_reaches_the_tenants_subtree_only(world):
    support = acting_user(world.a_support, world.a_child)
    assert names(access.accounts_for(support)) == {"A Child", "A Grandchild"}
    with pytest.raises(Http404):
        access.get_account_for(support, world.a_sibling.public_id)
    with pytest.raises(Http404):
        access.get_account_for(support, world.partner_a.public_id)
    assert access.role_on(support, world.partner_a) is None
    assert names(access.top_accounts_for(support)) == {"A Child"}


def test_read_only_acting_has_the_tenants_support_role(world):
    support = acting_user(world.a_support, world.a_child)
    assert access.role_on(support, world.a_child) == Role.SUPPORT
    assert access.role_on(support, world.a_grandchild) == Role.SUPPORT
    assert names(access.accounts_for(support, min_role=Role.SUPPORT)) == {"A Child", "A Grandchild"}
    assert not access.accounts_for(support, min_role=Role.ADMIN).exists()
    assert access.own_roles(support) == {world.a_child.pk: Role.SUPPORT}
    with pytest.raises(ReadOnlySupportSession, match="read-only"):
        access.require_role(support, world.a_child, Role.ADMIN)
    assert access.require_role(support, world.a_child, Role.VIEWER) == Role.SUPPORT


def test_acting_with_changes_has_the_tenant_admins_hands_and_never_an_owners(world):
    owner = acting_user(world.a_owner, world.a_child, allow_changes=True)
    assert access.role_on(owner, world.a_grandchild) == Role.ADMIN
    assert names(access.accounts_for(owner, min_role=Role.ADMIN)) == {"A Child", "A Grandchild"}
    assert access.require_role(owner, world.a_child, Role.ADMIN) == Role.ADMIN
    # Closing needs the owner role: not even a partner owner closes a tenant while acting as it.
    with pytest.raises(PermissionDenied) as refused:
        access.require_role(owner, world.a_child, Role.OWNER)
    assert not isinstance(refused.value, ReadOnlySupportSession)


def test_staff_acting_as_a_tenant_are_no_operators(world):
    staff = acting_user(world.staff, world.b_child)
    assert not access.is_operator(staff)
    assert names(access.accounts_for(staff)) == {"B Child"}
    assert access.role_on(staff, world.partner_b) is None


def test_memberships_invitations_tokens_and_audit_follow_the_tenant(world):
    invite_member(world.a_sibling, email="s@x.example", role=Role.VIEWER, actor=None)
    invite_member(world.a_grandchild, email="g@x.example", role=Role.VIEWER, actor=None)
    issue_token(world.a_sibling, name="sibling", scopes=["*"], actor=None)
    admin = acting_user(world.a_admin, world.a_child, allow_changes=True)
    assert {m.account for m in access.memberships_for(admin)} == {world.a_child}
    assert {i.email for i in access.invitations_for(admin)} == {"g@x.example"}
    assert not access.tokens_for(admin).exists()
    assert set(access.audit_events_for(admin).values_list("account__name", flat=True)) <= {
        "A Child",
        "A Grandchild",
    }


def test_services_checking_roles_refuse_a_read_only_session(world):
    support = acting_user(world.a_support, world.a_child)
    with pytest.raises(AccountError, match="admin"):
        invite_member(world.a_child, email="new@x.example", role=Role.VIEWER, actor=support)
    assert not Invitation.objects.exists()


def test_a_change_that_slips_past_the_role_checks_is_refused_when_written(world):
    # issue_token leaves "who may" to its callers; the audit write refuses the read-only actor,
    # and the transaction takes the token with it.
    support = acting_user(world.a_support, world.a_child)
    with pytest.raises(ReadOnlySupportSession):
        issue_token(world.a_child, name="sneaky", scopes=["*"], actor=support)
    assert not Token.objects.exists()
    with pytest.raises(ReadOnlySupportSession), transaction.atomic():
        audit.record("account.updated", actor=support, account=world.a_child)


def test_changes_made_while_acting_carry_the_sessions_correlation_id(world):
    admin = acting_user(world.a_admin, world.a_child, allow_changes=True)
    acting = access.acting_as(admin)
    assert acting is not None
    correlation_id = acting.correlation_id
    issued = issue_token(world.a_grandchild, name="for support", scopes=["*"], actor=admin)
    event = AuditEvent.objects.get(action="token.issued")
    assert (event.correlation_id, event.actor_id) == (correlation_id, world.a_admin.pk)
    assert issued.token.created_by == world.a_admin


# -- pages ---------------------------------------------------------------------------------------


def test_the_pages_show_the_tenant_and_nothing_around_it(world, acting_client):
    client = acting_client("a_support", world.a_child)
    tenants = client.get("/tenants/").content.decode()
    assert "A Grandchild" in tenants
    assert "A Sibling" not in tenants
    assert "B Child" not in tenants
    assert client.get(f"/accounts/{world.a_child.public_id}/").status_code == 200
    for outside in (world.a_sibling, world.partner_a, world.b_child):
        assert client.get(f"/accounts/{outside.public_id}/").status_code == 404
    # The crumbs do not name the partner above.
    assert "Partner A" not in client.get(f"/accounts/{world.a_child.public_id}/").content.decode()


def test_read_only_pages_hide_changes_and_refuse_them(world, acting_client):
    client = acting_client("a_admin", world.a_child)
    child = world.a_child.public_id
    page = client.get(f"/accounts/{child}/").content.decode()
    assert f"/accounts/{child}/edit/" not in page
    assert "Suspend…" not in page
    before = world.a_child.timezone
    edit = client.post(f"/accounts/{child}/edit/", {"name": "X", "timezone": "Europe/Paris"})
    assert edit.status_code == 403
    assert "read-only" in edit.content.decode()
    world.a_child.refresh_from_db()
    assert world.a_child.timezone == before


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/accounts/{child}/tokens/new/", {}),
        ("post", "/accounts/{child}/tokens/new/", {"name": "x", "scopes": ["*"]}),
        ("post", "/accounts/{child}/suspend/", {"reason": "x"}),
        ("get", "/accounts/{child}/close/", {}),
        ("post", "/accounts/{child}/members/", {"email": "n@x.example", "role": "viewer"}),
        ("post", "/accounts/{child}/webhooks/new/", {"url": "http://127.0.0.1:9/h"}),
        ("get", "/tenants/new/?parent={child}", {}),
    ],
)
def test_read_only_refuses_token_creation_status_changes_people_and_onboarding(
    world, acting_client, method, path, data
):
    client = acting_client("staff", world.a_child)
    counts = (Token.objects.count(), Invitation.objects.count())
    response = getattr(client, method)(path.format(child=world.a_child.public_id), data)
    assert response.status_code == 403
    assert "read-only" in response.content.decode()
    assert (Token.objects.count(), Invitation.objects.count()) == counts
    world.a_child.refresh_from_db()
    assert world.a_child.status == Account.Status.ACTIVE


def test_allowing_changes_lets_the_person_change_what_the_tenants_admins_may(world, acting_client):
    client = acting_client("a_admin", world.a_child, allow_changes=True)
    child = world.a_child.public_id
    response = client.post(
        f"/accounts/{child}/edit/",
        {"name": world.a_child.name, "email": "", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 303
    world.a_child.refresh_from_db()
    assert world.a_child.timezone == "Europe/Paris"
    event = AuditEvent.objects.get(action="account.updated")
    assert event.correlation_id == client.support_session.correlation_id
    assert event.actor == world.a_admin
    # ...but not close it: that is the owner's, and acting never lends more than an admin's.
    assert client.get(f"/accounts/{child}/close/").status_code == 403


def test_staff_acting_as_a_tenant_cannot_use_the_operators_admin(world, acting_client):
    client = acting_client("staff", world.a_child, allow_changes=True)
    response = client.get("/admin/")
    assert response.status_code == 403
    assert "stop the support session" in response.content.decode()
    page = client.get("/").content.decode()
    assert "badge-staff" not in page
    assert "Partner B" not in page


def test_an_invitation_is_not_accepted_while_acting(world, acting_client):
    _, token = invite_member(
        world.a_sibling, email=world.a_support.email, role=Role.ADMIN, actor=None
    )
    client = acting_client("a_support", world.a_child)
    response = client.post(f"/invitations/{token}/", {"action": "accept"})
    assert response.status_code == 403
    assert not world.a_support.memberships.filter(account=world.a_sibling).exists()


def test_nested_acting_is_refused_by_the_start_page(world, acting_client):
    client = acting_client("a_owner", world.a_child)
    grandchild = world.a_grandchild.public_id
    response = client.get(f"/accounts/{grandchild}/support/start/")
    assert response.status_code == 403
    assert "do not nest" in response.content.decode()
    posted = client.post(f"/accounts/{grandchild}/support/start/", {"reason": "x", "minutes": 5})
    assert posted.status_code == 403
    assert "Act as" not in client.get(f"/accounts/{grandchild}/").content.decode()


# -- the management API --------------------------------------------------------------------------


def test_the_management_api_with_the_browser_session_acts_as_the_tenant(world, acting_client):
    client = acting_client("a_owner", world.a_child)
    listed = client.get(f"{PREFIX}/accounts/")
    assert listed.status_code == 200
    assert {item["name"] for item in listed.json()["results"]} == {"A Child", "A Grandchild"}
    assert client.get(f"{PREFIX}/accounts/{world.a_sibling.public_id}/").status_code == 404
    changed = client.patch(
        f"{PREFIX}/accounts/{world.a_child.public_id}/",
        {"timezone": "Asia/Tokyo"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN="",
    )
    assert changed.status_code == 403
    assert changed.json()["code"] == "NOT_AUTHORIZED"
    assert "read-only" in changed.json()["message"]


def test_a_portal_token_is_not_affected_by_the_browsers_support_session(world, acting_client):
    clear_local_cache()
    raw = issue_token(world.partner_a, name="api", scopes=["*"], actor=None).plaintext
    client = acting_client("a_support", world.a_child)
    session = client.support_session
    views_before = AuditEvent.objects.filter(correlation_id=session.correlation_id).count()
    listed = client.get(f"{PREFIX}/accounts/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert listed.status_code == 200
    assert {"Partner A", "A Sibling"} <= {item["name"] for item in listed.json()["results"]}
    after = AuditEvent.objects.filter(correlation_id=session.correlation_id).count()
    assert after == views_before


def test_htmx_fragments_are_scoped_like_their_pages(world, acting_client):
    client = acting_client("a_support", world.a_child)
    results = client.get("/tenants/?q=A", headers=HTMX).content.decode()
    assert "A Grandchild" in results
    assert "A Sibling" not in results


def test_a_person_not_acting_keeps_their_own_reach(world):
    client = logged_in(world.a_support)
    assert "A Sibling" in client.get("/tenants/").content.decode()
