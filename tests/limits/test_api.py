"""Plans and account limits over the management API: who may do what, and what it changes."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.models import AuditEvent, Plan
from tests.api.conftest import PREFIX, client_for
from tests.factories import World, make_world

pytestmark = pytest.mark.django_db

PLAN = {"name": "Starter", "messages": 1000, "tokens": 500000, "conversations": 100, "rpm": 60}


@pytest.fixture
def world():
    return make_world()


def _create_plan(world: World, persona: str = "a_admin", **body: Any) -> Any:
    return client_for(world, persona).post(
        f"{PREFIX}/plans/", {"partner": world.partner_a.public_id, **PLAN, **body}, format="json"
    )


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("a_owner", 201),
        ("a_admin", 201),
        ("a_support", 403),
        ("a_viewer", 403),
        ("tenant_user", 404),
        ("b_owner", 404),
        ("outsider", 404),
        ("staff", 201),
        ("anonymous", 401),
    ],
)
def test_partner_admins_create_plans(world, persona, status):
    response = _create_plan(world, persona)
    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["messages"] == 1000
        assert AuditEvent.objects.filter(action="plan.created").count() == 1
    else:
        assert not Plan.objects.exists()


def test_a_plan_is_seen_only_by_its_partners_people(world):
    plan_id = _create_plan(world).json()["id"]
    listed = client_for(world, "a_viewer").get(f"{PREFIX}/plans/").json()
    assert [item["id"] for item in listed["results"]] == [plan_id]
    for persona in ("tenant_user", "b_owner"):
        assert client_for(world, persona).get(f"{PREFIX}/plans/").json()["results"] == []
        assert client_for(world, persona).get(f"{PREFIX}/plans/{plan_id}/").status_code == 404


def test_a_plan_update_changes_its_limits_and_is_audited(world):
    plan_id = _create_plan(world).json()["id"]
    response = client_for(world, "a_admin").patch(
        f"{PREFIX}/plans/{plan_id}/", {"messages": None, "rpm": 120}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["messages"], response.json()["rpm"]) == (None, 120)
    event = AuditEvent.objects.get(action="plan.updated")
    assert event.changes == {
        "messages": {"before": 1000, "after": None},
        "rpm": {"before": 60, "after": 120},
    }


def test_plan_limits_must_be_whole_numbers(world):
    response = _create_plan(world, messages=-1)
    assert response.status_code == 400
    assert _create_plan(world, rpm="fast").status_code == 400
    assert _create_plan(world, burst=3).status_code == 400


def test_an_admin_above_sets_a_tenants_plan_and_rate(world):
    plan_id = _create_plan(world).json()["id"]
    url = f"{PREFIX}/accounts/{world.a_child.public_id}/limits/"
    response = client_for(world, "a_admin").patch(url, {"plan": plan_id, "rpm": 10}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["plan"]["id"] == plan_id
    assert body["effective"] == {
        "messages": 1000,
        "tokens": 500000,
        "conversations": 100,
        "rpm": 10,  # the account's own, over the plan's 60
    }
    event = AuditEvent.objects.get(action="account.limits_changed")
    assert event.changes["rpm"] == {"before": None, "after": 10}
    # The tenant's own people read their limits...
    assert client_for(world, "tenant_user").get(url).json()["effective"]["rpm"] == 10


def test_a_tenant_cannot_raise_its_own_limits(world):
    url = f"{PREFIX}/accounts/{world.a_child.public_id}/limits/"
    # tenant_user owns a_child: an owner of the account, but nothing above it.
    response = client_for(world, "tenant_user").patch(url, {"rpm": 100000}, format="json")
    assert response.status_code == 404  # a_child's parent is invisible to them
    grandchild = f"{PREFIX}/accounts/{world.a_grandchild.public_id}/limits/"
    assert (
        client_for(world, "tenant_user").patch(grandchild, {"rpm": 5}, format="json").status_code
        == 200
    )


def test_another_partners_plan_cannot_be_picked(world):
    plan = Plan.objects.create(partner=world.partner_b, name="B plan", messages=1)
    url = f"{PREFIX}/accounts/{world.a_child.public_id}/limits/"
    response = client_for(world, "a_admin").patch(url, {"plan": plan.pk}, format="json")
    assert response.status_code == 400
    world.a_child.refresh_from_db()
    assert world.a_child.plan is None


def test_a_partners_own_limits_are_the_operators(world):
    url = f"{PREFIX}/accounts/{world.partner_a.public_id}/limits/"
    assert client_for(world, "a_owner").patch(url, {"rpm": 5}, format="json").status_code == 403
    assert client_for(world, "staff").patch(url, {"rpm": 5}, format="json").status_code == 200
