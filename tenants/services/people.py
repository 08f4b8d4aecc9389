"""People on accounts: invitations, memberships, roles."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenants import access, audit
from tenants.audit import RequestContext
from tenants.branding import Brand, brand_for_account
from tenants.branding.mail import send_branded_mail
from tenants.models import Account, Invitation, Membership, Role, hash_invitation_token
from tenants.services.errors import AccountError, clean_email, require_open

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from tenants.audit import Actor

# Where the pages serve an invitation link: the accept view must live at this path.
INVITATION_PATH = "/invitations/{token}/"


def _check_may_grant(actor: Actor, account: Account, *roles: Role) -> None:
    """Only admins and owners manage people, and nobody grants or touches a stronger role."""
    if actor is None:
        return  # the system: CLI, tasks
    held = access.role_on(actor, account)
    if held is None or not held.covers(Role.ADMIN):
        raise AccountError("Only an admin or an owner can manage people here.", "NOT_AUTHORIZED")
    for role in roles:
        if not held.covers(role):
            raise AccountError(
                f"Only an {role.label.lower()} or stronger can grant or change that role.",
                "NOT_AUTHORIZED",
            )


def _check_keeps_an_owner(membership: Membership) -> None:
    # A partner without an owner could only be managed by the operator's staff.
    if membership.role != Role.OWNER or not membership.account.is_partner:
        return
    owners = Membership.objects.select_for_update().filter(
        account_id=membership.account_id, role=Role.OWNER
    )
    if not [owner for owner in owners if owner.pk != membership.pk]:
        raise AccountError("A partner must keep at least one owner.", "CONFLICT")


def invitation_link(token: str, brand: Brand | None = None) -> str:
    """The link e-mailed for ``token``: on the brand's first custom host, else the portal's."""
    base = brand.base_url if brand is not None else settings.PORTAL_BASE_URL
    return base.rstrip("/") + INVITATION_PATH.format(token=token)


def invite_member(
    account: Account,
    *,
    email: str,
    role: Role,
    actor: Actor,
    context: RequestContext | None = None,
) -> tuple[Invitation, str]:
    """Invite ``email`` to ``role`` on ``account``; the link is e-mailed once the row commits.

    Returns the invitation and its token, which exists nowhere else (only its hash is stored).
    Inviting an address again replaces its pending invitation's role, link and expiry.
    """
    require_open(account)
    role = Role(role)
    email = clean_email(email, required=True)
    _check_may_grant(actor, account, role)
    if account.memberships.filter(user__email__iexact=email).exists():
        raise AccountError(f"{email} is already a member of {account.name}.", "CONFLICT")
    token = secrets.token_urlsafe(32)
    days = settings.PORTAL_INVITATION_DAYS
    expires_at = timezone.now() + timedelta(days=days)
    with transaction.atomic():
        invitation = account.invitations.pending().filter(email=email).first()
        if invitation is None:
            invitation = Invitation(account=account, email=email)
        invitation.role = role
        invitation.token_hash = hash_invitation_token(token)
        invitation.expires_at = expires_at
        inviter = actor if actor is not None and actor.is_authenticated else None
        invitation.invited_by_id = inviter.pk if inviter is not None else None
        invitation.save()
        audit.record(
            "member.invited",
            actor=actor,
            account=account,
            target_type="invitation",
            target_id=str(invitation.pk),
            changes={"email": email, "role": role.value, "expires_at": expires_at.isoformat()},
            context=context,
        )
        brand = brand_for_account(account)
        subject = f"You are invited to {account.name} on {brand.product_name}"
        body = (
            f"{audit.actor_label(actor)} invited you to {account.name} on {brand.product_name} "
            f"as {role.label.lower()}.\n\n"
            f"Accept within {days} days: {invitation_link(token, brand)}\n"
        )
        transaction.on_commit(
            lambda: send_branded_mail(brand, subject=subject, body=body, to=[email])
        )
    return invitation, token


def accept_invitation(
    *, token: str, user: AbstractBaseUser, context: RequestContext | None = None
) -> Membership:
    """Make ``user`` (whose e-mail must be the invited one) a member, as the invitation says.

    An existing membership keeps the stronger of its role and the invited one.
    """
    invitation = (
        Invitation.objects.select_related("account")
        .filter(token_hash=hash_invitation_token(token))
        .first()
    )
    if invitation is None or invitation.accepted_at is not None:
        raise AccountError("This invitation link is not valid, or was already used.", "NOT_FOUND")
    if invitation.expires_at <= timezone.now():
        raise AccountError("This invitation has expired; ask for a new one.", "NOT_FOUND")
    if str(getattr(user, "email", "")).lower() != invitation.email.lower():
        raise AccountError("This invitation was sent to another e-mail address.", "NOT_AUTHORIZED")
    require_open(invitation.account)
    role = Role(invitation.role)
    with transaction.atomic():
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now()
        )
        if not claimed:  # accepted by a concurrent request
            raise AccountError("This invitation was already used.", "NOT_FOUND")
        membership, created = Membership.objects.get_or_create(
            user_id=user.pk, account=invitation.account, defaults={"role": role}
        )
        before = None if created else membership.role
        if not created and not Role(membership.role).covers(role):
            membership.role = role
            membership.save(update_fields=["role"])
        audit.record(
            "member.joined",
            actor=user,
            account=invitation.account,
            target_type="membership",
            target_id=str(membership.pk),
            changes={
                "invitation": invitation.pk,
                "role": {"before": before, "after": membership.role},
            },
            context=context,
        )
    return membership


def change_role(
    membership: Membership, *, role: Role, actor: Actor, context: RequestContext | None = None
) -> Membership:
    role = Role(role)
    before = Role(membership.role)
    if role == before:
        return membership
    _check_may_grant(actor, membership.account, before, role)
    with transaction.atomic():
        _check_keeps_an_owner(membership)
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            "member.role_changed",
            actor=actor,
            account=membership.account,
            target_type="membership",
            target_id=str(membership.pk),
            changes={
                "user": membership.user.get_username(),
                "role": {"before": before.value, "after": role.value},
            },
            context=context,
        )
    return membership


def remove_member(
    membership: Membership, *, actor: Actor, context: RequestContext | None = None
) -> None:
    _check_may_grant(actor, membership.account, Role(membership.role))
    with transaction.atomic():
        _check_keeps_an_owner(membership)
        audit.record(
            "member.removed",
            actor=actor,
            account=membership.account,
            target_type="membership",
            target_id=str(membership.pk),
            changes={"user": membership.user.get_username(), "role": membership.role},
            context=context,
        )
        membership.delete()


def revoke_invitation(
    invitation: Invitation, *, actor: Actor, context: RequestContext | None = None
) -> None:
    """Withdraw a pending invitation: its link stops working at once.

    The row is deleted (its token hash with it), so the link answers like any unknown link;
    the audit event keeps who was invited, to what, and who withdrew it. Accepted and expired
    invitations are not pending and are refused: there is nothing left to withdraw.
    """
    _check_may_grant(actor, invitation.account, Role(invitation.role))
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
        if locked is None:
            raise AccountError("This invitation was already withdrawn.", "NOT_FOUND")
        if locked.accepted_at is not None:
            raise AccountError(
                f"{locked.email} already accepted this invitation; remove the member instead.",
                "CONFLICT",
            )
        if not locked.is_pending:
            raise AccountError(f"The invitation to {locked.email} has already expired.", "CONFLICT")
        audit.record(
            "member.invitation_revoked",
            actor=actor,
            account=invitation.account,
            target_type="invitation",
            target_id=str(locked.pk),
            changes={"email": locked.email, "role": locked.role},
            context=context,
        )
        locked.delete()
