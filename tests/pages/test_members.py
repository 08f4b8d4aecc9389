"""Members and invitations: the list, inviting, changing roles, removing, with and without htmx."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from tenants.models import AuditEvent, Invitation, Membership, Role
from tenants.services import invite_member
from tests.factories import make_member, make_user
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def members_url(account) -> str:
    return f"/accounts/{account.public_id}/members/"


def role_options(body: str, membership: Membership) -> list[str]:
    start = body.index(f'id="role-{membership.pk}"')
    select = body[start : body.index("</select>", start)]
    return [part.split('"')[0] for part in select.split('value="')[1:]]


def test_the_members_page_lists_members_and_pending_invitations(pages, client_for):
    Invitation.objects.create(
        account=pages.a_child,
        email="pending@x.example",
        role="viewer",
        token_hash="x" * 64,
        expires_at="2999-01-01T00:00Z",
    )
    body = client_for("a_admin").get(members_url(pages.a_child)).content.decode()
    assert "tenant_user" in body
    assert "child_viewer" in body
    assert "pending@x.example" in body
    assert "Invite someone" in body


def test_a_viewer_reads_members_but_gets_no_controls_and_no_invitations(pages, client_for):
    Invitation.objects.create(
        account=pages.a_child,
        email="pending@x.example",
        role="viewer",
        token_hash="y" * 64,
        expires_at="2999-01-01T00:00Z",
    )
    body = client_for("a_viewer").get(members_url(pages.a_child)).content.decode()
    assert "child_viewer" in body
    assert "pending@x.example" not in body
    assert "Invite someone" not in body
    assert "/role/" not in body
    assert "/remove/" not in body


def test_the_role_picker_offers_only_what_the_actor_may_grant(pages, client_for):
    admin_body = client_for("a_admin").get(members_url(pages.a_child)).content.decode()
    assert role_options(admin_body, pages.child_viewer_membership) == [
        "admin",
        "support",
        "viewer",
    ]
    owner_body = client_for("a_owner").get(members_url(pages.a_child)).content.decode()
    assert role_options(owner_body, pages.child_viewer_membership) == [
        "owner",
        "admin",
        "support",
        "viewer",
    ]
    # The admin may not touch an owner's membership: no controls on that row.
    owner_row = admin_body[admin_body.index("tenant_user") :].split("</tr>")[0]
    assert "<select" not in owner_row
    assert "Remove" not in owner_row


def test_the_invite_form_offers_only_grantable_roles(pages, client_for):
    body = client_for("a_admin").get(members_url(pages.a_child)).content.decode()
    invite = body[body.index('id="invite"') :]
    assert 'value="owner"' not in invite.split("</form>")[0]


def test_inviting_with_htmx_clears_the_form_and_signals_the_page(
    pages, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("a_admin").post(
            members_url(pages.a_child),
            {"email": "New@Person.example", "role": "support"},
            headers=HTMX,
        )
    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"membersChanged": {}}
    body = response.content.decode().strip()
    assert body.startswith('<section id="invite"')
    assert "An invitation was e-mailed to new@person.example" in body
    assert Invitation.objects.get(account=pages.a_child).role == "support"
    assert len(mailoutbox) == 1
    assert "/invitations/" in mailoutbox[0].body


def test_an_invalid_invitation_comes_back_with_its_errors(pages, client_for):
    response = client_for("a_admin").post(
        members_url(pages.a_child), {"email": "not-an-email", "role": "viewer"}, headers=HTMX
    )
    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_is_a_readable_error(pages, client_for):
    response = client_for("a_admin").post(
        members_url(pages.a_child),
        {"email": pages.child_viewer_membership.user.email, "role": "viewer"},
    )
    assert response.status_code == 422
    assert "is already a member of A Child" in response.content.decode()


def test_the_people_section_refreshes_itself_as_a_fragment(pages, client_for):
    response = client_for("a_admin").get(
        members_url(pages.a_child), headers={**HTMX, "HX-Target": "people"}
    )
    body = response.content.decode().strip()
    assert body.startswith('<section id="people"')
    assert 'hx-trigger="membersChanged from:body"' in body


def test_changing_a_role_with_htmx_returns_the_row(pages, client_for):
    membership = pages.child_viewer_membership
    response = client_for("a_admin").post(
        f"/members/{membership.pk}/role/", {"role": "support"}, headers=HTMX
    )
    assert response.status_code == 200
    body = response.content.decode().strip()
    assert body.startswith(f'<tr id="member-{membership.pk}"')
    assert "Saved" in body
    membership.refresh_from_db()
    assert membership.role == "support"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.changes["role"] == {"before": "viewer", "after": "support"}


def test_a_partner_cannot_lose_its_last_owner_and_the_row_says_why(pages, client_for):
    owner_membership = pages.a_owner.memberships.get()
    response = client_for("a_owner").post(
        f"/members/{owner_membership.pk}/role/", {"role": "admin"}, headers=HTMX
    )
    assert response.status_code == 422
    assert "A partner must keep at least one owner." in response.content.decode()
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"


def test_removing_with_htmx_swaps_the_row_away(pages, client_for):
    membership = pages.child_viewer_membership
    response = client_for("a_admin").post(f"/members/{membership.pk}/remove/", headers=HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert json.loads(response["HX-Trigger"]) == {"membersChanged": {}}
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_removing_without_htmx_redirects_with_a_message(pages, client_for):
    membership = pages.child_viewer_membership
    response = client_for("a_admin").post(f"/members/{membership.pk}/remove/", follow=True)
    assert "child_viewer was removed from A Child." in response.content.decode()


def test_someone_who_removes_themselves_lands_on_the_dashboard(pages, client_for):
    leaver = make_user("leaver")
    membership = make_member(leaver, pages.a_sibling, Role.ADMIN)
    client = client_for("anonymous")
    client.force_login(leaver)
    answer = client.post(f"/members/{membership.pk}/remove/")
    assert answer.status_code == 303
    assert answer["Location"] == "/"


# -- revoking invitations -----------------------------------------------------------------------


def pending(account, email: str = "pending@x.example", role: Role = Role.VIEWER) -> Invitation:
    invitation, _token = invite_member(account, email=email, role=role, actor=None)
    return invitation


def test_admins_get_a_revoke_button_on_each_invitation_they_may_withdraw(pages, client_for):
    viewer_invitation = pending(pages.a_child)
    owner_invitation = pending(pages.a_child, "boss@x.example", Role.OWNER)
    body = client_for("a_admin").get(members_url(pages.a_child)).content.decode()
    assert f"/invitations/{viewer_invitation.pk}/revoke/" in body
    # An admin may not touch an invitation to a stronger role.
    assert f"/invitations/{owner_invitation.pk}/revoke/" not in body
    owner_body = client_for("a_owner").get(members_url(pages.a_child)).content.decode()
    assert f"/invitations/{owner_invitation.pk}/revoke/" in owner_body


def test_revoking_an_invitation_with_htmx_swaps_its_row_away(pages, client_for):
    invitation = pending(pages.a_child)
    response = client_for("a_admin").post(f"/invitations/{invitation.pk}/revoke/", headers=HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert json.loads(response["HX-Trigger"]) == {"membersChanged": {}}
    assert not Invitation.objects.filter(pk=invitation.pk).exists()
    event = AuditEvent.objects.get(action="member.invitation_revoked")
    assert event.actor == pages.a_admin


def test_revoking_an_invitation_without_htmx_redirects_with_a_message(pages, client_for):
    invitation = pending(pages.a_child)
    response = client_for("a_admin").post(f"/invitations/{invitation.pk}/revoke/", follow=True)
    body = response.content.decode()
    assert "The invitation to pending@x.example is withdrawn" in body
    assert "pending@x.example</td>" not in body


def test_an_accepted_invitation_is_not_revoked_and_the_row_says_why(pages, client_for):
    invitation = pending(pages.a_child)
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    response = client_for("a_admin").post(f"/invitations/{invitation.pk}/revoke/", headers=HTMX)
    assert response.status_code == 422
    body = response.content.decode().strip()
    assert body.startswith(f'<tr id="invitation-{invitation.pk}"')
    assert "already accepted this invitation" in body
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_an_admin_cannot_force_revoking_an_invitation_to_the_owner_role(pages, client_for):
    invitation = pending(pages.a_child, "boss@x.example", Role.OWNER)
    response = client_for("a_admin").post(f"/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 403
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_another_partners_invitation_is_a_404(pages, client_for):
    invitation = pending(pages.b_child)
    assert client_for("a_owner").post(f"/invitations/{invitation.pk}/revoke/").status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()
