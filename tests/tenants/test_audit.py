"""The audit log is append-only, read-only in the admin, and never holds a secret."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import RequestFactory

from tenants import audit
from tenants.audit import RequestContext
from tenants.models import AuditEvent, AuditLogIsAppendOnly
from tests.factories import make_partner, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    partner = make_partner("Audited")
    return audit.record(
        "account.updated",
        actor=make_user("alice"),
        account=partner,
        changes={"name": {"before": "Old", "after": "Audited"}},
        context=RequestContext(request_id="req-1", ip="203.0.113.7"),
    )


def test_it_records_who_did_what_where_and_from_which_request(event):
    assert event.action == "account.updated"
    assert event.actor_label == "alice <alice@people.example>"
    assert event.target_type == "account"
    assert event.target_id == event.account.public_id
    assert event.changes == {"name": {"before": "Old", "after": "Audited"}}
    assert (event.request_id, event.ip) == ("req-1", "203.0.113.7")


def test_an_event_cannot_be_saved_again(event):
    event.action = "account.rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "account.updated"


def test_an_event_cannot_be_deleted(event):
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_queryset_refuses_bulk_update_and_delete(event):
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditLogIsAppendOnly), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["action"])
    assert AuditEvent.objects.get(pk=event.pk).action == "account.updated"


def test_the_admin_can_read_but_not_add_change_or_delete(event):
    model_admin = admin.site._registry[AuditEvent]
    request = RequestFactory().get("/admin/")
    request.user = make_user("root", staff=True)
    request.user.is_superuser = True
    assert model_admin.has_view_permission(request, event)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_the_admin_pages_show_events_and_refuse_to_change_them(client, event):
    root = make_user("root", staff=True)
    root.is_superuser = True
    root.save()
    client.force_login(root)
    assert client.get("/admin/tenants/auditevent/").status_code == 200
    change_url = f"/admin/tenants/auditevent/{event.pk}/change/"
    assert client.get(change_url).status_code == 200  # a read-only view
    assert client.post(change_url, {"action": "forged"}).status_code == 403
    assert client.post(f"/admin/tenants/auditevent/{event.pk}/delete/").status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "account.updated"


def test_a_system_change_has_no_actor_and_says_system():
    event = audit.record("account.created", actor=None, account=make_partner())
    assert event.actor is None
    assert event.actor_label == "system"


def test_deleting_a_person_keeps_their_history(event):
    event.actor.delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert kept.actor is None
    assert kept.actor_label == "alice <alice@people.example>"


def test_secret_named_keys_are_dropped_and_credential_shaped_values_masked():
    changes = {
        "upstream_secret": "sk-abcdefghijklmnop",
        "token": "anything",
        "nested": {"apiKey": "x", "note": "uses sk-abcdefghijklmnop now", "ok": 1},
        "list": ["Bearer abc.def", "plain"],
        "password": "hunter2",
    }
    event = audit.record("account.updated", actor=None, account=make_partner(), changes=changes)
    assert event.changes == {
        "nested": {"note": "uses [redacted] now", "ok": 1},
        "list": ["Bearer [redacted]", "plain"],
    }


def test_the_request_context_reads_the_request_id_and_a_valid_ip_only():
    factory = RequestFactory()
    request = factory.get("/", HTTP_X_REQUEST_ID="abc-123", REMOTE_ADDR="198.51.100.4")
    assert RequestContext.from_request(request) == RequestContext("abc-123", "198.51.100.4")
    odd = factory.get("/", REMOTE_ADDR="not an ip")
    assert RequestContext.from_request(odd) == RequestContext("", None)
