"""Accounts: partners (roots holding the upstream connection) and their tenants, to any depth."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, ClassVar

from django.db import models
from django.db.models import Q

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
    # The upstream user's own descriptive fields, kept so the partner API returns what it took.
    description = models.TextField(blank=True)
    image = models.URLField(max_length=1000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(max_length=64, default="UTC")
    meta = models.JSONField(default=dict, blank=True)
    # The upstream's own limits object (UPSTREAM.md §5), pushed to the child: its period quotas
    # (messages, tokens, conversations) override the plan's (tenants.limits.policy).
    limits = models.JSONField(default=dict, blank=True)
    plan = models.ForeignKey(
        "tenants.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    # Requests per minute, overriding the plan's. Kept out of ``limits``: the upstream does not
    # know the key and would refuse the child update that carried it.
    rpm = models.PositiveIntegerField(null=True, blank=True)

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

    def first_blocked_in_lineage(self) -> Account | None:
        """The nearest of this account and its ancestors that is not active, if any.

        A suspended reseller suspends everything it resold: callers acting as any account
        below it are refused, without the status being copied down the tree.
        """
        if self.status != self.Status.ACTIVE:
            return self
        return (
            Account.objects.filter(pk__in=self.lineage_pks)
            .exclude(status=self.Status.ACTIVE)
            .order_by("-path")
            .first()
        )

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
