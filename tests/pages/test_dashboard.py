"""The dashboard (``/``): counts and recent activity of what the person reaches."""

from __future__ import annotations

import pytest

from tenants import audit
from tenants.models import Account, Invitation
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def test_a_partner_owner_sees_counts_of_its_own_tree(pages, client_for):
    Account.objects.filter(pk=pages.a_sibling.pk).update(status=Account.Status.SUSPENDED)
    Invitation.objects.create(
        account=pages.a_child,
        email="p@x.example",
        role="viewer",
        token_hash="z" * 64,
        expires_at="2999-01-01T00:00Z",
    )
    audit.record("account.updated", actor=pages.a_owner, account=pages.a_child)
    audit.record("account.updated", actor=pages.b_owner, account=pages.b_child)
    response = client_for("a_owner").get("/")
    context = response.context
    assert context["tenant_total"] == 3
    assert ("Suspended", "suspended", 1) in context["statuses"]
    assert context["pending_invitations"] == 1
    # a_owner, a_admin, a_support, a_viewer on A; tenant_user and child_viewer on A's child.
    assert context["member_total"] == 6
    body = response.content.decode()
    assert "A Child" in body
    assert "B Child" not in body
    assert "Partner B" not in body


def test_staff_see_every_partner_with_its_upstream_but_never_a_secret(pages, client_for):
    body = client_for("staff").get("/").content.decode()
    assert "Partner A" in body
    assert "Partner B" in body
    assert pages.partner_a.upstream_secret_display in body
    assert "sk-" + "0" * 4 not in body  # a smoke check; the real value is never loaded here


def test_an_outsider_sees_an_empty_dashboard_that_says_what_to_do(pages, client_for):
    response = client_for("outsider").get("/")
    assert response.context["tenant_total"] == 0
    assert "Ask a partner's admin to invite you" in response.content.decode()


def test_the_dashboard_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_the_dashboard_query_count_is_bounded(pages, client_for, django_assert_max_num_queries):
    client = client_for("a_owner")
    client.get("/")
    with django_assert_max_num_queries(10):
        assert client.get("/", headers=HTMX).status_code == 200
