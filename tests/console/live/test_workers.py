"""Background conversations on a real Celery worker process, against this run's database."""

from __future__ import annotations

import signal

import pytest
from django.test import override_settings

from portal.celery import app as celery_app
from tenants.console import jobs
from tenants.console.calls import Turn
from tenants.console.models import ConversationJob
from tenants.metering.models import UsageEvent
from tests.console.live.test_jobs import published
from tests.processes import celery_worker, wait_for

Status = ConversationJob.Status


@pytest.fixture(autouse=True)
def _sent_to_a_worker():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = before


def _output(worker) -> str:
    worker.terminate()
    return worker.stdout.read().decode()[-4000:] if worker.stdout else ""


def test_a_job_queued_on_commit_runs_on_a_worker_which_writes_its_usage(world, people):
    with celery_worker() as worker:
        job = jobs.start_job(
            person=people.support, account=world.a_child, turn=Turn(message="from a worker")
        )
        done = ConversationJob.objects.filter(pk=job.pk, status__in=ConversationJob.FINISHED)
        try:
            wait_for(done.exists, 60, "the worker to finish the job")
        except AssertionError:
            raise AssertionError(_output(worker)) from None

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert published(job)[-1]["type"] == "result"
    # Written by the worker before it marked the job finished (its loop ends with the task).
    assert UsageEvent.objects.filter(request_id=job.public_id).count() == 2


def test_a_worker_killed_mid_job_leaves_it_failed_with_a_reason_not_running(world, people):
    world.sandbox.configure(tokenDelayMs=200)
    before = world.sandbox.state()["streams"]
    with celery_worker(CONSOLE_JOB_HEARTBEAT_SECONDS="1", CONSOLE_JOB_STALE_SECONDS="3") as worker:
        job = jobs.start_job(
            person=people.support,
            account=world.a_child,
            turn=Turn(message="a long one [sandbox:words=80]"),
        )
        streaming = ConversationJob.objects.filter(pk=job.pk, progress_tokens__gt=0)
        try:
            wait_for(streaming.exists, 60, "the job to stream and beat")
        except AssertionError:
            raise AssertionError(_output(worker)) from None
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)

    job.refresh_from_db()
    assert job.status == Status.RUNNING  # nobody said otherwise yet: the worker just vanished
    # The upstream sees the connection go with the process.
    wait_for(
        lambda: world.sandbox.state()["streams"]["streamsAborted"] > before["streamsAborted"],
        5,
        "the upstream stream to be closed",
    )
    with override_settings(CONSOLE_JOB_STALE_SECONDS=3):
        wait_for(lambda: jobs.fail_stale_jobs(job_ids=[job.pk]) == 1, 10, "the sweep")

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "WORKER_LOST")
    assert "stopped (no heartbeat since" in job.error_message
    events = published(job)
    assert "token" in [event["type"] for event in events]
    assert events[-1] == {
        "type": "error",
        "data": {"message": job.error_message, "code": "WORKER_LOST"},
    }
