"""The tenants list: scoped to the person, searchable, filterable, keyset-paginated, htmx-swappable,
and a bounded number of queries (none of them a COUNT) however many tenants there are."""

from __future__ import annotations

import pytest
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from tenants.models import Account
from tenants.views.pagination import PAGE_SIZE
from tests.factories import make_tenant
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def many_tenants(parent: Account, count: int) -> None:
    """``count`` tenants under ``parent`` in two statements (paths set by one UPDATE)."""
    Account.objects.bulk_create(
        Account(
            public_id=f"usr_bulk{parent.pk}_{n}",
            parent=parent,
            slug=f"bulk-{n}",
            name=f"Bulk tenant {n:05d}",
            email=f"bulk{n}@tenants.example",
            path="",
        )
        for n in range(count)
    )
    Account.objects.filter(parent=parent, path="").update(
        path=Concat(Value(parent.path), Cast("pk", CharField()), Value("/"))
    )


def test_a_partner_member_sees_the_partners_tenants_and_no_others(pages, client_for):
    body = client_for("a_viewer").get("/tenants/").content.decode()
    for name in ("A Child", "A Grandchild", "A Sibling"):
        assert name in body
    assert "B Child" not in body
    assert "Partner B" not in body


def test_a_tenant_user_sees_its_account_and_subtree_but_not_its_partners_name(pages, client_for):
    body = client_for("tenant_user").get("/tenants/").content.decode()
    assert "A Child" in body
    assert "A Grandchild" in body
    assert "A Sibling" not in body
    assert "Partner A" not in body


def test_staff_see_the_tenants_of_every_partner(pages, client_for):
    body = client_for("staff").get("/tenants/").content.decode()
    assert "A Child" in body
    assert "B Child" in body


def test_search_matches_name_email_and_public_id(pages, client_for):
    make_tenant(pages.partner_a, "Zebra Inc", email="ops@zebra.example")
    client = client_for("a_owner")
    assert "Zebra Inc" in client.get("/tenants/?q=zebra").content.decode()
    assert "Zebra Inc" in client.get("/tenants/?q=ops@zebra").content.decode()
    by_id = client.get(f"/tenants/?q={pages.a_sibling.public_id}").content.decode()
    assert "A Sibling" in by_id
    assert "A Child" not in by_id


def test_the_status_filter_keeps_only_that_status(pages, client_for):
    Account.objects.filter(pk=pages.a_sibling.pk).update(status=Account.Status.SUSPENDED)
    body = client_for("a_owner").get("/tenants/?status=suspended").content.decode()
    assert "A Sibling" in body
    assert "A Child" not in body


def test_an_unknown_status_is_ignored_not_an_error(pages, client_for):
    response = client_for("a_owner").get("/tenants/?status=bogus&after=nonsense")
    assert response.status_code == 200


def test_htmx_gets_only_the_results_fragment(pages, client_for):
    response = client_for("a_owner").get("/tenants/?q=child", headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="results"')
    assert "<html" not in body
    assert "<form" not in body  # the filters stay on the page
    assert "A Child" in body


def test_the_page_without_htmx_is_whole_and_links_work_without_javascript(pages, client_for):
    many_tenants(pages.partner_a, PAGE_SIZE + 5)
    body = client_for("a_owner").get("/tenants/").content.decode()
    assert "<html" in body
    assert 'method="get" action="/tenants/"' in body
    assert 'href="?after=' in body  # the pager is a plain link beside its hx-get


def test_cursor_pages_walk_forward_and_back_without_gaps_or_repeats(pages, client_for):
    many_tenants(pages.partner_a, 2 * PAGE_SIZE + 7)
    client = client_for("a_owner")
    seen: list[str] = []
    after = ""
    pages_seen = []
    while True:
        response = client.get("/tenants/", {"after": after} if after else {})
        page = response.context["page"]
        pages_seen.append(page)
        seen.extend(item.public_id for item in page.items)
        if page.after is None:
            break
        after = str(page.after)
    expected = list(
        Account.objects.filter(path__startswith=pages.partner_a.path)
        .exclude(pk=pages.partner_a.pk)
        .order_by("-pk")
        .values_list("public_id", flat=True)
    )
    assert seen == expected
    assert len(pages_seen) == 3
    back = client.get("/tenants/", {"before": pages_seen[2].items[0].pk}).context["page"]
    assert [item.pk for item in back.items] == [item.pk for item in pages_seen[1].items]


def test_a_foreign_cursor_reaches_nothing_outside_the_persons_tenants(pages, client_for):
    body = client_for("b_owner").get(f"/tenants/?after={pages.a_child.pk + 1000}").content
    assert b"A Child" not in body


@pytest.mark.parametrize("persona", ["a_owner", "staff", "tenant_user"])
def test_the_list_takes_a_bounded_number_of_queries_and_never_counts_with_hundreds_of_tenants(
    pages, client_for, persona, django_assert_max_num_queries
):
    many_tenants(pages.partner_a, 300)
    many_tenants(pages.a_child, 50)
    client = client_for(persona)
    client.get("/tenants/")  # warm the session
    for query in ("", "?q=bulk", "?status=active", "?after=999999"):
        with django_assert_max_num_queries(6) as captured:
            response = client.get(f"/tenants/{query}", headers=HTMX)
        assert response.status_code == 200
        assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_list_stays_bounded_with_ten_thousand_tenants(
    pages, client_for, django_assert_max_num_queries
):
    many_tenants(pages.partner_a, 10_000)
    client = client_for("a_viewer")
    first = client.get("/tenants/")
    with django_assert_max_num_queries(6) as captured:
        response = client.get("/tenants/", {"after": first.context["page"].after})
    assert len(response.context["page"].items) == PAGE_SIZE
    sql = " ".join(q["sql"].upper() for q in captured.captured_queries)
    assert "COUNT(" not in sql
    assert "OFFSET" not in sql
