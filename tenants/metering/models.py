"""Usage: one raw row per proxied call, hourly and daily totals, and the nightly reconciliation.

Raw events are written in batches by the in-process buffer (``tenants.metering.buffer``), never
by the request that made them. Rollups are recomputed from raw events by Celery
(``tenants.metering.rollups``); pages and exports read rollups only. Raw events are kept for
``METERING_RAW_RETENTION_DAYS``; rollups and reconciliations are kept.

Account references carry no database constraint: usage is billing history, and must outlive
an account row (and a batch written a moment after an account went away must not fail).
"""

from __future__ import annotations

from django.db import models

from tenants.models import Account


class UsageEvent(models.Model):
    """One proxied call of an authenticated caller, as the client saw it."""

    id = models.BigAutoField(primary_key=True)
    # The acting account (the run-as target, else the token's account): whose usage it is.
    account = models.ForeignKey(
        Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    token_id = models.CharField(max_length=32)
    # The route template ("/conversation/{conversationId}/complete"), never the raw path;
    # "*" for a path outside the route table (forwarded for `*` tokens only).
    route = models.CharField(max_length=100)
    method = models.CharField(max_length=8)
    status = models.PositiveSmallIntegerField()
    # The upstream's or the portal's error code (`LIMITS_REACHED`, `BAD_GATEWAY`, ...), or "".
    error_code = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField()
    messages = models.PositiveIntegerField(default=0)
    conversations = models.PositiveIntegerField(default=0)
    # Billing tokens (UPSTREAM.md §5, §11.9): what quotas count. See tenants.metering.observer.
    tokens = models.PositiveIntegerField(default=0)
    # The raw model counts of the stream's `usage` events, when there were any.
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # True when `tokens` is not the upstream's billing count (no `usage.token` arrived).
    estimated = models.BooleanField(default=False)
    client_disconnected = models.BooleanField(default=False)
    request_id = models.CharField(max_length=64, blank=True)
    # When the call ended (its usage happened), and when the row reached the database: late
    # rows are found by the second (tenants.metering.rollups).
    created_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="usage_event_created"),
            models.Index(fields=["recorded_at"], name="usage_event_recorded"),
            models.Index(fields=["account", "created_at"], name="usage_event_account"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.status} ({self.account_id})"


class UsageRollup(models.Model):
    """Totals of one account (``token_id == ""``) or one of its tokens over an hour or a day.

    Buckets are UTC hours and UTC days; a day is the sum of its hours.
    """

    class Granularity(models.TextChoices):
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    ALL_TOKENS = ""

    id = models.BigAutoField(primary_key=True)
    granularity = models.CharField(max_length=4, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    account = models.ForeignKey(
        Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    token_id = models.CharField(max_length=32, blank=True)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    messages = models.PositiveBigIntegerField(default=0)
    conversations = models.PositiveBigIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    estimated_tokens = models.PositiveBigIntegerField(default=0)  # part of `tokens`
    client_disconnects = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "bucket_start", "account", "token_id"],
                name="usage_rollup_bucket",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "granularity", "token_id", "bucket_start"],
                name="usage_rollup_account_series",
            ),
        ]

    def __str__(self) -> str:
        who = self.token_id or "all tokens"
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:00} {self.account_id} {who}"


class Reconciliation(models.Model):
    """One nightly comparison of a child's period totals with the upstream's ``usage/fetch``.

    ``drift_*`` is portal minus upstream: positive when the portal counted more.
    """

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    checked_on = models.DateField()  # one row per account and day: a re-run replaces it
    checked_at = models.DateTimeField()
    period_start = models.DateTimeField()
    portal_tokens = models.PositiveBigIntegerField(default=0)
    portal_messages = models.PositiveBigIntegerField(default=0)
    portal_conversations = models.PositiveBigIntegerField(default=0)
    upstream_tokens = models.PositiveBigIntegerField(null=True)
    upstream_messages = models.PositiveBigIntegerField(null=True)
    upstream_conversations = models.PositiveBigIntegerField(null=True)
    drift_tokens = models.BigIntegerField(default=0)
    drift_messages = models.BigIntegerField(default=0)
    drift_conversations = models.BigIntegerField(default=0)
    # Above METERING_RECONCILE_TOLERANCE_PERCENT on any unit, or the upstream could not say.
    flagged = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "checked_on"], name="reconciliation_once_a_day"
            ),
        ]
        indexes = [
            models.Index(fields=["flagged", "-checked_on"], name="reconciliation_flagged"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.checked_on}: tokens {self.drift_tokens:+d}"
