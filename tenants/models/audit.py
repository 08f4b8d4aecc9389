"""The append-only audit log."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models.accounts import Account


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
    # The support session it happened in (``SupportSession.correlation_id``), if any: every page
    # view, change and upstream call of one impersonation shares it.
    correlation_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects: ClassVar[AuditEventQuerySet] = AuditEventQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [
            models.Index(fields=["account", "-created_at"], name="audit_account_recent"),
            # Partial: most events happen outside any support session.
            models.Index(
                fields=["correlation_id", "id"],
                condition=~Q(correlation_id=""),
                name="audit_support_session",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label} on {self.account_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("audit events cannot be deleted")
