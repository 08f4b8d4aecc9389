"""The console while acting as a tenant (support impersonation): it reaches that tenant only,
and each upstream call it makes, on the page or in a background job, joins the support
session's audit trail under its correlation id."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils.module_loading import import_string

from portal.celery import app as celery_app
from tenants import access
from tenants.console import jobs
from tenants.console.calls import Turn
from tenants.console.models import ConversationJob
from tenants.middleware import SESSION_KEY as SUPPORT_SESSION_KEY
from tenants.models import AuditEvent, SupportSession
from tenants.services.impersonation import resume_impersonation, start_impersonation
from tests.console.live.helpers import send, turn

REASON = "Customer says the bot answers nothing"


@contextmanager
def acting(url: str, user, account) -> Iterator[tuple[httpx.Client, SupportSession]]:
    """A browser of ``user`` acting as ``account`` (read-only), with a CSRF token."""
    session = start_impersonation(user, account, reason=REASON)
    store: Any = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[SUPPORT_SESSION_KEY] = session.pk
    store.save()
    with httpx.Client(base_url=url, timeout=30) as http:
        http.cookies.set(settings.SESSION_COOKIE_NAME, str(store.session_key))
        http.get("/console/")  # sets the CSRF cookie
        http.headers["X-CSRFToken"] = http.cookies.get(settings.CSRF_COOKIE_NAME) or ""
        http.headers["HX-Request"] = "true"
        yield http, session


def upstream_calls(session: SupportSession) -> list[dict[str, Any]]:
    return [
        event.changes
        for event in AuditEvent.objects.filter(
            correlation_id=session.correlation_id, action="support.upstream_call"
        ).order_by("pk")
    ]


def test_a_read_only_session_runs_a_console_turn_and_audits_each_upstream_call(
    world, portal, people
):
    with acting(portal.url, people.support, world.a_child) as (http, session):
        page = http.get(f"/console/?account={world.a_child.public_id}")
        stream = turn(http, world.a_child, "hello from support")

    assert page.status_code == 200
    assert stream.status == 200
    assert "You said" in stream.text
    calls = upstream_calls(session)
    assert [call["call"] for call in calls[:2]] == ["GET /bot/list", "POST /conversation/create"]
    assert re.fullmatch(r"POST /conversation/[\w-]+/complete", calls[2]["call"])
    assert len(calls) == 3
    assert {call["account"] for call in calls} == {world.a_child.public_id}
    assert {call["status"] for call in calls} == {200}


def test_acting_as_a_tenant_the_console_reaches_nothing_beside_it(world, portal, people):
    with acting(portal.url, people.support, world.a_child) as (http, session):
        choices = http.get("/console/").text
        sibling = http.get(f"/console/?account={world.a_sibling.public_id}")
        refused = send(http, world.a_sibling, "hello")

    assert "A Grandchild" in choices
    assert "A Sibling" not in choices
    assert sibling.status_code == 404
    assert refused.status_code == 404
    assert upstream_calls(session) == []


@pytest.fixture
def eager():
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


def test_a_background_conversation_started_while_acting_joins_the_sessions_trail(
    world, people, eager
):
    # Started as the page does (jobs.start_job with the request's person, acting), then run
    # by the task, eagerly in this thread: the worker's calls carry the session's id.
    session = start_impersonation(people.support, world.a_grandchild, reason=REASON)
    acting_person = type(people.support).objects.get(pk=people.support.pk)
    resumed = resume_impersonation(session.pk, acting_person).impersonation
    assert resumed is not None
    access.act_as(acting_person, resumed)

    job = jobs.start_job(
        person=acting_person, account=world.a_grandchild, turn=Turn(message="in the background")
    )

    job.refresh_from_db()
    assert job.support_session == session
    assert job.status == ConversationJob.Status.SUCCEEDED
    calls = upstream_calls(session)
    assert [call["call"].split(" ")[0] for call in calls] == ["POST", "POST"]
    assert {call["request_id"] for call in calls} == {job.public_id}
    assert {call["account"] for call in calls} == {world.a_grandchild.public_id}


def test_a_job_started_outside_any_session_writes_no_support_trail(world, people, eager):
    job = jobs.start_job(person=people.support, account=world.a_child, turn=Turn(message="hi"))
    job.refresh_from_db()
    assert job.support_session is None
    assert job.status == ConversationJob.Status.SUCCEEDED
    assert not AuditEvent.objects.filter(
        action="support.upstream_call", changes__request_id=job.public_id
    ).exists()
