"""Background conversations: start one from the console, follow it, list them, cancel one.

    POST /console/jobs/new/                 "Run in background": the job, queued on commit
    GET  /console/jobs/                     the jobs the person may see, with their progress
    GET  /console/jobs/<id>/                one job: its message and reply, live while it runs
    GET  /console/jobs/<id>/stream/         SSE: the job's channel, replayed then followed
    POST /console/jobs/<id>/cancel/         cancel it (a running one stops at its next beat)

Pages that show running jobs check them for a dead worker as they read them
(``jobs.fail_stale_jobs``), so nobody waits for beat to learn that a job will not finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tenants import access
from tenants.console import jobs
from tenants.console.channels import START, channel_backend
from tenants.console.models import ConversationJob
from tenants.views.console import person_of, posted_turn
from tenants.views.console_stream import (
    KEEPALIVE,
    TurnStream,
    render_turn_end,
    sse,
    sse_response,
    turn_end_context,
)
from tenants.views.http import HtmxHttpRequest, render_page
from tenants.views.pagination import keyset_page
from tenants.views.usage import period_quotas

PAGE_SIZE = 25
# A follower reads the channel for this long before checking on the job itself.
WAIT_SECONDS = 5.0
# After the turn's last event, how long the runner may take to write the outcome.
FINISH_WAIT_SECONDS = 10.0
Status = ConversationJob.Status


@login_required
@require_POST
def job_start(request: HtmxHttpRequest) -> HttpResponse:
    posted = posted_turn(request)
    if isinstance(posted, HttpResponse):
        return posted
    account, turn = posted
    job = jobs.start_job(person=request.user, account=account, turn=turn)  # type: ignore[arg-type]
    return render(request, "console/_turn.html", _job_turn_context(job, in_console=True))


def _job_turn_context(job: ConversationJob, *, in_console: bool) -> dict[str, Any]:
    stream_url = reverse("tenants:console-job-stream", args=[job.public_id])
    return {
        "dom_id": f"turn-{job.public_id}",
        "message": job.message,
        "job": job,
        "stream_url": f"{stream_url}?in=console" if in_console else stream_url,
        "stop_url": reverse("tenants:console-job-cancel", args=[job.public_id]),
    }


def _sweep(queryset: Any) -> None:
    """Fail the running jobs among ``queryset`` whose worker died (before showing them)."""
    active = list(
        queryset.filter(status__in=[Status.QUEUED, Status.RUNNING]).values_list("pk", flat=True)[
            :200
        ]
    )
    if active:
        jobs.fail_stale_jobs(job_ids=active)


@login_required
@require_GET
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    found = access.conversation_jobs_for(request.user)
    account = None
    if request.GET.get("account"):
        account = access.get_account_for(request.user, request.GET["account"])
        found = found.filter(account=account)
    _sweep(found)
    page = keyset_page(found.select_related("account"), request.GET, size=PAGE_SIZE)
    context = {
        "page": page,
        "account": account,
        "active": any(not job.is_finished for job in page.items),
    }
    partial = "jobs" if request.htmx and request.htmx.target == "jobs" else None
    return render_page(request, "console/job_list.html", context, partial=partial)


def _job_context(request: HtmxHttpRequest, job: ConversationJob) -> dict[str, Any]:
    context = {
        "account": job.account,
        **period_quotas(request, job.account),
        **_job_turn_context(job, in_console=False),
        "continue_url": _continue_url(job),
    }
    if job.is_finished:
        ended = TurnStream(
            dom_id=context["dom_id"], bot_id=job.bot_id, streamed=[job.reply], end=end_event_of(job)
        )
        context.update(
            turn_end_context(
                request,
                ended,
                job.account,
                correlation_id=job.public_id,
                in_console=False,
                job=job,
            )
        )
    return context


def _continue_url(job: ConversationJob) -> str:
    url = f"{reverse('tenants:console')}?account={job.account.public_id}"
    if job.bot_id:
        url += f"&bot={job.bot_id}"
    if job.conversation_id:
        url += f"&conversation={job.conversation_id}"
    return url


@login_required
@require_GET
def job_detail(request: HtmxHttpRequest, job_id: str) -> HttpResponse:
    job = access.get_conversation_job_for(request.user, job_id)
    if not job.is_finished:
        jobs.fail_stale_jobs(job_ids=[job.pk])
        job.refresh_from_db()
    partial = "status" if request.htmx and request.htmx.target == "job-status" else None
    context = _job_context(request, job)
    return render_page(request, "console/job_detail.html", context, partial=partial)


@login_required
@require_POST
def job_cancel(request: HtmxHttpRequest, job_id: str) -> HttpResponse:
    job = jobs.cancel_job(access.get_conversation_job_for(request.user, job_id))
    if request.htmx and request.htmx.target == "job-status":
        return render_page(
            request, "console/job_detail.html", _job_context(request, job), partial="status"
        )
    # From the console's transcript: the job's stream shows the end when it comes.
    return HttpResponse(status=204)


@login_required
@require_GET
async def job_stream(request: HtmxHttpRequest, job_id: str) -> HttpResponseBase:
    await person_of(request)
    job = await sync_to_async(access.get_conversation_job_for)(request.user, job_id)
    # A browser reconnecting by itself sends the last event id it saw: go on from there.
    after = request.headers.get("Last-Event-ID", "") or START
    in_console = request.GET.get("in") == "console"
    return sse_response(_job_events(request, job, after, in_console=in_console))


async def _job_events(
    request: HtmxHttpRequest, job: ConversationJob, after: str, *, in_console: bool
) -> AsyncIterator[bytes]:
    channel = channel_backend()
    stream = TurnStream(
        dom_id=f"turn-{job.public_id}", bot_id=job.bot_id, conversation_id=job.conversation_id
    )
    if after == START:
        yield sse("token-reset")
    while not stream.ended():
        # A finished job's events are all there: no need to wait for more.
        wait = 0.0 if job.is_finished else WAIT_SECONDS
        found = await channel.read(job.channel, after, wait=wait)
        for cursor, event in found:
            after = cursor
            chunk = stream.feed(event, event_id=cursor)
            if chunk:
                yield chunk
            if stream.ended():
                break
        if found:
            continue
        job = await sync_to_async(_checked)(job.pk)
        if job.is_finished:
            # Its end was published before the row changed; read once more, then trust the row
            # (the channel may have expired, or the end could not be published).
            for cursor, event in await channel.read(job.channel, after):
                chunk = stream.feed(event, event_id=cursor)
                if chunk:
                    yield chunk
                if stream.ended():
                    break
            if not stream.ended():
                stream.end = end_event_of(job)
        else:
            yield KEEPALIVE
    job = await _finished(job)
    stream.conversation_id = stream.conversation_id or job.conversation_id
    yield await sync_to_async(render_turn_end)(
        request, stream, job.account, correlation_id=job.public_id, in_console=in_console, job=job
    )


def _checked(job_pk: int) -> ConversationJob:
    """The job as it is now, failed first if its worker died."""
    jobs.fail_stale_jobs(job_ids=[job_pk])
    return ConversationJob.objects.select_related("account").get(pk=job_pk)


async def _finished(job: ConversationJob) -> ConversationJob:
    """The job once the runner wrote its outcome (it flushes the usage first), or as it is
    after ``FINISH_WAIT_SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FINISH_WAIT_SECONDS
    while True:
        job = await sync_to_async(_checked)(job.pk)
        if job.is_finished or loop.time() >= deadline:
            return job
        await asyncio.sleep(0.1)


def end_event_of(job: ConversationJob) -> dict[str, Any]:
    """A finished job's outcome as the event that ended its turn."""
    if job.status == Status.SUCCEEDED:
        return {
            "type": "result",
            "data": {
                "text": job.reply,
                "usage": {"token": job.usage_tokens or 0},
                "end": {"reason": job.end_reason},
            },
        }
    if job.status == Status.CANCELLED:
        return {"type": "abort", "data": {"reason": "cancelled"}}
    data: dict[str, Any] = {"message": job.error_message, "code": job.error_code}
    if job.error_limit:
        data["limit"] = job.error_limit
        data["status"] = 429
    return {"type": "error", "data": data}
