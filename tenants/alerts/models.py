"""Fired thresholds, webhook endpoints, deliveries and their attempts."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants import crypto
from tenants.models import Account


class ThresholdAlert(models.Model):
    """A threshold of one quota crossed by one account in one period: at most one row, ever.

    The unique constraint is what makes the check idempotent: a rerun, or two beats at once,
    insert the same row and only the one that inserted it notifies anybody.
    """

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=16)  # "2026-11": the limits' period key
    quota = models.CharField(max_length=16)  # "messages" | "tokens" | "conversations"
    threshold = models.PositiveSmallIntegerField()  # percent: 50, 80, 100
    used = models.PositiveBigIntegerField()
    limit = models.PositiveBigIntegerField()
    resets_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period", "quota", "threshold"],
                name="threshold_alert_once_per_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.period} {self.quota} {self.threshold}%"


class WebhookEndpoint(models.Model):
    """Where an account's events are posted. The secret signs them: it is needed in clear to
    sign, so it is stored encrypted (``tenants.crypto``) and shown once, when made."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=1000)
    description = models.CharField(max_length=200, blank=True)
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["account", "created_at"], name="webhook_account")]

    def __str__(self) -> str:
        return f"{self.url} ({self.account_id})"

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)
        self.secret_last4 = secret[-4:]

    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @property
    def secret_display(self) -> str:
        return f"whsec_…{self.secret_last4}"


class WebhookDelivery(models.Model):
    """One event for one endpoint; its attempts are ``WebhookAttempt`` rows."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # Denormalised from the endpoint: deliveries are scoped by account like everything else.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=40, unique=True)  # "evt_…": receivers dedupe on it
    event = models.CharField(max_length=40)  # "usage.threshold" | "webhook.test"
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
            models.Index(fields=["account", "-created_at"], name="webhook_delivery_account"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, what came back, how long it took. Never the secret."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()  # 1 for the first
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # None: no answer
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    # Seconds until the next attempt (Celery's exponential backoff); None: no retry follows.
    retry_in = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.status_code or self.error}"
