"""Accounts (partners and their tenants, to any depth), the people on them, and the audit log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants import crypto

if TYPE_CHECKING:
    from portal.upstream import UpstreamConnection


def new_partner_public_id() -> str:
    # Tenants take their upstream child-user id as public id; partners have no upstream user of
    # their own in the portal's model, so they get a local id with a recognisable prefix.
    return "prt_" + secrets.token_hex(10)


class AccountQuerySet(models.QuerySet["Account"]):
    def partners(self) -> AccountQuerySet:
        return self.filter(parent__isnull=True)

    def subtree_of(self, account: Account) -> AccountQuerySet:
        """The account and every descendant, in one indexed prefix query."""
        return self.filter(path__startswith=account.path)


class Account(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    public_id = models.CharField(max_length=64, unique=True, default=new_partner_public_id)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Materialized path of primary keys, "/1/7/42/": subtree queries are one prefix match, and a
    # partner's whole tree is `path__startswith="/<partner pk>/"`. Set once at creation; accounts
    # never move (a tenant cannot change partners).
    path = models.CharField(max_length=512, editable=False)
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(max_length=64, default="UTC")
    meta = models.JSONField(default=dict, blank=True)
    limits = models.JSONField(default=dict, blank=True)

    # Partner only: the upstream connection. The secret is stored encrypted and shown as last4.
    upstream_base_url = models.URLField(blank=True)
    upstream_secret_encrypted = models.TextField(blank=True, editable=False)
    upstream_secret_last4 = models.CharField(max_length=4, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[AccountQuerySet] = AccountQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(parent__isnull=True), name="unique_partner_slug"
            ),
            models.UniqueConstraint(
                fields=["parent", "slug"],
                condition=Q(parent__isnull=False),
                name="unique_slug_among_siblings",
            ),
        ]
        indexes = [
            models.Index(
                fields=["path"], name="account_path_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_partner(self) -> bool:
        return self.parent_id is None

    @property
    def partner_pk(self) -> int:
        return int(self.path.strip("/").split("/")[0])

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    @property
    def lineage_pks(self) -> list[int]:
        """Primary keys from the partner down to this account, read from ``path``."""
        return [int(pk) for pk in self.path.strip("/").split("/") if pk]

    def set_upstream_secret(self, secret: str) -> None:
        self.upstream_secret_encrypted = crypto.encrypt(secret)
        self.upstream_secret_last4 = secret[-4:]

    @property
    def upstream_secret_display(self) -> str:
        return f"sk-…{self.upstream_secret_last4}" if self.upstream_secret_last4 else "not set"

    def upstream_connection(self) -> UpstreamConnection:
        """The partner's connection (base URL + decrypted secret); only for partner accounts."""
        from portal.upstream import UpstreamConnection

        if not self.is_partner:
            raise ValueError("only a partner account holds an upstream connection")
        return UpstreamConnection(
            base_url=self.upstream_base_url, secret=crypto.decrypt(self.upstream_secret_encrypted)
        )


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


class AuditLogIsAppendOnly(Exception):
    """Raised by every path that would change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    # The history must not be rewritable from code: no bulk update or delete either.
    def update(self, **kwargs: Any) -> int:
        raise AuditLogIsAppendOnly("audit events cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("audit events cannot be deleted")


class AuditEvent(models.Model):
    """One state change: who did what to which account, with the before/after of its fields.

    Append-only: written by ``tenants.audit.record`` inside the service's transaction, never
    changed afterwards. ``changes`` never holds a secret (``tenants.audit`` scrubs it).
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # Deleting a person keeps their history; actor_label still says who it was.
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="audit_events")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects: ClassVar[AuditEventQuerySet] = AuditEventQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [
            models.Index(fields=["account", "-created_at"], name="audit_account_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label} on {self.account_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("audit events cannot be deleted")
