"""Celery tasks of the console: thin, ids in, idempotent (the job's claim is the guard)."""

from __future__ import annotations

from celery import shared_task

from tenants.console import channels, jobs, runner


@shared_task(name="tenants.console.tasks.run_conversation_job", ignore_result=True)
def run_conversation_job(job_id: int) -> None:
    """Run one background conversation. Never retried: a delivery that finds the job taken
    (or gone) does nothing, and a job whose worker died is failed by ``fail_stale_jobs``."""
    runner.run_job(job_id)


@shared_task(name="tenants.console.tasks.fail_stale_jobs", ignore_result=True)
def fail_stale_jobs() -> int:
    """Fail jobs whose worker stopped beating or that no worker started (beat: every 30 s)."""
    return jobs.fail_stale_jobs()


@shared_task(name="tenants.console.tasks.purge_finished_jobs", ignore_result=True)
def purge_finished_jobs() -> int:
    """Delete jobs finished longer ago than their retention (beat: nightly)."""
    return jobs.purge_finished_jobs()


@shared_task(name="tenants.console.tasks.purge_channel_events", ignore_result=True)
def purge_channel_events() -> int:
    """Delete the database channels' events past their retention (beat: every 10 minutes)."""
    return channels.purge_channel_events()
