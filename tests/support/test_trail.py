"""The audit trail of a support session: one correlation id for its start, every page viewed,
every change, every upstream call and its end; and the lists where the tenant's people, the
partner's people and operators read it."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from tenants.models import AuditEvent, Role, SupportSession
from tenants.services import invite_member
from tenants.services.impersonation import (
    aaudit_upstream_call,
    audit_upstream_call,
    resume_impersonation,
    start_impersonation,
)
from tests.factories import make_member, make_user
from tests.support.conftest import HTMX, REASON, REASON_ON_PAGE, actions, logged_in, trail

pytestmark = pytest.mark.django_db


def page_views(session: SupportSession) -> list[dict[str, object]]:
    return [event.changes for event in trail(session) if event.action == "support.page_view"]


def test_starting_records_who_why_for_how_long_and_with_what(world, acting_client):
    client = acting_client("a_support", world.a_child)
    started = trail(client.support_session)[0]
    assert started.action == "support.started"
    assert started.actor == world.a_support
    assert started.account == world.a_child
    assert started.changes == {
        "reason": REASON,
        "ticket": "T-4711",
        "allow_changes": False,
        "minutes": 30,
        "acting_with": "support",
    }
    assert started.target_id == client.support_session.correlation_id


def test_every_page_view_is_one_event_with_the_sessions_correlation_id(world, acting_client):
    client = acting_client("a_support", world.a_child)
    session = client.support_session
    child = world.a_child.public_id
    client.get("/")
    client.get(f"/accounts/{child}/tokens/")
    client.get("/tenants/?q=grand")
    assert page_views(session) == [
        {"method": "GET", "path": "/", "status": 200},
        {"method": "GET", "path": f"/accounts/{child}/tokens/", "status": 200},
        {"method": "GET", "path": "/tenants/?q=grand", "status": 200},
    ]
    events = [e for e in trail(session) if e.action == "support.page_view"]
    assert {(e.actor_id, e.account_id) for e in events} == {(world.a_support.pk, world.a_child.pk)}


def test_refused_attempts_are_in_the_trail_too(world, acting_client):
    client = acting_client("a_support", world.a_child)
    client.post(f"/accounts/{world.a_child.public_id}/tokens/new/", {"name": "x"})
    client.get(f"/accounts/{world.a_sibling.public_id}/")
    assert [(view["method"], view["status"]) for view in page_views(client.support_session)] == [
        ("POST", 403),
        ("GET", 404),
    ]


def test_htmx_fragments_belong_to_their_page_but_boosted_navigation_is_a_page(world, acting_client):
    client = acting_client("a_support", world.a_child)
    client.get("/tenants/?q=A", headers=HTMX)
    assert page_views(client.support_session) == []
    client.get("/tenants/", headers={**HTMX, "HX-Boosted": "true"})
    assert len(page_views(client.support_session)) == 1


def test_a_changes_audit_event_carries_the_correlation_id(world, acting_client):
    client = acting_client("a_owner", world.a_child, allow_changes=True)
    client.post(
        f"/accounts/{world.a_child.public_id}/edit/",
        {"name": world.a_child.name, "email": "", "timezone": "Asia/Tokyo"},
    )
    assert actions(client.support_session) == [
        "support.started",
        "account.updated",
        "support.page_view",
    ]


def test_stopping_records_the_end_and_nothing_after_it(world, acting_client):
    client = acting_client("a_support", world.a_child)
    session = client.support_session
    client.get("/")
    response = client.post("/support/stop/")
    assert response.status_code == 303
    client.get("/")
    assert actions(session) == ["support.started", "support.page_view", "support.ended"]
    ended = trail(session)[-1]
    assert ended.actor == world.a_support
    assert ended.changes == {"end_reason": "stopped", "minutes": 0}


def test_upstream_calls_are_audited_with_the_correlation_id_and_no_secret(world):
    session = start_impersonation(world.a_admin, world.a_child, reason=REASON)
    acting = resume_impersonation(session.pk, world.a_admin).impersonation
    assert acting is not None
    event = audit_upstream_call(
        acting,
        action="conversation.complete",
        details={"botId": "bot_1", "status": 200, "authorization": "Bearer sk-abcdef0123456789"},
    )
    assert event.action == "support.upstream_call"
    assert event.correlation_id == session.correlation_id
    assert (event.actor, event.account, event.target_id) == (
        world.a_admin,
        world.a_child,
        "conversation.complete",
    )
    assert event.changes["call"] == "conversation.complete"
    assert event.changes["botId"] == "bot_1"
    assert "sk-abcdef0123456789" not in str(event.changes)


@pytest.mark.django_db(transaction=True)
def test_upstream_calls_can_be_audited_from_async_code(world):
    session = start_impersonation(world.a_admin, world.a_child, reason=REASON)
    acting = resume_impersonation(session.pk, world.a_admin).impersonation
    assert acting is not None

    async def audit() -> AuditEvent:
        try:
            return await aaudit_upstream_call(acting, action="bot.list", details={"items": 3})
        finally:
            # The write ran on asgiref's thread: close that thread's connection (PostgreSQL
            # will not drop a test database that is still in use).
            await sync_to_async(connections.close_all)()

    event = asyncio.run(audit())
    assert AuditEvent.objects.get(pk=event.pk).correlation_id == session.correlation_id


def test_an_invitation_links_token_never_reaches_the_trail(world, acting_client):
    _, token = invite_member(world.a_child, email="x@x.example", role=Role.VIEWER, actor=None)
    client = acting_client("a_support", world.a_child)
    client.get(f"/invitations/{token}/")
    assert token not in str(page_views(client.support_session))
    assert page_views(client.support_session) == [
        {"method": "GET", "path": "/invitations/…/", "status": 403}
    ]


# -- reading the trail ---------------------------------------------------------------------------


@pytest.fixture
def visited(world, acting_client) -> SupportSession:
    """a_support acted as A Child: viewed two pages, and an upstream call was audited."""
    client = acting_client("a_support", world.a_child)
    client.get("/")
    client.get(f"/accounts/{world.a_child.public_id}/usage/")
    acting = resume_impersonation(client.support_session.pk, world.a_support).impersonation
    assert acting is not None
    audit_upstream_call(acting, action="conversation.complete", details={"botId": "bot_7"})
    client.post("/support/stop/")
    session: SupportSession = client.support_session
    return session


def test_the_tenants_own_people_see_who_acted_as_them_when_why_and_what(world, visited):
    child_viewer = make_user("child_viewer")
    make_member(child_viewer, world.a_child, Role.VIEWER)
    for person in (world.tenant_user, child_viewer):
        page = logged_in(person).get(f"/accounts/{world.a_child.public_id}/support/")
        assert page.status_code == 200
        text = page.content.decode()
        assert "a_support" in text
        assert REASON_ON_PAGE in text
        assert "T-4711" in text
        assert "2 pages · 0 changes · 1 upstream call" in text
        assert f"/support/{visited.correlation_id}/" in text


def test_the_session_page_lists_each_page_change_and_upstream_call(world, visited):
    client = logged_in(world.tenant_user)
    url = f"/support/{visited.correlation_id}/"
    everything = client.get(url).content.decode()
    assert f"/accounts/{world.a_child.public_id}/usage/" in everything
    assert "support.upstream_call" in everything
    assert "bot_7" in everything
    pages = client.get(f"{url}?kind=pages").content.decode()
    assert "support.page_view" in pages
    assert "support.upstream_call" not in pages
    upstream = client.get(f"{url}?kind=upstream").content.decode()
    assert "bot_7" in upstream
    assert "support.page_view" not in upstream
    assert "No activity" in client.get(f"{url}?kind=changes").content.decode()


def test_people_outside_the_tenant_do_not_see_its_support_sessions(world, visited):
    sibling_owner = make_user("sibling_owner")
    make_member(sibling_owner, world.a_sibling, Role.OWNER)
    for person in (sibling_owner, world.b_owner, world.outsider):
        client = logged_in(person)
        assert client.get(f"/support/{visited.correlation_id}/").status_code == 404
        assert client.get(f"/accounts/{world.a_child.public_id}/support/").status_code == 404
        assert visited.correlation_id not in client.get("/support/").content.decode()
    assert Client().get(f"/support/{visited.correlation_id}/").status_code == 302


def test_partner_people_and_operators_list_every_session_below_them(world, visited):
    start_impersonation(world.staff, world.b_child, reason="B's webhook fails")
    for persona, sees in (("a_admin", {"A Child"}), ("staff", {"A Child", "B Child"})):
        text = logged_in(getattr(world, persona)).get("/support/").content.decode()
        assert ("A Child" in text) == ("A Child" in sees)
        assert ("B&#x27;s webhook fails" in text) == ("B Child" in sees)
    active = logged_in(world.staff).get("/support/?active=1").content.decode()
    assert "B&#x27;s webhook fails" in active
    assert REASON_ON_PAGE not in active


def test_the_support_list_reads_a_page_in_constant_queries(world, django_assert_max_num_queries):
    client = logged_in(world.a_admin)
    start_impersonation(world.a_support, world.a_child, reason=REASON)
    client.get("/support/")  # warm the session and user
    with django_assert_max_num_queries(12) as few:
        client.get("/support/")
    for persona in ("a_owner", "staff", "tenant_user"):
        start_impersonation(getattr(world, persona), world.a_grandchild, reason=REASON)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/support/")


def test_the_management_api_reads_a_sessions_events_by_correlation_id(world, visited):
    client = logged_in(world.tenant_user)
    response = client.get(
        "/api/v1/portal/audit-events/", {"correlation_id": visited.correlation_id}
    )
    assert response.status_code == 200
    found = response.json()["results"]
    assert {event["correlation_id"] for event in found} == {visited.correlation_id}
    assert [event["action"] for event in found] == [
        "support.ended",
        "support.upstream_call",
        "support.page_view",
        "support.page_view",
        "support.started",
    ]
    assert (
        logged_in(world.b_owner)
        .get("/api/v1/portal/audit-events/", {"correlation_id": visited.correlation_id})
        .json()["results"]
        == []
    )


def test_the_session_list_counts_pages_changes_and_upstream_calls_by_their_trail_filters(world):
    from tenants.views.support import session_rows

    session = start_impersonation(world.a_admin, world.a_child, reason=REASON)
    acting = resume_impersonation(session.pk, world.a_admin).impersonation
    assert acting is not None
    for _ in range(2):
        audit_upstream_call(acting, action="bot.list", details={"status": 200})
    other = start_impersonation(world.a_support, world.a_sibling, reason=REASON)

    rows = session_rows(world.staff, [session, other])

    assert [(row.session, row.page_views, row.changes, row.upstream_calls) for row in rows] == [
        (session, 0, 0, 2),
        (other, 0, 0, 0),
    ]
