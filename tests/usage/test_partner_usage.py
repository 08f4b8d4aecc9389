"""The partner usage page, its live feed of limit errors, and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.metering.partner_usage import utc_month
from tests.factories import make_tenant
from tests.pages.conftest import HTMX, PERSONAS
from tests.usage.factories import make_rejection, make_usage

# Whose tree the page shows by default.
ROOT = {
    "a_owner": "partner_a",
    "a_admin": "partner_a",
    "a_support": "partner_a",
    "a_viewer": "partner_a",
    "tenant_user": "a_child",
    "b_owner": "partner_b",
}


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_page_shows_the_tree_each_person_reaches(pages, client_for, persona):
    response = client_for(persona).get("/usage/")
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
        return
    assert response.status_code == 200
    html = response.content.decode()
    if persona == "outsider":
        assert "no account whose usage you can see" in html
    elif persona == "staff":
        assert "Partner A" in html
        assert "Partner B" in html  # every partner, one tab each
    else:
        root = getattr(pages, ROOT[persona])
        assert f"<h1>Usage of {root.name}</h1>" in html


@pytest.mark.parametrize("persona", ["b_owner", "outsider", "tenant_user"])
def test_naming_a_tree_out_of_reach_is_404(pages, client_for, persona):
    response = client_for(persona).get(f"/usage/?partner={pages.partner_a.public_id}")
    assert response.status_code == 404


def test_top_tenants_and_tenants_near_or_over_a_limit(pages, client_for):
    child, grandchild, sibling = pages.a_child, pages.a_grandchild, pages.a_sibling
    child.limits = {"messages": 100}
    child.save()
    sibling.limits = {"tokens": 1000}
    sibling.save()
    grandchild.limits = {"messages": 1000}
    grandchild.save()
    make_usage(child, messages=60, tokens=5_000)
    make_usage(pages.a_grandchild, messages=25, tokens=100)  # counts for a_child too: 85 %
    make_usage(pages.a_sibling, messages=1, tokens=1_500)  # 150 % of its tokens
    make_usage(pages.b_child, messages=99, tokens=99_999)  # another partner's
    html = client_for("a_viewer").get("/usage/").content.decode()

    top = re.findall(r'<tr class="top-tenant" data-account="([^"]+)"', html)
    assert top == [child.public_id, pages.a_sibling.public_id, pages.a_grandchild.public_id]
    near = re.findall(
        r'<tr class="near-limit( over)?" data-account="([^"]+)" data-unit="(\w+)"', html
    )
    assert (" over", pages.a_sibling.public_id, "tokens") in near
    assert ("", child.public_id, "messages") in near
    assert len(near) == 2
    assert pages.b_child.public_id not in html


def test_the_live_feed_polls_and_its_fragment_lists_limit_errors(pages, client_for):
    make_rejection(pages.a_grandchild, request_id="req-a-1")
    make_rejection(pages.a_child, error_code="TOO_MANY_REQUESTS", request_id="req-a-2")
    make_rejection(pages.a_child, status=500, error_code="BAD_GATEWAY", request_id="req-other")
    make_rejection(pages.a_child, timezone.now() - timedelta(days=3), request_id="req-old")
    make_rejection(pages.b_child, request_id="req-b")
    client = client_for("a_owner")
    page = client.get("/usage/").content.decode()
    assert 'hx-trigger="every 5s"' in page
    assert f'href="/usage/?partner={pages.partner_a.public_id}"' in page

    fragment = client.get(
        f"/usage/?partner={pages.partner_a.public_id}", headers={**HTMX, "HX-Target": "limit-feed"}
    ).content.decode()
    assert fragment.lstrip().startswith('<section id="limit-feed"')
    assert "<html" not in fragment
    assert fragment.count('<tr class="feed-row">') == 2
    for shown in ("req-a-1", "req-a-2"):
        assert shown in fragment
    for hidden in ("req-other", "req-old", "req-b"):
        assert hidden not in fragment


def test_the_csv_has_one_row_per_account_of_the_tree_from_the_rollups(pages, client_for):
    now = timezone.now()
    make_usage(pages.a_child, now, messages=5, tokens=50, conversations=1, requests=6, errors=1)
    make_usage(pages.a_child, now, messages=1, tokens=10, requests=1)  # same buckets: summed
    make_usage(pages.a_grandchild, now, messages=2, tokens=20, requests=2)
    make_usage(pages.a_child, now - timedelta(days=70), messages=1000)  # another month
    make_usage(pages.b_child, now, messages=9)
    response = client_for("a_admin").get(
        f"/usage/export.csv?partner={pages.partner_a.public_id}&period={utc_month(now)}"
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert rows[0] == [
        "account_id",
        "name",
        "parent_id",
        "messages",
        "tokens",
        "conversations",
        "requests",
        "errors",
    ]
    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {
        pages.partner_a.public_id,
        pages.a_child.public_id,
        pages.a_grandchild.public_id,
        pages.a_sibling.public_id,
    }
    assert by_id[pages.a_child.public_id] == [
        pages.a_child.public_id,
        "A Child",
        pages.partner_a.public_id,
        "6",
        "60",
        "1",
        "7",
        "1",
    ]
    assert by_id[pages.a_grandchild.public_id][2:4] == [pages.a_child.public_id, "2"]
    assert by_id[pages.a_sibling.public_id][3:] == ["0"] * 5
    assert by_id[pages.partner_a.public_id][2] == ""


def test_the_csv_of_a_tenant_user_is_its_own_subtree(pages, client_for):
    response = client_for("tenant_user").get(f"/usage/export.csv?partner={pages.a_child.public_id}")
    ids = {row[0] for row in csv_rows(response)[1:]}
    assert ids == {pages.a_child.public_id, pages.a_grandchild.public_id}


@pytest.mark.parametrize(
    ("persona", "status"),
    [("b_owner", 404), ("outsider", 404), ("tenant_user", 404), ("anonymous", 302)],
)
def test_the_csv_of_a_tree_out_of_reach_is_refused(pages, client_for, persona, status):
    response = client_for(persona).get(f"/usage/export.csv?partner={pages.partner_a.public_id}")
    assert response.status_code == status


def test_a_bad_period_is_400(pages, client_for):
    response = client_for("a_owner").get(
        f"/usage/export.csv?partner={pages.partner_a.public_id}&period=2026-13"
    )
    assert response.status_code == 400


def test_names_that_look_like_formulas_are_defused(pages, client_for):
    tenant = make_tenant(pages.partner_a, "=HYPERLINK(1)")
    response = client_for("a_owner").get(f"/usage/export.csv?partner={pages.partner_a.public_id}")
    names = {row[0]: row[1] for row in csv_rows(response)[1:]}
    assert names[tenant.public_id] == "'=HYPERLINK(1)"


def test_page_and_export_take_bounded_queries_with_hundreds_of_tenants(
    pages, client_for, django_assert_max_num_queries
):
    for number in range(300):
        tenant = make_tenant(pages.partner_a if number % 2 else pages.a_child)
        tenant.limits = {"messages": 100}
        tenant.save()
        make_usage(tenant, messages=number % 150, tokens=number)
        if number % 10 == 0:
            make_rejection(tenant)
    client = client_for("a_owner")
    client.get("/usage/")  # a process's first page fills its caches (brands): not this bound
    with django_assert_max_num_queries(15):
        page = client.get("/usage/")
    assert page.status_code == 200
    assert page.content.decode().count('<tr class="top-tenant"') == 10
    with django_assert_max_num_queries(10):
        feed = client.get("/usage/", headers={**HTMX, "HX-Target": "limit-feed"})
        assert feed.status_code == 200
    with django_assert_max_num_queries(10):
        response = client.get(f"/usage/export.csv?partner={pages.partner_a.public_id}")
        rows = csv_rows(response)
    assert len(rows) == 1 + 4 + 300
