"""Finished background jobs are deleted after CONSOLE_JOB_RETENTION_DAYS; live ones never."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.console import jobs, tasks
from tenants.console.models import ConversationJob
from tests.factories import make_partner, make_tenant

pytestmark = pytest.mark.django_db
Status = ConversationJob.Status


@pytest.fixture
def tenant():
    return make_tenant(make_partner())


def job(tenant, status: str, *, finished_days_ago: float | None, created_days_ago: float = 0):
    now = timezone.now()
    return ConversationJob.objects.create(
        account=tenant,
        person_label="someone",
        message="hello",
        reply="the answer",
        status=status,
        created_at=now - timedelta(days=created_days_ago),
        finished_at=None if finished_days_ago is None else now - timedelta(days=finished_days_ago),
    )


def test_jobs_finished_before_the_retention_are_deleted_and_live_ones_kept(tenant, settings):
    settings.CONSOLE_JOB_RETENTION_DAYS = 30
    old = [
        job(tenant, status, finished_days_ago=31, created_days_ago=31)
        for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    ]
    # A finished job without a finish time (a row from before it was recorded): its creation.
    undated = job(tenant, Status.FAILED, finished_days_ago=None, created_days_ago=40)
    recent = job(tenant, Status.SUCCEEDED, finished_days_ago=29, created_days_ago=31)
    queued = job(tenant, Status.QUEUED, finished_days_ago=None, created_days_ago=60)
    running = job(tenant, Status.RUNNING, finished_days_ago=None, created_days_ago=60)

    assert jobs.purge_finished_jobs(batch=2) == 4

    left = set(ConversationJob.objects.values_list("pk", flat=True))
    assert left == {recent.pk, queued.pk, running.pk}
    assert not left & {j.pk for j in [*old, undated]}


def test_a_retention_of_zero_keeps_every_job(tenant, settings):
    settings.CONSOLE_JOB_RETENTION_DAYS = 0
    job(tenant, Status.SUCCEEDED, finished_days_ago=4000, created_days_ago=4000)

    assert jobs.purge_finished_jobs() == 0
    assert ConversationJob.objects.count() == 1


def test_the_nightly_schedule_runs_the_purge_task(tenant, settings):
    settings.CONSOLE_JOB_RETENTION_DAYS = 30
    job(tenant, Status.SUCCEEDED, finished_days_ago=31, created_days_ago=31)

    entry = settings.CELERY_BEAT_SCHEDULE["console-purge-jobs"]

    assert entry["task"] == tasks.purge_finished_jobs.name
    assert tasks.purge_finished_jobs.apply().get() == 1
