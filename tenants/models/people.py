"""People on accounts: roles, memberships and invitations."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models.accounts import Account


class Role(models.TextChoices):
    """What a person may do on an account and, by inheritance, its whole subtree."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    SUPPORT = "support", "Support"
    VIEWER = "viewer", "Viewer"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def covers(self, other: Role) -> bool:
        """True if this role grants at least what ``other`` grants."""
        return self.rank >= other.rank

    @classmethod
    def at_least(cls, role: Role) -> list[Role]:
        """Every role as strong as ``role`` or stronger: the filter for "min_role" lookups."""
        return [candidate for candidate in cls if candidate.rank >= role.rank]

    @classmethod
    def strongest(cls, roles: Iterable[str]) -> Role | None:
        known = [cls(role) for role in roles]
        return max(known, key=lambda role: role.rank, default=None)


_ROLE_RANK = {Role.OWNER: 4, Role.ADMIN: 3, Role.SUPPORT: 2, Role.VIEWER: 1}


class Membership(models.Model):
    """A person's role on an account; tenants/access.py extends it to the account's subtree."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="unique_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.account}"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An e-mailed offer of a role on an account.

    Only a keyed hash of the link's token is stored (``hash_invitation_token``): a database
    dump does not let anyone accept an invitation.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[InvitationQuerySet] = InvitationQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [models.Index(fields=["account", "email"], name="invitation_account_email")]

    def __str__(self) -> str:
        return f"{self.email} as {self.role} on {self.account}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


def hash_invitation_token(token: str) -> str:
    """HMAC-SHA256 of an invitation token with the server pepper (never the token itself)."""
    pepper = settings.PORTAL_TOKEN_PEPPER.encode()
    return hmac.new(pepper, b"invitation:" + token.encode(), hashlib.sha256).hexdigest()
