"""The audit log over the management API: read-only, scoped, filterable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tenants.models import AuditEvent
from tenants.services import suspend_account, update_account
from tests.api.conftest import PERSONAS, PREFIX, client_for, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(world):
    """One event on each of A's sibling, A's grandchild and B's partner."""
    return {
        "a_sibling": suspend_account(world.a_sibling, actor=world.a_admin, reason="late"),
        "a_grandchild": suspend_account(world.a_grandchild, actor=world.tenant_user),
        "partner_b": update_account(world.partner_b, actor=world.b_owner, name="B renamed"),
    }


def listed(client, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"{PREFIX}/audit-events/{query}")
    assert response.status_code == 200, response.json()
    results: list[dict[str, Any]] = response.json()["results"]
    return results


# Partners have an event each too: their creation.
SEES = {
    "a_owner": {"partner_a", "a_sibling", "a_grandchild"},
    "a_admin": {"partner_a", "a_sibling", "a_grandchild"},
    "a_support": {"partner_a", "a_sibling", "a_grandchild"},
    "a_viewer": {"partner_a", "a_sibling", "a_grandchild"},
    "tenant_user": {"a_grandchild"},
    "b_owner": {"partner_b"},
    "outsider": set(),
    "staff": {"partner_a", "a_sibling", "a_grandchild", "partner_b"},
}


@pytest.mark.parametrize(("persona", "seen"), SEES.items())
def test_each_persona_reads_the_trail_of_the_accounts_it_reaches(world, events, persona, seen):
    accounts = {item["account"] for item in listed(client_for(world, persona))}
    assert accounts == {getattr(world, name).public_id for name in seen}


@pytest.mark.parametrize("persona", PERSONAS)
def test_fetching_one_event_is_scoped(world, events, persona):
    event = AuditEvent.objects.get(account=world.a_sibling)
    response = client_for(world, persona).get(f"{PREFIX}/audit-events/{event.pk}/")
    if persona == "anonymous":
        assert error_of(response) == (401, "NOT_AUTHENTICATED")
    elif "a_sibling" in SEES[persona]:
        body = response.json()
        assert (body["action"], body["changes"]["reason"]) == ("account.suspended", "late")
        assert body["actor"].startswith("a_admin")
    else:
        assert error_of(response) == (404, "NOT_FOUND")


def test_the_trail_is_newest_first_and_filters_by_account_action_actor_and_date(world, events):
    client = client_for(world, "staff")
    everything = listed(client)
    assert [item["id"] for item in everything] == sorted(
        (item["id"] for item in everything), reverse=True
    )
    by_account = listed(client, f"?account={world.a_sibling.public_id}")
    assert {item["account"] for item in by_account} == {world.a_sibling.public_id}
    assert {item["action"] for item in listed(client, "?action=account.updated")} == {
        "account.updated"
    }
    assert len(listed(client, "?action=account.")) == len(everything)
    assert {item["account"] for item in listed(client, "?actor=b_owner")} == {
        world.partner_b.public_id
    }
    assert {item["account"] for item in listed(client, "?actor=B_OWNER@people.example")} == {
        world.partner_b.public_id
    }
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    assert listed(client, f"?since={tomorrow.replace('+', '%2B')}") == []
    assert len(listed(client, f"?until={tomorrow.replace('+', '%2B')}")) == len(everything)


def test_bad_filters_are_400_and_foreign_accounts_404(world, events):
    client = client_for(world, "a_owner")
    response = client.get(f"{PREFIX}/audit-events/?since=yesterday")
    assert error_of(response) == (400, "BAD_REQUEST")
    assert "since" in response.json()["message"]
    response = client.get(f"{PREFIX}/audit-events/?account={world.partner_b.public_id}")
    assert error_of(response) == (404, "NOT_FOUND")


@pytest.mark.parametrize("method", ["post", "patch", "delete", "put"])
def test_the_audit_log_cannot_be_written_through_the_api(world, events, method):
    event = AuditEvent.objects.get(account=world.a_sibling)
    url = f"{PREFIX}/audit-events/" if method == "post" else f"{PREFIX}/audit-events/{event.pk}/"
    response = getattr(client_for(world, "staff"), method)(url, {"action": "x"})
    assert error_of(response) == (405, "METHOD_NOT_ALLOWED")
    assert AuditEvent.objects.get(pk=event.pk).action == "account.suspended"
