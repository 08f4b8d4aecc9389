"""Management API: /webhooks/ (list, create, delete, test) and /webhook-deliveries/."""

from __future__ import annotations

import pytest

from tenants.alerts.models import WebhookDelivery, WebhookEndpoint
from tenants.alerts.webhooks import create_endpoint, queue_event
from tests.api.conftest import PREFIX, client_for, error_of, token_client
from tests.factories import make_world

pytestmark = pytest.mark.django_db

READERS = ("a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "staff")
MANAGERS = ("a_owner", "a_admin", "tenant_user", "staff")
STRANGERS = ("b_owner", "outsider")


@pytest.fixture
def world():
    return make_world()


@pytest.mark.parametrize("persona", READERS + STRANGERS + ("anonymous",))
def test_list_and_fetch_by_persona(world, persona):
    endpoint, secret = create_endpoint(world.a_child, url="http://127.0.0.1:1/h", actor=None)
    client = client_for(world, persona)

    listed = client.get(f"{PREFIX}/webhooks/")
    fetched = client.get(f"{PREFIX}/webhooks/{endpoint.pk}/")

    if persona in READERS:
        assert [row["id"] for row in listed.json()["results"]] == [endpoint.pk]
        assert fetched.status_code == 200
        assert fetched.json()["secret"] == endpoint.secret_display
        assert secret not in listed.content.decode() + fetched.content.decode()
    elif persona == "anonymous":
        assert listed.status_code == 401
    else:
        assert listed.json()["results"] == []
        assert error_of(fetched) == (404, "NOT_FOUND")


@pytest.mark.parametrize("persona", READERS + STRANGERS)
def test_create_by_persona_shows_the_secret_once(world, persona):
    client = client_for(world, persona)

    response = client.post(
        f"{PREFIX}/webhooks/",
        {"account": world.a_child.public_id, "url": "http://127.0.0.1:1/h"},
        format="json",
    )

    if persona in MANAGERS:
        assert response.status_code == 201
        assert response["Cache-Control"] == "no-store"
        secret = response.json()["secret"]
        endpoint = WebhookEndpoint.objects.get()
        assert secret.startswith("whsec_")
        assert endpoint.secret() == secret
        again = client.get(f"{PREFIX}/webhooks/{endpoint.pk}/").content.decode()
        assert secret not in again
    else:
        assert error_of(response)[0] == (403 if persona in READERS else 404)
        assert not WebhookEndpoint.objects.exists()


def test_create_refuses_a_non_http_url(world):
    response = client_for(world, "a_admin").post(
        f"{PREFIX}/webhooks/",
        {"account": world.a_child.public_id, "url": "gopher://x.example/"},
        format="json",
    )

    assert error_of(response) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("persona", READERS + STRANGERS)
def test_delete_by_persona(world, persona):
    endpoint, _ = create_endpoint(world.a_child, url="http://127.0.0.1:1/h", actor=None)

    response = client_for(world, persona).delete(f"{PREFIX}/webhooks/{endpoint.pk}/")

    if persona in MANAGERS:
        assert response.status_code == 204
        assert not WebhookEndpoint.objects.exists()
    else:
        assert error_of(response)[0] == (403 if persona in READERS else 404)
        assert WebhookEndpoint.objects.exists()


def test_send_test_and_read_the_deliveries(world, receiver, django_capture_on_commit_callbacks):
    endpoint, _ = create_endpoint(world.a_child, url=receiver.url, actor=None)
    client = client_for(world, "tenant_user")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{PREFIX}/webhooks/{endpoint.pk}/test/")
    assert response.status_code == 202
    assert response.json()["event"] == "webhook.test"

    deliveries = client.get(f"{PREFIX}/webhook-deliveries/", {"webhook": endpoint.pk}).json()
    (row,) = deliveries["results"]
    assert row["status"] == "succeeded"
    assert row["attempt_log"][0]["status_code"] == 200
    assert len(receiver.received) == 1


@pytest.mark.parametrize("persona", READERS + STRANGERS)
def test_deliveries_by_persona(world, persona):
    endpoint, _ = create_endpoint(world.a_child, url="http://127.0.0.1:1/h", actor=None)
    delivery = queue_event(endpoint, "webhook.test", {})

    client = client_for(world, persona)
    listed = client.get(f"{PREFIX}/webhook-deliveries/").json()["results"]
    fetched = client.get(f"{PREFIX}/webhook-deliveries/{delivery.pk}/")

    if persona in READERS:
        assert [row["event_id"] for row in listed] == [delivery.event_id]
        assert fetched.status_code == 200
    else:
        assert listed == []
        assert error_of(fetched) == (404, "NOT_FOUND")
    assert WebhookDelivery.objects.count() == 1


def test_tokens_need_the_star_scope_and_stay_in_their_subtree(world):
    create_endpoint(world.a_child, url="http://127.0.0.1:1/h", actor=None)
    create_endpoint(world.a_sibling, url="http://127.0.0.1:1/s", actor=None)

    narrow = token_client(world.a_child, "user:list")
    assert error_of(narrow.get(f"{PREFIX}/webhooks/"))[0] == 403

    child = token_client(world.a_child, "*")
    urls = [row["url"] for row in child.get(f"{PREFIX}/webhooks/").json()["results"]]
    assert urls == ["http://127.0.0.1:1/h"]
    created = child.post(
        f"{PREFIX}/webhooks/",
        {"account": world.a_grandchild.public_id, "url": "http://127.0.0.1:1/g"},
        format="json",
    )
    assert created.status_code == 201
    outside = child.post(
        f"{PREFIX}/webhooks/",
        {"account": world.a_sibling.public_id, "url": "http://127.0.0.1:1/x"},
        format="json",
    )
    assert error_of(outside)[0] == 404
