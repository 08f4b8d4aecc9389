"""Delivering: signed posts, retried with backoff by Celery, every attempt logged, no secret."""

from __future__ import annotations

import logging

import pytest

from tenants.alerts import signing
from tenants.alerts.models import WebhookAttempt, WebhookDelivery
from tenants.alerts.tasks import deliver_webhook
from tenants.alerts.webhooks import create_endpoint, queue_event, retry_delay
from tenants.models import AuditEvent
from tenants.services import AccountError
from tests.factories import make_world

pytestmark = pytest.mark.django_db


def _delivery(receiver, event: str = "webhook.test"):
    world = make_world()
    endpoint, secret = create_endpoint(world.a_child, url=receiver.url, actor=world.a_owner)
    return queue_event(endpoint, event, {"message": "hi"}), secret


def test_a_post_is_signed_and_timestamped(receiver):
    delivery, secret = _delivery(receiver)

    deliver_webhook.delay(delivery.pk)

    got = receiver.received[0]
    header = got.headers["X-Portal-Signature"]
    parsed = signing.parse(header)
    assert parsed is not None
    assert signing.within_window(parsed[0])
    assert signing.verify(secret, got.body, header)
    assert got.headers["Content-Type"] == "application/json"
    assert got.json["id"] == delivery.event_id
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)


def test_failing_twice_then_succeeding_is_retried_with_backoff(receiver, settings, caplog):
    settings.ALERTS_WEBHOOK_BACKOFF_SECONDS = 30
    receiver.statuses = [503, 429]
    delivery, secret = _delivery(receiver)

    with caplog.at_level(logging.DEBUG):
        deliver_webhook.delay(delivery.pk)

    assert len(receiver.received) == 3
    # Each attempt is signed afresh, and every signature verifies.
    assert all(
        signing.verify(secret, got.body, got.headers["X-Portal-Signature"])
        for got in receiver.received
    )
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code, a.error) for a in attempts] == [
        (1, 503, "HTTP 503"),
        (2, 429, "HTTP 429"),
        (3, 200, ""),
    ]
    # Exponential: 30 s, then 60 s (Celery's own countdowns, without jitter).
    assert [a.retry_in for a in attempts] == [30, 60, None]
    assert [retry_delay(0), retry_delay(1), retry_delay(2)] == [30, 60, 120]
    assert all(a.duration_ms >= 0 and a.attempted_at for a in attempts)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    assert secret not in caplog.text


def test_network_errors_are_retried_until_max_retries_then_fail(receiver, settings):
    world = make_world()
    endpoint, _ = create_endpoint(world.a_child, url="http://127.0.0.1:9/nothing", actor=None)
    delivery = queue_event(endpoint, "webhook.test", {})

    deliver_webhook.delay(delivery.pk)

    delivery.refresh_from_db()
    max_retries = settings.ALERTS_WEBHOOK_MAX_RETRIES
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == max_retries + 1
    attempts = list(delivery.attempt_log.all())
    assert all(a.status_code is None and "unreachable" in a.error for a in attempts)
    assert attempts[-1].retry_in is None


def test_a_4xx_answer_is_not_retried(receiver):
    receiver.statuses = [410]
    delivery, _ = _delivery(receiver)

    deliver_webhook.delay(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert len(receiver.received) == 1


def test_the_secret_is_in_no_row_but_its_ciphertext(receiver):
    delivery, secret = _delivery(receiver)
    deliver_webhook.delay(delivery.pk)

    endpoint = delivery.endpoint
    endpoint.refresh_from_db()
    assert secret.startswith("whsec_")
    assert endpoint.secret_encrypted
    assert secret not in endpoint.secret_encrypted
    assert endpoint.secret() == secret
    assert endpoint.secret_display == f"whsec_…{secret[-4:]}"
    for event in AuditEvent.objects.all():
        assert secret not in str(event.changes)
    for attempt in WebhookAttempt.objects.all():
        assert secret not in attempt.error
    assert secret not in str(WebhookDelivery.objects.get(pk=delivery.pk).payload)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "http://u:p@example.com/"],
)
def test_only_http_urls_are_accepted(url):
    world = make_world()
    with pytest.raises(AccountError):
        create_endpoint(world.a_child, url=url, actor=None)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.1.1/"]
)
def test_private_addresses_are_refused_unless_allowed(url, settings):
    settings.PORTAL_WEBHOOK_ALLOW_PRIVATE = False
    world = make_world()
    with pytest.raises(AccountError, match="private"):
        create_endpoint(world.a_child, url=url, actor=None)


def test_an_endpoint_that_became_private_is_refused_at_delivery(receiver, settings):
    delivery, _ = _delivery(receiver)
    settings.PORTAL_WEBHOOK_ALLOW_PRIVATE = False

    deliver_webhook.delay(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert receiver.received == []
