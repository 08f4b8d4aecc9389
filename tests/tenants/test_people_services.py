"""Invitations and memberships: who may grant what, expiring links, at least one owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants import access
from tenants.models import AuditEvent, Invitation, Membership, Role
from tenants.services import (
    AccountError,
    accept_invitation,
    change_role,
    invite_member,
    remove_member,
    revoke_invitation,
)
from tests.factories import make_member, make_user, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return make_world()


def test_an_invitation_is_mailed_on_commit_and_only_its_hash_is_stored(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        invitation, token = invite_member(
            world.a_child, email="New@Person.example", role=Role.SUPPORT, actor=world.a_admin
        )
        assert mailoutbox == []  # nothing is sent before the row commits
    assert len(callbacks) == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["new@person.example"]
    assert f"/invitations/{token}/" in message.body
    assert "support" in message.body
    assert invitation.email == "new@person.example"
    assert token not in invitation.token_hash
    assert not Invitation.objects.filter(token_hash=token).exists()
    event = AuditEvent.objects.get(action="member.invited")
    assert token not in str(event.changes)
    assert event.target_id == str(invitation.pk)


def test_accepting_makes_a_membership_once(world):
    _, token = invite_member(
        world.a_child, email="joiner@people.example", role=Role.VIEWER, actor=world.a_owner
    )
    joiner = make_user("joiner", email="joiner@people.example")
    membership = accept_invitation(token=token, user=joiner)
    assert (membership.account, membership.role) == (world.a_child, Role.VIEWER)
    assert access.get_account_for(joiner, world.a_grandchild.public_id) == world.a_grandchild
    with pytest.raises(AccountError):
        accept_invitation(token=token, user=joiner)
    assert AuditEvent.objects.filter(action="member.joined", actor=joiner).count() == 1


def test_an_expired_invitation_cannot_be_accepted(world):
    invitation, token = invite_member(
        world.a_child, email="late@people.example", role=Role.VIEWER, actor=None
    )
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(AccountError) as error:
        accept_invitation(token=token, user=make_user("late", email="late@people.example"))
    assert "expired" in error.value.message
    assert not Membership.objects.filter(user__username="late").exists()


def test_an_invitation_is_only_for_the_address_it_was_sent_to(world):
    _, token = invite_member(
        world.a_child, email="right@people.example", role=Role.ADMIN, actor=None
    )
    with pytest.raises(AccountError) as error:
        accept_invitation(token=token, user=world.outsider)
    assert error.value.code == "NOT_AUTHORIZED"


def test_an_unknown_token_is_refused(world):
    with pytest.raises(AccountError):
        accept_invitation(token="made-up", user=world.outsider)


def test_inviting_again_replaces_the_pending_link(world):
    first, old_token = invite_member(
        world.a_child, email="twice@people.example", role=Role.VIEWER, actor=None
    )
    second, new_token = invite_member(
        world.a_child, email="twice@people.example", role=Role.SUPPORT, actor=None
    )
    assert first.pk == second.pk
    user = make_user("twice", email="twice@people.example")
    with pytest.raises(AccountError):
        accept_invitation(token=old_token, user=user)
    assert accept_invitation(token=new_token, user=user).role == Role.SUPPORT


@pytest.mark.parametrize(
    ("actor", "role"),
    [
        ("a_viewer", Role.VIEWER),
        ("a_support", Role.VIEWER),
        ("a_admin", Role.OWNER),
        ("tenant_user", Role.OWNER),  # owner of a_child, but not of partner_a
        ("b_owner", Role.VIEWER),
        ("outsider", Role.VIEWER),
    ],
)
def test_people_cannot_grant_roles_they_do_not_hold_on_partner_a(world, actor, role):
    with pytest.raises(AccountError) as error:
        invite_member(
            world.partner_a, email="x@people.example", role=role, actor=getattr(world, actor)
        )
    assert error.value.code == "NOT_AUTHORIZED"
    assert not Invitation.objects.exists()


def test_an_existing_member_is_not_invited_again(world):
    with pytest.raises(AccountError) as error:
        invite_member(
            world.partner_a, email=world.a_viewer.email, role=Role.ADMIN, actor=world.a_owner
        )
    assert error.value.code == "CONFLICT"


def test_a_closed_account_takes_no_invitations(world):
    world.a_sibling.status = world.a_sibling.Status.CLOSED
    world.a_sibling.save(update_fields=["status"])
    with pytest.raises(AccountError):
        invite_member(world.a_sibling, email="z@people.example", role=Role.VIEWER, actor=None)


def test_an_admin_changes_roles_below_their_own(world):
    membership = world.a_viewer.memberships.get()
    change_role(membership, role=Role.SUPPORT, actor=world.a_admin)
    assert Membership.objects.get(pk=membership.pk).role == Role.SUPPORT
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.changes["role"] == {"before": "viewer", "after": "support"}
    with pytest.raises(AccountError):
        change_role(membership, role=Role.OWNER, actor=world.a_admin)
    owner_membership = world.a_owner.memberships.get()
    with pytest.raises(AccountError):
        change_role(owner_membership, role=Role.VIEWER, actor=world.a_admin)


def test_a_partner_keeps_at_least_one_owner(world):
    owner_membership = world.a_owner.memberships.get()
    with pytest.raises(AccountError) as error:
        change_role(owner_membership, role=Role.ADMIN, actor=world.a_owner)
    assert error.value.code == "CONFLICT"
    with pytest.raises(AccountError):
        remove_member(owner_membership, actor=world.a_owner)
    second = make_user("second_owner")
    make_member(second, world.partner_a, Role.OWNER)
    remove_member(owner_membership, actor=second)
    assert not Membership.objects.filter(pk=owner_membership.pk).exists()


def test_removing_a_member_ends_their_reach_and_is_audited(world):
    membership = world.tenant_user.memberships.get()
    with pytest.raises(AccountError):  # an admin does not touch an owner, even further down
        remove_member(membership, actor=world.a_admin)
    remove_member(membership, actor=world.a_owner)
    assert not access.accounts_for(world.tenant_user).exists()
    event = AuditEvent.objects.get(action="member.removed")
    assert event.account == world.a_child
    assert event.changes == {"user": "tenant_user", "role": "owner"}


def test_staff_and_the_system_may_manage_anyone(world):
    membership = world.b_owner.memberships.get()
    make_member(make_user("b_other"), world.partner_b, Role.OWNER)
    change_role(membership, role=Role.VIEWER, actor=world.staff)
    remove_member(membership, actor=None)
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_revoking_an_invitation_kills_its_link_and_leaves_an_audit_event(world):
    invitation, token = invite_member(
        world.a_child, email="late@people.example", role=Role.SUPPORT, actor=world.a_admin
    )
    revoke_invitation(invitation, actor=world.a_admin)
    assert not Invitation.objects.filter(pk=invitation.pk).exists()
    event = AuditEvent.objects.get(action="member.invitation_revoked")
    assert (event.actor, event.account, event.target_id) == (
        world.a_admin,
        world.a_child,
        str(invitation.pk),
    )
    assert event.changes == {"email": "late@people.example", "role": "support"}
    joiner = make_user("late", email="late@people.example")
    with pytest.raises(AccountError, match="not valid"):
        accept_invitation(token=token, user=joiner)


@pytest.mark.parametrize("persona", ["a_support", "a_viewer", "b_owner", "outsider"])
def test_only_admins_revoke_invitations(world, persona):
    invitation, _ = invite_member(
        world.a_child, email="x@people.example", role=Role.VIEWER, actor=world.a_owner
    )
    with pytest.raises(AccountError) as caught:
        revoke_invitation(invitation, actor=getattr(world, persona))
    assert caught.value.code == "NOT_AUTHORIZED"
    assert Invitation.objects.filter(pk=invitation.pk).exists()
    assert not AuditEvent.objects.filter(action="member.invitation_revoked").exists()


def test_an_admin_cannot_revoke_an_invitation_to_a_stronger_role(world):
    invitation, _ = invite_member(
        world.a_child, email="boss@people.example", role=Role.OWNER, actor=world.a_owner
    )
    with pytest.raises(AccountError) as caught:
        revoke_invitation(invitation, actor=world.a_admin)
    assert caught.value.code == "NOT_AUTHORIZED"
    revoke_invitation(invitation, actor=world.a_owner)
    assert not Invitation.objects.filter(pk=invitation.pk).exists()


def test_only_pending_invitations_are_revoked(world):
    accepted, token = invite_member(
        world.a_child, email="in@people.example", role=Role.VIEWER, actor=world.a_owner
    )
    accept_invitation(token=token, user=make_user("in", email="in@people.example"))
    expired, _ = invite_member(
        world.a_child, email="old@people.example", role=Role.VIEWER, actor=world.a_owner
    )
    Invitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    for invitation, message in ((accepted, "already accepted"), (expired, "already expired")):
        invitation.refresh_from_db()
        with pytest.raises(AccountError, match=message) as caught:
            revoke_invitation(invitation, actor=world.a_owner)
        assert caught.value.code == "CONFLICT"
        assert Invitation.objects.filter(pk=invitation.pk).exists()
