"""Background conversations, server side: a job's life from queued to its end, in-process.

The task runs eagerly here (``.delay()`` runs it in the test's thread): the same code a worker
runs, against the live sandbox through the proxy pipeline. tests/console/live/test_workers.py
runs it on a real Celery worker, and kills one mid-job.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from portal.celery import app as celery_app
from tenants.console import jobs
from tenants.console.calls import Turn
from tenants.console.channels import START, channel_backend
from tenants.console.models import ConversationJob
from tenants.console.runner import run_job
from tenants.metering.models import UsageEvent
from tenants.models import Membership
from tests.console.live.helpers import make_bot, new_job, run_in_thread
from tests.limits.live.helpers import limited_tenant
from tests.processes import wait_for

Status = ConversationJob.Status
LONG = "Tell me everything [sandbox:words=60]"


@pytest.fixture
def eager():
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


def published(job: ConversationJob) -> list[dict[str, Any]]:
    import asyncio

    async def read() -> list[dict[str, Any]]:
        channel = channel_backend()
        try:
            found: list[dict[str, Any]] = []
            after = START
            while batch := await channel.read(job.channel, after):
                found += [event for _, event in batch]
                after = batch[-1][0]
            return found
        finally:
            await channel.aclose()
            # The database backend read on asgiref's thread: close that thread's connection
            # (PostgreSQL will not drop a test database that is still in use).
            await sync_to_async(connections.close_all)()

    return asyncio.run(read())


def start(person, account, message: str = "hello", **turn: str) -> ConversationJob:
    job = jobs.start_job(person=person, account=account, turn=Turn(message=message, **turn))
    job.refresh_from_db()
    return job


def test_a_job_streams_publishes_every_event_and_keeps_the_outcome(world, people, eager):
    bot = make_bot(world, world.a_child, "Background bot")

    job = start(people.support, world.a_child, LONG, bot_id=bot)

    assert job.status == Status.SUCCEEDED
    events = published(job)
    kinds = [event["type"] for event in events]
    assert kinds[0] == "conversation"
    assert kinds.count("token") == job.progress_tokens > 20
    assert kinds[-1] == "result"
    assert all(set(event) == {"type", "data"} for event in events)  # createdAt dropped (§7)
    result = events[-1]["data"]
    assert job.reply == result["text"]
    assert job.usage_tokens == result["usage"]["token"]
    assert job.end_reason == "stop"
    assert job.conversation_id == events[0]["data"]["id"]
    assert None not in (job.started_at, job.finished_at, job.heartbeat_at)
    # The worker's loop ended with the job: its usage was written before, not lost with it.
    calls = UsageEvent.objects.filter(request_id=job.public_id).order_by("pk")
    assert [(e.route, e.token_id, e.account_id) for e in calls] == [
        ("/conversation/create", f"web:{people.support.pk}", world.a_child.pk),
        ("/conversation/{conversationId}/complete", f"web:{people.support.pk}", world.a_child.pk),
    ]
    assert calls[1].tokens == job.usage_tokens


def test_a_job_continues_the_conversation_it_is_given(world, people, eager):
    first = start(people.support, world.a_child, "first")

    second = start(people.support, world.a_child, "second", conversation_id=first.conversation_id)

    assert second.status == Status.SUCCEEDED
    assert second.conversation_id == first.conversation_id
    assert "conversation" not in [event["type"] for event in published(second)]
    with world.upstream(world.parent_a, world.a_child.public_id) as upstream:
        messages = upstream.get(f"/v1/conversation/{first.conversation_id}/message/list").json()
    assert [item["type"] for item in messages["items"]] == ["user", "bot", "user", "bot"]


def test_an_upstream_failure_fails_the_job_with_the_upstreams_words(world, people, eager):
    world.sandbox.inject_fault(
        "/v1/conversation/*/complete", "status", status=503, code="SERVICE_UNAVAILABLE", times=1
    )

    job = start(people.support, world.a_child)

    assert job.status == Status.FAILED
    assert job.error_code == "SERVICE_UNAVAILABLE"
    last = published(job)[-1]
    assert last["type"] == "error"
    assert (last["data"]["status"], last["data"]["code"]) == (503, "SERVICE_UNAVAILABLE")


def test_a_stream_that_breaks_fails_the_job_and_keeps_what_had_arrived(world, people, eager):
    world.sandbox.inject_fault(
        "/v1/conversation/*/complete", "reset_mid_stream", afterTokens=4, times=1
    )

    job = start(people.support, world.a_child, LONG)

    assert job.status == Status.FAILED
    tokens = [event["data"]["token"] for event in published(job) if event["type"] == "token"]
    assert len(tokens) == 4 == job.progress_tokens
    assert job.reply == "".join(tokens)
    assert job.error_message


def test_a_refused_limit_fails_the_job_with_the_limit(world, people, eager):
    tenant = limited_tenant(world, messages=0)

    job = start(people.support, tenant)

    assert job.status == Status.FAILED
    assert job.error_code == "LIMITS_REACHED"
    assert job.error_limit is not None
    assert (job.error_limit["name"], job.error_limit["limit"]) == ("messages", 0)
    assert published(job)[-1]["data"]["limit"] == job.error_limit


def test_a_second_delivery_of_the_task_runs_nothing(world, people, eager):
    job = start(people.support, world.a_child)
    calls = UsageEvent.objects.filter(request_id=job.public_id).count()

    run_job(job.pk)

    again = ConversationJob.objects.get(pk=job.pk)
    assert (again.status, again.finished_at) == (Status.SUCCEEDED, job.finished_at)
    assert UsageEvent.objects.filter(request_id=job.public_id).count() == calls


def test_a_person_who_lost_the_role_since_queuing_does_not_act_through_the_job(world, people):
    job = new_job(world.a_child, people.viewer, "sneaky")  # viewers may not use the console

    run_job(job.pk)

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "NOT_AUTHORIZED")
    assert not UsageEvent.objects.filter(request_id=job.public_id).exists()
    assert published(job)[-1]["data"]["code"] == "NOT_AUTHORIZED"


def test_cancelling_a_queued_job_ends_it_at_once(world, people):
    job = new_job(world.a_child, people.support, "never")

    jobs.cancel_job(job)

    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert published(job) == [{"type": "abort", "data": {"reason": "cancelled"}}]
    run_job(job.pk)  # a late delivery finds it cancelled
    assert not UsageEvent.objects.filter(request_id=job.public_id).exists()


def test_cancelling_a_running_job_stops_it_at_its_next_beat_and_closes_upstream(
    world, people, settings
):
    settings.CONSOLE_JOB_HEARTBEAT_SECONDS = 1
    world.sandbox.configure(tokenDelayMs=150)
    before = world.sandbox.state()["streams"]
    job = new_job(world.a_child, people.support, LONG)
    worker = run_in_thread(job)
    running = ConversationJob.objects.filter(pk=job.pk, progress_tokens__gt=0)
    wait_for(running.exists, 10, "the job to stream")
    jobs.cancel_job(ConversationJob.objects.get(pk=job.pk))
    worker.join(15)

    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert 0 < job.progress_tokens < 60
    assert job.reply  # what had arrived
    assert published(job)[-1] == {"type": "abort", "data": {"reason": "stopped"}}
    streams = world.sandbox.state()["streams"]
    assert streams["streamsAborted"] == before["streamsAborted"] + 1


def test_a_running_job_whose_worker_stopped_beating_is_failed_with_the_reason(world, people):
    now = timezone.now()
    started = now - timedelta(minutes=2)
    stale, alive = (
        new_job(
            world.a_child,
            people.support,
            status=Status.RUNNING,
            started_at=started,
            heartbeat_at=now - timedelta(seconds=seconds),
        )
        for seconds in (31, 5)
    )
    unstarted = new_job(world.a_child, people.support, created_at=now - timedelta(minutes=16))

    assert jobs.fail_stale_jobs(job_ids=[stale.pk, alive.pk, unstarted.pk]) == 2

    stale.refresh_from_db()
    alive.refresh_from_db()
    unstarted.refresh_from_db()
    assert (stale.status, stale.error_code) == (Status.FAILED, "WORKER_LOST")
    assert "stopped (no heartbeat since" in stale.error_message
    assert published(stale)[-1]["data"]["code"] == "WORKER_LOST"
    assert alive.status == Status.RUNNING
    assert (unstarted.status, unstarted.error_code) == (Status.FAILED, "NO_WORKER")
    # A finish that comes after the sweep does not overwrite what subscribers were told.
    assert jobs.finish_job(stale.pk, jobs.Outcome(answered=True, reply="late")) is False


def test_a_job_only_acts_within_the_persons_reach(world, people, eager):
    job = start(people.tenant_owner, world.a_grandchild)
    assert job.status == Status.SUCCEEDED
    Membership.objects.filter(user=people.tenant_owner).update(role="viewer")
    try:
        refused = start(people.tenant_owner, world.a_grandchild)
    finally:
        Membership.objects.filter(user=people.tenant_owner).update(role="owner")
    assert (refused.status, refused.error_code) == (Status.FAILED, "NOT_AUTHORIZED")
