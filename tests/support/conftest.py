"""Support impersonation tests: the two-partner world, and browsers that act as a tenant.

``acting_client("a_support", world.a_child)`` starts a session through the real start page (as
a person would) and returns the logged-in client that now acts as that tenant, with the session
it started on ``client.support_session``.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import pytest
from django.test import Client

from tenants import access
from tenants.models import Account, AuditEvent, SupportSession
from tenants.services.impersonation import resume_impersonation, start_impersonation
from tests.factories import World, make_world

REASON = "Ticket 4711: the customer cannot see last month's usage"
REASON_ON_PAGE = escape(REASON)  # as a page shows it (the apostrophe escaped)
HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(db) -> World:
    return make_world()


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acting_client(world: World) -> Callable[..., Client]:
    def make(persona: str, account: Account, *, allow_changes: bool = False, **data: Any) -> Client:
        client = logged_in(getattr(world, persona))
        form = {"reason": REASON, "ticket": "T-4711", "minutes": "30", **data}
        if allow_changes:
            form["allow_changes"] = "on"
        response = client.post(f"/accounts/{account.public_id}/support/start/", form)
        assert response.status_code == 303, response.content.decode()[:2000]
        client.support_session = SupportSession.objects.get(  # type: ignore[attr-defined]
            actor=getattr(world, persona), ended_at__isnull=True
        )
        return client

    return make


def acting_user(user: Any, account: Account, *, allow_changes: bool = False) -> Any:
    """``user`` bound to a fresh session as ``account``, as the middleware binds a request's."""
    session = start_impersonation(user, account, reason=REASON, allow_changes=allow_changes)
    resumed = resume_impersonation(session.pk, user)
    assert resumed.impersonation is not None
    access.act_as(user, resumed.impersonation)
    return user


def trail(session: SupportSession) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(correlation_id=session.correlation_id).order_by("pk"))


def actions(session: SupportSession) -> list[str]:
    return [event.action for event in trail(session)]
