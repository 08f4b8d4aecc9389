"""Webhook endpoints of an account, and delivering one event to one of them.

Endpoints follow the services' pattern (one transaction, an audit event, side effects on
commit). The secret (``whsec_…``) is returned once by ``create_endpoint`` and otherwise exists
only encrypted; audit rows carry the URL, never the secret.

Delivering (``deliver``, run by ``tasks.deliver_webhook``): one signed POST per attempt, each
logged as a ``WebhookAttempt`` (time, status, duration, error). Network errors, 5xx and 429 are
retried by Celery with exponential backoff; any other answer ends the delivery.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.upstream import UpstreamError, run_sync
from portal.upstream.webhook import WebhookURLRefused, check_webhook_url, post_webhook
from tenants import audit, crypto
from tenants.alerts import signing
from tenants.alerts.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.audit import RequestContext
from tenants.models import Account
from tenants.services.authority import check_may_administer
from tenants.services.errors import AccountError, require_open

if TYPE_CHECKING:
    from tenants.audit import Actor

logger = logging.getLogger("tenants.alerts")

EVENT_THRESHOLD = "usage.threshold"
EVENT_TEST = "webhook.test"
MAX_ENDPOINTS = 10
_RETRY_STATUSES = frozenset({429})


class RetryDelivery(Exception):
    """This attempt failed in a way that may pass; the task retries (with backoff)."""


def clean_url(url: str) -> str:
    url = (url or "").strip()
    if not url or len(url) > 1000:
        raise AccountError("A webhook needs a URL of at most 1000 characters.")
    try:
        check_webhook_url(url)
    except WebhookURLRefused as exc:
        raise AccountError(str(exc)) from None
    return url


def create_endpoint(
    account: Account,
    *,
    url: str,
    description: str = "",
    actor: Actor,
    context: RequestContext | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of ``account`` and its secret (which exists nowhere else in clear)."""
    require_open(account)
    check_may_administer(actor, account, "webhooks")
    url = clean_url(url)
    description = (description or "").strip()
    if len(description) > 200:
        raise AccountError("The description is at most 200 characters.")
    if account.webhooks.count() >= MAX_ENDPOINTS:
        raise AccountError(f"An account has at most {MAX_ENDPOINTS} webhooks.", "CONFLICT")
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(account=account, url=url, description=description)
    endpoint.set_secret(secret)
    user = actor if actor is not None and actor.is_authenticated else None
    endpoint.created_by_id = user.pk if user is not None else None
    with transaction.atomic():
        endpoint.save()
        audit.record(
            "webhook.created",
            actor=actor,
            account=account,
            target_type="webhook",
            target_id=str(endpoint.pk),
            changes={"url": url, "description": description},
            context=context,
        )
    return endpoint, secret


def delete_endpoint(
    endpoint: WebhookEndpoint, *, actor: Actor, context: RequestContext | None = None
) -> None:
    check_may_administer(actor, endpoint.account, "webhooks")
    with transaction.atomic():
        audit.record(
            "webhook.deleted",
            actor=actor,
            account=endpoint.account,
            target_type="webhook",
            target_id=str(endpoint.pk),
            changes={"url": endpoint.url},
            context=context,
        )
        endpoint.delete()


def send_test(
    endpoint: WebhookEndpoint, *, actor: Actor, context: RequestContext | None = None
) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to ``endpoint`` (delivered, retried and logged like any)."""
    check_may_administer(actor, endpoint.account, "webhooks")
    account = endpoint.account
    with transaction.atomic():
        delivery = queue_event(
            endpoint,
            EVENT_TEST,
            {"message": f"A test event from {settings.PORTAL_BRAND_NAME}."},
        )
        audit.record(
            "webhook.test_sent",
            actor=actor,
            account=account,
            target_type="webhook",
            target_id=str(endpoint.pk),
            changes={"event_id": delivery.event_id},
            context=context,
        )
    return delivery


def queue_event(endpoint: WebhookEndpoint, event: str, data: dict[str, Any]) -> WebhookDelivery:
    """A delivery row for ``endpoint``, sent by a task once the caller's transaction commits."""
    account = endpoint.account
    event_id = "evt_" + secrets.token_hex(12)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        account=account,
        event_id=event_id,
        event=event,
        payload={
            "id": event_id,
            "type": event,
            "created": timezone.now().isoformat(),
            "account": {"id": account.public_id, "name": account.name},
            "data": data,
        },
    )
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return delivery


def _enqueue(delivery_id: int) -> None:
    from tenants.alerts.tasks import deliver_webhook

    deliver_webhook.delay(delivery_id)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def retry_delay(retries: int) -> int:
    """Seconds Celery waits before retry number ``retries + 1`` (the task's own settings)."""
    return int(
        get_exponential_backoff_interval(
            factor=settings.ALERTS_WEBHOOK_BACKOFF_SECONDS,
            retries=retries,
            maximum=settings.ALERTS_WEBHOOK_BACKOFF_MAX_SECONDS,
            full_jitter=False,
        )
    )


def deliver(delivery_id: int, *, retries: int, max_retries: int) -> WebhookDelivery | None:
    """One attempt of a delivery; raises ``RetryDelivery`` when another one should follow.

    Nothing (None) for a delivery that is gone (endpoint deleted) or already finished.
    """
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (
        WebhookDelivery.Status.SUCCEEDED,
        WebhookDelivery.Status.FAILED,
    ):
        return None
    endpoint = delivery.endpoint
    body = body_of(delivery)
    started_at = timezone.now()
    status_code: int | None = None
    duration_ms = 0
    error = ""
    retryable = False
    try:
        headers = {
            signing.HEADER: signing.header_value(endpoint.secret(), body),
            "X-Portal-Event": delivery.event,
            "X-Portal-Delivery": delivery.event_id,
        }
        timeout = float(settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS)
        response = run_sync(
            lambda client: post_webhook(
                client, endpoint.url, body=body, headers=headers, seconds=timeout
            )
        )
    except WebhookURLRefused as exc:
        error = str(exc)
    except crypto.SecretUnreadable:
        error = "The endpoint's secret cannot be decrypted; delete it and add it again."
    except UpstreamError as exc:
        error = exc.message
        retryable = True
        duration_ms = int((timezone.now() - started_at).total_seconds() * 1000)
    else:
        status_code = response.status
        duration_ms = response.duration_ms
        if not 200 <= response.status < 300:
            error = f"HTTP {response.status}"
            retryable = response.status >= 500 or response.status in _RETRY_STATUSES
    again = retryable and retries < max_retries
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts + 1,
            attempted_at=started_at,
            status_code=status_code,
            duration_ms=duration_ms,
            error=error[:500],
            retry_in=retry_delay(retries) if again else None,
        )
        delivery.attempts += 1
        if not error:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
        elif again:
            delivery.status = WebhookDelivery.Status.RETRYING
        else:
            delivery.status = WebhookDelivery.Status.FAILED
        if delivery.status != WebhookDelivery.Status.RETRYING:
            delivery.finished_at = timezone.now()
        delivery.save(update_fields=["attempts", "status", "finished_at"])
    if again:
        logger.info(
            "webhook %s to endpoint %s failed (%s); retrying", delivery.event_id, endpoint.pk, error
        )
        raise RetryDelivery(error)
    if error:
        logger.warning(
            "webhook %s to endpoint %s failed for good: %s", delivery.event_id, endpoint.pk, error
        )
    return delivery
