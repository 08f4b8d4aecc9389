"""The Webhooks tab of an account page: personas, show-once secret, delete, "Send test"."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tenants.alerts.models import WebhookDelivery, WebhookEndpoint
from tenants.alerts.webhooks import create_endpoint
from tenants.models import AuditEvent
from tests.factories import make_world

pytestmark = pytest.mark.django_db

READERS = ("a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "staff")
MANAGERS = ("a_owner", "a_admin", "tenant_user", "staff")
STRANGERS = ("b_owner", "outsider")


@pytest.fixture
def world():
    return make_world()


def client_as(world, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(getattr(world, persona))
    return client


def page(world) -> str:
    return f"/accounts/{world.a_child.public_id}/webhooks/"


@pytest.mark.parametrize("persona", READERS + STRANGERS + ("anonymous",))
def test_who_reads_the_webhooks_tab(world, persona):
    create_endpoint(world.a_child, url="http://127.0.0.1:1/h", actor=None)
    response = client_as(world, persona).get(page(world))

    if persona in READERS:
        assert response.status_code == 200
        body = response.content.decode()
        assert "http://127.0.0.1:1/h" in body
        assert ("Add webhook" in body) == (persona in MANAGERS)
        assert ("Send test" in body) == (persona in MANAGERS)
    elif persona == "anonymous":
        assert response.status_code == 302
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("persona", READERS + STRANGERS)
def test_who_adds_a_webhook(world, persona):
    response = client_as(world, persona).post(
        page(world) + "new/", {"url": "http://127.0.0.1:1/hook", "description": "ops"}
    )

    if persona in MANAGERS:
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        secret = re.search(r'value="(whsec_[^"]+)"', response.content.decode())
        assert secret is not None
        endpoint = WebhookEndpoint.objects.get(account=world.a_child)
        assert endpoint.secret() == secret.group(1)
        # Never again: not on the page, nor in the audit trail.
        again = client_as(world, persona).get(page(world)).content.decode()
        assert secret.group(1) not in again
        assert endpoint.secret_display in again
        audit = AuditEvent.objects.get(action="webhook.created")
        assert secret.group(1) not in str(audit.changes)
    else:
        assert response.status_code == (403 if persona in READERS else 404)
        assert not WebhookEndpoint.objects.exists()


def test_an_invalid_url_is_the_form_again_with_422(world):
    response = client_as(world, "a_admin").post(page(world) + "new/", {"url": "ftp://x.example"})

    assert response.status_code == 422
    assert "http://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("persona", READERS + STRANGERS)
def test_who_deletes_a_webhook(world, persona):
    endpoint, _ = create_endpoint(world.a_child, url="http://127.0.0.1:1/h", actor=None)

    response = client_as(world, persona).post(f"/webhooks/{endpoint.pk}/delete/")

    if persona in MANAGERS:
        assert response.status_code == 303
        assert not WebhookEndpoint.objects.exists()
        assert AuditEvent.objects.filter(action="webhook.deleted").exists()
    else:
        assert response.status_code == (403 if persona in READERS else 404)
        assert WebhookEndpoint.objects.exists()


def test_send_test_button_delivers_and_logs_it(world, receiver, django_capture_on_commit_callbacks):
    endpoint, _ = create_endpoint(world.a_child, url=receiver.url, actor=None)
    client = client_as(world, "tenant_user")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/webhooks/{endpoint.pk}/test/")

    assert response.status_code == 303
    assert [got.json["type"] for got in receiver.received] == ["webhook.test"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "succeeded"
    body = client.get(page(world)).content.decode()
    assert delivery.event_id in body
    assert "HTTP 200" in body


@pytest.mark.parametrize("persona", ["a_viewer", "a_support", "b_owner"])
def test_send_test_is_refused_to_others(world, persona):
    endpoint, _ = create_endpoint(world.a_child, url="http://127.0.0.1:1/h", actor=None)

    response = client_as(world, persona).post(f"/webhooks/{endpoint.pk}/test/")

    assert response.status_code == (404 if persona == "b_owner" else 403)
    assert not WebhookDelivery.objects.exists()
