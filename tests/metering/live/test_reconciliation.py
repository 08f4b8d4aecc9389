"""Nightly reconciliation against the sandbox's own usage/fetch, and the tasks on a real worker."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from portal.celery import app as celery_app
from tenants.metering.models import Reconciliation, UsageRollup
from tenants.metering.reconciliation import reconcile_account
from tenants.services import onboard_tenant
from tests.metering.live.helpers import events_of
from tests.processes import celery_worker, wait_for
from tests.proxy.conftest import auth, complete_body


def _fresh_tenant(world, name: str):
    # Its own upstream child: no other test's usage in the sandbox's counters.
    return onboard_tenant(parent=world.partner_a, name=name, email=f"{name}@a.example")


def _complete_through_the_portal(client, token: str, times: int) -> None:
    for number in range(times):
        answer = client.post(
            "/v1/conversation/complete", json=complete_body(f"q {number}"), headers=auth(token)
        )
        assert answer.status_code == 200, answer.text


def test_a_child_used_only_through_the_portal_reconciles_with_no_drift(world, client):
    tenant = _fresh_tenant(world, "recon-even")
    token = world.token(tenant)
    _complete_through_the_portal(client, token, 3)
    events_of(token, 3)

    row = reconcile_account(tenant.pk)

    assert row is not None
    assert row.upstream_tokens == row.portal_tokens > 0
    assert row.upstream_messages == row.portal_messages == 3
    assert (row.drift_tokens, row.drift_messages, row.drift_conversations) == (0, 0, 0)
    assert row.flagged is False
    assert row.period_start == timezone.now().replace(
        day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=dt.UTC
    )


def test_conversations_created_with_messages_and_stateful_turns_reconcile_with_no_drift(
    world, client
):
    # The upstream counts every message it stores: the ones a conversation is created with,
    # and a stateful turn's text and reply (two). The portal counts the same units.
    tenant = _fresh_tenant(world, "recon-stateful")
    token = world.token(tenant)
    created = client.post(
        "/v1/conversation/create",
        json={"messages": [{"type": "user", "text": "a"}, {"type": "bot", "text": "b"}]},
        headers=auth(token),
    )
    assert created.status_code == 200, created.text
    path = f"/v1/conversation/{created.json()['id']}"
    with_text = client.post(f"{path}/complete", json={"text": "next"}, headers=auth(token))
    without_text = client.post(f"{path}/complete", json={}, headers=auth(token))
    assert (with_text.status_code, without_text.status_code) == (200, 200), without_text.text
    events = events_of(token, 3)
    assert [(event.messages, event.conversations) for event in events] == [(2, 1), (2, 0), (1, 0)]

    row = reconcile_account(tenant.pk)

    assert row is not None
    assert row.upstream_messages == row.portal_messages == 5
    assert row.upstream_conversations == row.portal_conversations == 1
    assert (row.drift_tokens, row.drift_messages, row.drift_conversations) == (0, 0, 0)


def test_usage_the_portal_did_not_see_is_stored_as_drift_and_flagged(world, client, caplog):
    tenant = _fresh_tenant(world, "recon-drift")
    token = world.token(tenant)
    _complete_through_the_portal(client, token, 2)
    events_of(token, 2)
    reconcile_account(tenant.pk)
    # The partner's secret used directly, as the child: the upstream counts it, the portal not.
    with world.upstream(world.parent_a, tenant.public_id) as upstream:
        direct = upstream.post("/v1/conversation/complete", json=complete_body("behind"))
    assert direct.status_code == 200

    row = reconcile_account(tenant.pk)

    assert row is not None
    assert Reconciliation.objects.filter(account=tenant).count() == 1  # a re-run replaces it
    assert row.drift_messages == -1
    assert row.drift_tokens == -direct.json()["usage"]["token"]
    assert row.flagged is True
    assert any("usage drift" in record.getMessage() for record in caplog.records)


def test_a_child_the_upstream_does_not_know_is_flagged_with_the_error(world):
    tenant = _fresh_tenant(world, "recon-gone")
    with world.upstream(world.parent_a) as upstream:
        gone = upstream.post(f"/v1/partner/user/{tenant.public_id}/delete", json={})
    assert gone.status_code == 200

    row = reconcile_account(tenant.pk)

    assert row is not None
    assert row.flagged is True
    assert row.error
    assert row.upstream_tokens is None


def test_the_beat_tasks_run_on_a_real_worker(world, client):
    tenant = _fresh_tenant(world, "recon-worker")
    token = world.token(tenant)
    _complete_through_the_portal(client, token, 2)
    events_of(token, 2)
    rollups = UsageRollup.objects.filter(account=tenant, token_id="")
    reconciliations = Reconciliation.objects.filter(account=tenant)

    with celery_worker() as worker:
        try:
            # Sent through the portal's app by name: this process never made it the default.
            celery_app.send_task("tenants.metering.tasks.rollup_usage")
            wait_for(lambda: rollups.filter(granularity="day").exists(), 60, "the rollups")
            celery_app.send_task("tenants.metering.tasks.reconcile_usage")
            wait_for(reconciliations.exists, 60, "the reconciliation of the tenant")
        except AssertionError:
            worker.terminate()
            output = worker.stdout.read().decode() if worker.stdout else ""
            raise AssertionError(output[-4000:]) from None

    assert rollups.get(granularity="day").messages == 2
    assert sum(rollups.filter(granularity="hour").values_list("messages", flat=True)) == 2
    row = reconciliations.get()
    assert (row.drift_tokens, row.drift_messages, row.flagged) == (0, 0, False)
