"""``/api/v1/portal/accounts/{id}/usage/`` and ``…/usage/daily/``: personas, tokens, numbers."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.services import issue_token
from tests.api.conftest import PERSONAS, PREFIX, client_for, error_of
from tests.factories import make_world
from tests.usage.factories import make_usage

REACHES_A_CHILD = {"a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "staff"}
STATUS = {"anonymous": 401, "b_owner": 404, "outsider": 404}


@pytest.fixture
def world(db):
    cache.clear()
    return make_world()


def token_client(account, scopes) -> APIClient:
    raw = issue_token(account, name="usage", scopes=list(scopes), actor=None).plaintext
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize("suffix", ["usage/", "usage/daily/"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_viewers_and_up_read_usage_and_others_get_the_same_404(world, persona, suffix):
    response = client_for(world, persona).get(
        f"{PREFIX}/accounts/{world.a_child.public_id}/{suffix}"
    )
    if persona in REACHES_A_CHILD:
        assert response.status_code == 200, response.content
        assert response.json()["account"] == world.a_child.public_id
    else:
        status = STATUS[persona]
        assert error_of(response) == (
            status,
            {401: "NOT_AUTHENTICATED", 404: "NOT_FOUND"}[status],
        )


def test_the_period_totals_are_the_rollups_against_the_limits(world):
    child = world.a_child
    child.limits = {"messages": 40}
    child.save()
    now = timezone.now()
    make_usage(child, now, messages=10, tokens=100, conversations=2, requests=12, errors=1)
    make_usage(world.a_grandchild, now, messages=20, tokens=5, requests=20)
    make_usage(child, now - timedelta(days=70), messages=500)
    period = f"{now.year:04d}-{now.month:02d}"
    body = (
        client_for(world, "a_viewer")
        .get(f"{PREFIX}/accounts/{child.public_id}/usage/?period={period}")
        .json()
    )
    assert body["period"] == period
    assert body["own"] == {
        "messages": 10,
        "tokens": 100,
        "conversations": 2,
        "requests": 12,
        "errors": 1,
    }
    assert body["counted"]["messages"] == 30
    assert body["counted"]["requests"] == 32
    assert body["limits"] == {"messages": 40, "tokens": None, "conversations": None}
    assert body["percent"] == {"messages": 75, "tokens": None, "conversations": None}
    assert body["end"].startswith(f"{(now.replace(day=1) + timedelta(days=32)):%Y-%m}-01T00:00")


def test_a_past_period_and_a_bad_one(world):
    child = world.a_child
    past = timezone.now().astimezone(UTC).replace(day=15) - timedelta(days=62)
    make_usage(child, past, messages=7)
    client = client_for(world, "a_owner")
    key = f"{past.year:04d}-{past.month:02d}"
    body = client.get(f"{PREFIX}/accounts/{child.public_id}/usage/?period={key}").json()
    assert body["own"]["messages"] == 7
    bad = client.get(f"{PREFIX}/accounts/{child.public_id}/usage/?period=2026-1")
    assert bad.status_code == 400


def test_daily_points_come_from_the_daily_rollups(world):
    child = world.a_child
    today = timezone.now().astimezone(UTC)
    make_usage(child, today, messages=3, tokens=30)
    make_usage(child, today - timedelta(days=2), messages=1, errors=1)
    make_usage(world.a_grandchild, today, messages=100)  # its own account, not in a_child's
    client = client_for(world, "tenant_user")
    body = client.get(f"{PREFIX}/accounts/{child.public_id}/usage/daily/").json()
    assert len(body["points"]) == 30
    assert body["to"] == today.date().isoformat()
    last = body["points"][-1]
    assert last == {
        "date": today.date().isoformat(),
        "messages": 3,
        "tokens": 30,
        "conversations": 0,
        "requests": 0,
        "errors": 0,
    }
    assert body["points"][-3]["errors"] == 1
    first = (today - timedelta(days=2)).date().isoformat()
    ranged = client.get(
        f"{PREFIX}/accounts/{child.public_id}/usage/daily/?from={first}&to={today.date()}"
    ).json()
    assert [point["messages"] for point in ranged["points"]] == [1, 0, 3]
    assert (
        client.get(
            f"{PREFIX}/accounts/{child.public_id}/usage/daily/?from={today.date()}&to={first}"
        ).status_code
        == 400
    )
    assert (
        client.get(
            f"{PREFIX}/accounts/{child.public_id}/usage/daily/?from=2020-01-01&to=2026-01-01"
        ).status_code
        == 400
    )


def test_a_token_needs_usage_fetch_and_reaches_its_subtree_only(world):
    allowed = token_client(world.a_child, ["usage:fetch"])
    assert (
        allowed.get(f"{PREFIX}/accounts/{world.a_grandchild.public_id}/usage/").status_code == 200
    )
    assert (
        allowed.get(f"{PREFIX}/accounts/{world.a_child.public_id}/usage/daily/").status_code == 200
    )
    assert error_of(allowed.get(f"{PREFIX}/accounts/{world.a_sibling.public_id}/usage/")) == (
        404,
        "NOT_FOUND",
    )
    assert error_of(allowed.get(f"{PREFIX}/accounts/{world.b_child.public_id}/usage/")) == (
        404,
        "NOT_FOUND",
    )
    lacking = token_client(world.a_child, ["user:fetch"])
    assert error_of(lacking.get(f"{PREFIX}/accounts/{world.a_child.public_id}/usage/")) == (
        403,
        "NOT_AUTHORIZED",
    )


def test_the_daily_series_takes_a_bounded_number_of_queries(world, django_assert_max_num_queries):
    today = timezone.now()
    for offset in range(60):
        make_usage(world.a_child, today - timedelta(days=offset), messages=offset)
    client = client_for(world, "a_owner")
    with django_assert_max_num_queries(8):
        response = client.get(
            f"{PREFIX}/accounts/{world.a_child.public_id}/usage/daily/?from="
            f"{(today - timedelta(days=365)).date()}&to={today.date()}"
        )
    assert len(response.json()["points"]) == 366
