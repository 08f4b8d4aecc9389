"""Background conversations and the database backend of their channels."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import Account


def new_job_public_id() -> str:
    # 24 characters: the upstream refuses channel ids shorter than 16 (UPSTREAM.md §7), and the
    # job's channel is named after it.
    return "job_" + secrets.token_hex(10)


class ConversationJob(models.Model):
    """One console turn run by a Celery worker instead of the page (``tenants.console.jobs``).

    The worker streams the upstream's answer and publishes each event to the job's channel
    (``tenants.console.channels``); the row keeps the outcome once the channel has expired.
    While running, the worker writes ``heartbeat_at`` every ``CONSOLE_JOB_HEARTBEAT_SECONDS``;
    a running job whose heartbeat is older than ``CONSOLE_JOB_STALE_SECONDS`` lost its worker
    and is marked failed (``jobs.fail_stale_jobs``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.BigAutoField(primary_key=True)
    public_id = models.CharField(max_length=32, unique=True, default=new_job_public_id)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who started it, kept when the person is deleted.
    person_label = models.CharField(max_length=200)
    # The support session it was started in (acting as the tenant), whose trail its calls join.
    support_session = models.ForeignKey(
        "tenants.SupportSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # What the conversation is with: a bot, or a model and a backstory (neither: the default).
    bot_id = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=120, blank=True)
    backstory = models.TextField(blank=True)
    # The upstream conversation: given (a continued conversation) or made by the job.
    conversation_id = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_tokens = models.PositiveIntegerField(default=0)  # tokens streamed so far
    reply = models.TextField(blank=True)
    usage_tokens = models.PositiveIntegerField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # The 429 body's ``limit`` object when a limit refused the turn.
    error_limit = models.JSONField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "-created_at"], name="console_job_account"),
            models.Index(fields=["status", "heartbeat_at"], name="console_job_status"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def channel(self) -> str:
        return self.public_id

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def heartbeat_age_seconds(self) -> int | None:
        if self.heartbeat_at is None:
            return None
        return max(0, round((timezone.now() - self.heartbeat_at).total_seconds()))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())


class ChannelEvent(models.Model):
    """One published event of a channel, for the database backend (no ``REDIS_URL``).

    Subscribers read the events after their cursor (this row's id) and poll for newer ones;
    rows older than ``CONSOLE_CHANNEL_RETENTION_SECONDS`` are purged by beat.
    """

    id = models.BigAutoField(primary_key=True)
    channel = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "id"], name="console_channel_events")]

    def __str__(self) -> str:
        return f"{self.channel}#{self.pk}"
