"""Celery tasks of alerts: thin, ids in, idempotent (the services decide and dedupe)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from tenants.alerts import thresholds, webhooks


@shared_task(name="tenants.alerts.tasks.check_thresholds", ignore_result=True)
def check_thresholds() -> int:
    """Fire the thresholds reached this period (beat: every minute); how many fired."""
    return len(thresholds.check_thresholds())


@shared_task(
    bind=True,
    name="tenants.alerts.tasks.deliver_webhook",
    ignore_result=True,
    autoretry_for=(webhooks.RetryDelivery,),
    retry_backoff=settings.ALERTS_WEBHOOK_BACKOFF_SECONDS,
    retry_backoff_max=settings.ALERTS_WEBHOOK_BACKOFF_MAX_SECONDS,
    # Deterministic waits (BACKOFF * 2**n, capped): the delivery log shows the real ones.
    retry_jitter=False,
    max_retries=settings.ALERTS_WEBHOOK_MAX_RETRIES,
)
def deliver_webhook(self: Any, delivery_id: int) -> None:
    """One attempt of a delivery; network errors, 5xx and 429 are retried with backoff."""
    webhooks.deliver(delivery_id, retries=self.request.retries, max_retries=self.max_retries)
