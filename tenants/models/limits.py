"""Limits: plans, and the database's counters (the shared state of admission without Redis).

What the limits mean and how they are enforced is ``tenants.limits``; these are its rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Plan(models.Model):
    """Named limits an account can be put on; the account's own limits override them.

    A plan belongs to a partner (its admins manage it, for its tree) or, without a partner, to
    the operator (global: every partner may use it, none may change it). A limit left empty is
    no limit; 0 blocks the resource, as the upstream's own ``limits`` (UPSTREAM.md §5).
    """

    partner = models.ForeignKey(
        "tenants.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="plans",
    )
    name = models.CharField(max_length=100)
    # Per billing period (a calendar month in the account's timezone).
    messages = models.PositiveBigIntegerField(null=True, blank=True)
    tokens = models.PositiveBigIntegerField(null=True, blank=True)
    conversations = models.PositiveBigIntegerField(null=True, blank=True)
    # Requests per minute (a sliding 60 s window), every proxied call counted.
    rpm = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "name"],
                condition=Q(partner__isnull=False),
                name="unique_plan_name_per_partner",
            ),
            models.UniqueConstraint(
                fields=["name"], condition=Q(partner__isnull=True), name="unique_global_plan_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_global(self) -> bool:
        return self.partner_id is None


class LimitCounter(models.Model):
    """One counter of the database backend: ``subject`` (``account:42``) used ``name`` in a period.

    Only ``tenants.limits.database`` writes these, always by a relative UPDATE inside a
    transaction that holds the row locks of every level it checks.
    """

    subject = models.CharField(max_length=80)
    period = models.CharField(max_length=16)  # "2025-11": the account's local calendar month
    name = models.CharField(max_length=32)  # messages | tokens | conversations
    used = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "period", "name"], name="unique_limit_counter"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.period} {self.name}={self.used}"


class RateHit(models.Model):
    """One admitted request in a subject's sliding rate window (database backend only).

    Rows older than the window are deleted by the admission that finds them.
    """

    subject = models.CharField(max_length=80)
    at_ms = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["subject", "at_ms"], name="ratehit_subject_at")]

    def __str__(self) -> str:
        return f"{self.subject} @{self.at_ms}"
