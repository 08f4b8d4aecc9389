"""The audit log page: scoped to the person's accounts, filtered, cursor-paginated, htmx-swapped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants import audit
from tenants.models import AuditEvent
from tenants.views.pagination import PAGE_SIZE
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(pages):
    audit.record("account.updated", actor=pages.a_owner, account=pages.a_child)
    audit.record("member.invited", actor=pages.a_admin, account=pages.a_grandchild)
    audit.record("account.suspended", actor=pages.a_owner, account=pages.a_sibling)
    audit.record("account.updated", actor=pages.b_owner, account=pages.b_child)
    audit.record("account.reactivated", actor=pages.staff, account=pages.a_child)


def actions(response) -> list[tuple[str, str]]:
    return [(event.action, event.account.name) for event in response.context["page"].items]


def test_a_partner_member_reads_its_subtrees_events_only(pages, client_for, events):
    found = actions(client_for("a_viewer").get("/audit/"))
    assert ("account.updated", "B Child") not in found
    assert ("account.updated", "A Child") in found
    assert ("member.invited", "A Grandchild") in found


def test_a_tenant_user_reads_its_own_trail_only(pages, client_for, events):
    found = actions(client_for("tenant_user").get("/audit/"))
    assert {name for _, name in found} == {"A Child", "A Grandchild"}


def test_the_account_filter_includes_sub_tenants(pages, client_for, events):
    response = client_for("a_owner").get(f"/audit/?account={pages.a_child.public_id}")
    assert {name for _, name in actions(response)} == {"A Child", "A Grandchild"}
    assert "Activity of A Child" in response.content.decode()


def test_a_foreign_account_in_the_filter_shows_nothing_and_says_so(pages, client_for, events):
    response = client_for("b_owner").get(f"/audit/?account={pages.a_child.public_id}")
    assert response.status_code == 200
    assert actions(response) == []
    assert "No account with that id among those you can see." in response.content.decode()


def test_action_filter_matches_a_prefix(pages, client_for, events):
    response = client_for("a_owner").get("/audit/?action=member.")
    assert actions(response) == [("member.invited", "A Grandchild")]


def test_actor_filter_matches_part_of_the_label(pages, client_for, events):
    response = client_for("a_owner").get("/audit/?actor=a_adm")
    assert actions(response) == [("member.invited", "A Grandchild")]


def test_date_range_filters_whole_days(pages, client_for, events):
    today = timezone.now().date()
    client = client_for("a_owner")
    assert actions(client.get(f"/audit/?since={today}&until={today}"))
    tomorrow = today + timedelta(days=1)
    assert actions(client.get(f"/audit/?since={tomorrow}")) == []
    bad = client.get(f"/audit/?since={tomorrow}&until={today}")
    assert "The start date is after the end date." in bad.content.decode()
    assert client.get("/audit/?since=not-a-date").status_code == 200


def test_htmx_gets_only_the_results(pages, client_for, events):
    response = client_for("a_owner").get("/audit/?action=account.", headers=HTMX)
    body = response.content.decode().strip()
    assert body.startswith('<section id="results"')
    assert "<form" not in body


def test_the_log_pages_by_cursor_with_bounded_queries_and_no_count(
    pages, client_for, django_assert_max_num_queries
):
    for _ in range(PAGE_SIZE + 10):
        audit.record("account.updated", actor=pages.a_owner, account=pages.a_child)
    client = client_for("a_owner")
    first = client.get("/audit/")
    assert len(first.context["page"].items) == PAGE_SIZE
    with django_assert_max_num_queries(5) as captured:
        second = client.get("/audit/", {"after": first.context["page"].after}, headers=HTMX)
    # The partners' "account.created" events are in A's log too.
    total = AuditEvent.objects.filter(account__path__startswith=pages.partner_a.path).count()
    assert len(second.context["page"].items) == total - PAGE_SIZE
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
