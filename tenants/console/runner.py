"""The worker side of a background conversation: one job, start to end, in a Celery task.

    claim ─► check the actor again ─► asyncio.run(stream) ─► finish
                                        │
                                        ├─ run_turn (tenants.console.calls): the proxy pipeline
                                        ├─ each event published to the job's channel
                                        └─ a heartbeat beside it: progress, cancel requests

The task's event loop ends with ``asyncio.run``, so what lives on it is closed before it
ends: the metering buffer is flushed (its flusher task would die with the loop and the
turn's usage would be lost), then the channel's and the upstream's connections. The usage is
written before the job is marked finished, so a page that sees the job end shows a meter that
counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import close_old_connections
from django.http import Http404

from portal.upstream import aclose_all
from tenants import metering
from tenants.console import jobs
from tenants.console.acting import ConsoleActor, resolve_job_actor
from tenants.console.calls import run_turn
from tenants.console.channels import channel_backend
from tenants.console.models import ConversationJob

logger = logging.getLogger("tenants.console")


def run_job(job_id: int) -> None:
    """Run one queued job; quietly nothing when it is gone or already taken."""
    job = jobs.claim_job(job_id)
    if job is None:
        return
    try:
        actor = resolve_job_actor(job)
    except (Http404, PermissionDenied) as refusal:
        jobs.fail_job(
            job,
            code="NOT_AUTHORIZED",
            message=f"{job.person_label} may no longer act as this account ({refusal}).",
            from_status=ConversationJob.Status.RUNNING,
        )
        return
    try:
        outcome = asyncio.run(_stream(job, actor))
    except Exception:
        logger.exception("console: job %s failed", job.public_id)
        jobs.fail_job(
            job,
            code="INTERNAL_SERVER_ERROR",
            message="The portal failed while running this job; it was logged.",
            from_status=ConversationJob.Status.RUNNING,
        )
        return
    jobs.finish_job(job.pk, outcome)


async def _stream(job: ConversationJob, actor: ConsoleActor) -> jobs.Outcome:
    channel = channel_backend()
    outcome = jobs.Outcome()
    stop = asyncio.Event()
    heartbeat = asyncio.create_task(_beat(job.pk, outcome, stop))
    try:
        async with contextlib.aclosing(
            run_turn(actor, jobs.job_turn(job), stop=stop, correlation_id=job.public_id)
        ) as events:
            async for event in events:
                outcome.observe(event)
                await channel.publish(job.channel, event)
                if event["type"] == "conversation":
                    await sync_to_async(jobs.note_conversation)(job.pk, outcome.conversation_id)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        await metering.shutdown()
        await channel.aclose()
        await aclose_all()
        await sync_to_async(close_old_connections)()
    return outcome


async def _beat(job_id: int, outcome: jobs.Outcome, stop: asyncio.Event) -> None:
    interval = settings.CONSOLE_JOB_HEARTBEAT_SECONDS
    while True:
        await asyncio.sleep(interval)
        try:
            cancel = await sync_to_async(jobs.beat)(job_id, outcome.tokens)
        except Exception:
            # A missed beat is survivable; several in a row are what the sweep is for.
            logger.exception("console: heartbeat of job %s failed", job_id)
            continue
        if cancel:
            stop.set()
