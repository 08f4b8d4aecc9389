"""Support impersonation: a person acting as a tenant for a while, with a reason and a trail.

``SupportSession`` is the record (who, as whom, why, until when, how it ended); every audit event
written while it lasts carries its ``correlation_id``. ``Impersonation`` is the frozen view of an
open session that ``tenants.middleware.ImpersonationMiddleware`` puts on ``request.impersonation``
and binds to the request's user for ``tenants.access``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models.accounts import Account

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def new_correlation_id() -> str:
    return f"sup_{uuid.uuid4().hex}"


class SupportSessionQuerySet(models.QuerySet["SupportSession"]):
    def open(self) -> SupportSessionQuerySet:
        """Not ended yet (an expired one stays open until something notices and ends it)."""
        return self.filter(ended_at__isnull=True)


class SupportSession(models.Model):
    """One period of a person acting as a tenant (``tenants.services.impersonation``)."""

    class EndReason(models.TextChoices):
        STOPPED = "stopped", "Stopped"
        EXPIRED = "expired", "Time limit reached"
        LOGGED_OUT = "logged_out", "Logged out"
        REPLACED = "replaced", "Replaced by a newer session"
        ACCESS_LOST = "access_lost", "Access withdrawn"

    # Who acted: kept when the login is deleted (the label still says who it was).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="support_sessions",
    )
    actor_label = models.CharField(max_length=200)
    # What let them: "operator" (staff) or their role on an account above the target.
    actor_role = models.CharField(max_length=16)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="support_sessions")
    reason = models.TextField()
    ticket = models.CharField(max_length=100, blank=True)
    allow_changes = models.BooleanField(default=False)
    correlation_id = models.CharField(max_length=64, unique=True, default=new_correlation_id)
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)

    objects: ClassVar[SupportSessionQuerySet] = SupportSessionQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            # One person, one tenant at a time: acting as someone while acting as someone else
            # (nesting) cannot exist, even when two starts race.
            models.UniqueConstraint(
                fields=["actor"],
                condition=Q(ended_at__isnull=True),
                name="one_open_support_session_per_actor",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-started_at"], name="support_session_account"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} as {self.account_id} ({self.correlation_id})"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    @property
    def is_active(self) -> bool:
        return self.ended_at is None and not self.is_expired()

    @property
    def ended_or_expired_at(self) -> datetime | None:
        """When it stopped counting: its end, or its expiry once past (even if not yet marked)."""
        if self.ended_at is not None:
            return min(self.ended_at, self.expires_at)
        return self.expires_at if self.is_expired() else None


@dataclass(frozen=True, slots=True)
class Impersonation:
    """An open support session, as the request acting under it sees it (``request.impersonation``).

    ``actor`` is the real person (audit rows name them); ``account`` is the tenant they act as.
    """

    session_id: int
    correlation_id: str
    account: Account
    actor: AbstractBaseUser
    allow_changes: bool
    started_at: datetime
    expires_at: datetime
    reason: str
    ticket: str

    @property
    def seconds_left(self) -> int:
        # Rounded up: a page that counts down to zero must not reload before the server agrees
        # the time is up (it would find the session still open and count down again).
        return max(0, math.ceil((self.expires_at - timezone.now()).total_seconds()))

    @property
    def minutes_left(self) -> int:
        return (self.seconds_left + 59) // 60
