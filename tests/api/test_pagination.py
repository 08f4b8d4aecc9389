"""Cursor pages: every row once, a bounded number of queries, fast with 10,000 accounts."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from tenants.models import Account, Role
from tenants.services import invite_member, suspend_account
from tests.api.conftest import PREFIX, client_for
from tests.factories import make_member, make_tenant, make_user

pytestmark = pytest.mark.django_db


def walk(client, url: str) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        items += response.json()["results"]
        url = response.json()["next"]
        pages += 1
    return items, pages


def test_walking_the_cursor_returns_each_account_once_in_id_order(world):
    for _ in range(12):
        make_tenant(world.a_child)
    items, pages = walk(client_for(world, "a_owner"), f"{PREFIX}/accounts/?take=5")
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 16
    assert pages == 4
    pks = list(Account.objects.filter(public_id__in=ids).order_by("pk").values_list("public_id"))
    assert ids == [pk for (pk,) in pks]


def test_a_previous_link_leads_back(world):
    for _ in range(6):
        make_tenant(world.partner_a)
    client = client_for(world, "a_owner")
    first = client.get(f"{PREFIX}/accounts/?take=4").json()
    second = client.get(first["next"]).json()
    assert client.get(second["previous"]).json()["results"] == first["results"]


def grow(world, size: int) -> None:
    """``size`` more of every kind of row the lists show, in A's tree."""
    for number in range(size):
        tenant = make_tenant(world.a_child)
        make_member(make_user(), tenant, Role.VIEWER)
        suspend_account(tenant, actor=world.a_admin)
        invite_member(tenant, email=f"p{number}@x.example", role=Role.VIEWER, actor=world.a_owner)


@pytest.mark.parametrize(
    "path",
    ["accounts/", "memberships/", "invitations/", "audit-events/", "accounts/{a_child}/subtree/"],
)
def test_list_pages_take_a_bounded_number_of_queries_whatever_their_length(
    world, path, django_assert_max_num_queries
):
    client = client_for(world, "a_owner")
    url = f"{PREFIX}/{path.format(a_child=world.a_child.public_id)}?take=100"
    grow(world, 3)
    with django_assert_max_num_queries(6):
        short = client.get(url)
    grow(world, 30)
    with django_assert_max_num_queries(6):
        long = client.get(url)
    assert len(long.json()["results"]) > len(short.json()["results"]) >= 3


def cursor_after(pk: int) -> str:
    """The cursor a ``next`` link holds after the row ``pk`` (DRF's encoding)."""
    return base64.b64encode(f"p={pk}".encode()).decode()


def test_pages_stay_fast_with_ten_thousand_accounts(world, django_assert_max_num_queries):
    parent = world.a_sibling
    tenants = Account.objects.bulk_create(
        Account(public_id=f"usr_bulk{n}", parent=parent, slug=f"bulk-{n}", name=f"Bulk {n}")
        for n in range(10_000)
    )
    for tenant in tenants:
        tenant.path = f"{parent.path}{tenant.pk}/"
    Account.objects.bulk_update(tenants, ["path"], batch_size=1000)
    deep = Account.objects.get(public_id="usr_bulk9900").pk
    # The tenant user's two accounts are the oldest rows: its pages pass 10,000 others.
    for persona, first_count, deep_count in (
        ("a_owner", 100, 99),
        ("staff", 100, 99),
        ("tenant_user", 2, 0),
    ):
        client = client_for(world, persona)
        started = time.perf_counter()
        with django_assert_max_num_queries(4):
            first = client.get(f"{PREFIX}/accounts/?take=100")
        with django_assert_max_num_queries(4):
            late = client.get(f"{PREFIX}/accounts/?take=100&cursor={cursor_after(deep)}")
        with django_assert_max_num_queries(4):
            client.get(f"{PREFIX}/accounts/?take=100&search=bulk 99")
        elapsed = time.perf_counter() - started
        assert len(first.json()["results"]) == first_count
        assert len(late.json()["results"]) == deep_count
        assert elapsed < 3.0, (persona, elapsed)
