"""Background conversations: every state change of a ``ConversationJob``.

    start_job ─► queued ─(worker claims it)─► running ─► succeeded | failed | cancelled
                   │                            │
                   └─ no worker in time: failed  └─ heartbeat stale (worker died): failed

- ``start_job`` (a page's POST): the row, then the Celery task queued on commit;
- ``claim_job``, ``beat``, ``finish_job`` (the worker, ``tenants.console.runner``): the claim is
  one conditional UPDATE, so a task delivered twice runs the turn once;
- ``cancel_job`` (a page's POST): a queued job ends at once, a running one at its next beat;
- ``fail_stale_jobs`` (beat, and pages on read): a running job whose worker stopped beating is
  failed with the reason, and its channel gets the error event that ends every subscriber's
  wait.

Every terminal transition is conditional on the status it leaves, so two of them racing
(a cancel and a finish, a sweep and a late finish) leave exactly one outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenants import access
from tenants.console.calls import Turn
from tenants.console.channels import channel_backend
from tenants.console.models import ConversationJob

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from tenants.models import Account

logger = logging.getLogger("tenants.console")
Status = ConversationJob.Status


def start_job(*, person: AbstractBaseUser, account: Account, turn: Turn) -> ConversationJob:
    """Queue one turn to run on a worker (the caller checked the person may act as
    ``account``: ``tenants.console.acting``)."""
    from tenants.console.tasks import run_conversation_job

    acting = access.acting_as(person)
    with transaction.atomic():
        job = ConversationJob.objects.create(
            account=account,
            person_id=person.pk,
            person_label=person.get_username(),
            support_session_id=acting.session_id if acting is not None else None,
            bot_id=turn.bot_id,
            model=turn.model,
            backstory=turn.backstory,
            conversation_id=turn.conversation_id,
            message=turn.message,
        )
        transaction.on_commit(partial(run_conversation_job.delay, job.pk))
    return job


def job_turn(job: ConversationJob) -> Turn:
    return Turn(
        message=job.message,
        conversation_id=job.conversation_id,
        bot_id=job.bot_id,
        model=job.model,
        backstory=job.backstory,
    )


def claim_job(job_id: int) -> ConversationJob | None:
    """Queued → running, once; None when the job is gone or another delivery has it."""
    now = timezone.now()
    claimed = ConversationJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    return ConversationJob.objects.select_related("person").get(pk=job_id)


def note_conversation(job_id: int, conversation_id: str) -> None:
    """The conversation the job made, kept at once: a later failure does not lose it."""
    ConversationJob.objects.filter(pk=job_id).update(conversation_id=conversation_id)


def beat(job_id: int, progress_tokens: int) -> bool:
    """The worker is alive and has streamed this many tokens; True when a cancel was asked."""
    ConversationJob.objects.filter(pk=job_id, status=Status.RUNNING).update(
        heartbeat_at=timezone.now(), progress_tokens=progress_tokens
    )
    return ConversationJob.objects.filter(pk=job_id, cancel_requested_at__isnull=False).exists()


@dataclass
class Outcome:
    """What a turn's events amounted to (``observe`` each one as it is published)."""

    tokens: int = 0
    conversation_id: str = ""
    reply: str = ""
    usage_tokens: int | None = None
    end_reason: str = ""
    error: dict[str, Any] = field(default_factory=dict)
    aborted: bool = False
    answered: bool = False  # the turn's result arrived
    streamed: list[str] = field(default_factory=list)  # the tokens, for a reply cut short

    def observe(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type"), event.get("data")
        data = data if isinstance(data, dict) else {}
        if kind == "token":
            self.tokens += 1
            self.streamed.append(str(data.get("token") or ""))
        elif kind == "conversation":
            self.conversation_id = str(data.get("id") or "")
        elif kind == "result":
            self.answered = True
            self.reply = str(data.get("text") or "")
            usage = data.get("usage")
            token = usage.get("token") if isinstance(usage, dict) else None
            self.usage_tokens = token if isinstance(token, int) else None
            end = data.get("end")
            self.end_reason = str(end.get("reason") or "") if isinstance(end, dict) else ""
        elif kind == "error":
            self.error = data
        elif kind == "abort":
            self.aborted = True

    @property
    def status(self) -> str:
        if self.aborted:
            return Status.CANCELLED
        if self.error or not self.answered:
            return Status.FAILED
        return Status.SUCCEEDED


def finish_job(job_id: int, outcome: Outcome) -> bool:
    """Running → the outcome's status; False when the job had already ended (swept)."""
    error = outcome.error
    changes: dict[str, Any] = {
        "status": outcome.status,
        "finished_at": timezone.now(),
        "progress_tokens": outcome.tokens,
        "reply": outcome.reply or "".join(outcome.streamed),
        "usage_tokens": outcome.usage_tokens,
        "end_reason": outcome.end_reason,
        "error_code": str(error.get("code") or ("CANCELLED" if outcome.aborted else ""))[:64],
        "error_message": str(error.get("message") or ""),
        "error_limit": error.get("limit") if isinstance(error.get("limit"), dict) else None,
    }
    if outcome.status == Status.FAILED and not changes["error_code"]:
        changes["error_code"] = "STREAM_INCOMPLETE"
        changes["error_message"] = "The answer ended before it was complete."
    if outcome.aborted:
        changes["error_message"] = "Cancelled while it ran; the reply is what had arrived."
    if outcome.conversation_id:
        changes["conversation_id"] = outcome.conversation_id
    return bool(ConversationJob.objects.filter(pk=job_id, status=Status.RUNNING).update(**changes))


def fail_job(job: ConversationJob, *, code: str, message: str, from_status: str) -> bool:
    """Fail a job that is still ``from_status`` and tell its subscribers; False if it moved on."""
    failed = ConversationJob.objects.filter(pk=job.pk, status=from_status).update(
        status=Status.FAILED, finished_at=timezone.now(), error_code=code, error_message=message
    )
    if failed:
        _announce(job, {"type": "error", "data": {"message": message, "code": code}})
    return bool(failed)


def cancel_job(job: ConversationJob) -> ConversationJob:
    """Cancel: a queued job at once, a running one when its worker next beats (it closes the
    upstream stream and keeps what had arrived). Finished jobs are left as they are."""
    now = timezone.now()
    if job.status == Status.QUEUED:
        message = "Cancelled before a worker started it."
        cancelled = ConversationJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED,
            cancel_requested_at=now,
            finished_at=now,
            error_code="CANCELLED",
            error_message=message,
        )
        if cancelled:
            _announce(job, {"type": "abort", "data": {"reason": "cancelled"}})
    elif job.status == Status.RUNNING:
        ConversationJob.objects.filter(
            pk=job.pk, status=Status.RUNNING, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=now)
    job.refresh_from_db()
    return job


def fail_stale_jobs(*, now: datetime | None = None, job_ids: list[int] | None = None) -> int:
    """Fail running jobs whose worker stopped beating, and queued jobs no worker started in
    time; ``job_ids`` limits the sweep (a page checking the jobs it shows). How many failed."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.CONSOLE_JOB_STALE_SECONDS)
    unstarted_before = now - timedelta(seconds=settings.CONSOLE_JOB_QUEUE_TIMEOUT_SECONDS)
    jobs = ConversationJob.objects.all()
    if job_ids is not None:
        jobs = jobs.filter(pk__in=job_ids)
    failed = 0
    for job in jobs.filter(status=Status.RUNNING, heartbeat_at__lt=stale_before).only(
        "pk", "public_id", "heartbeat_at"
    ):
        assert job.heartbeat_at is not None
        last = job.heartbeat_at.astimezone(UTC).strftime("%H:%M:%S UTC")
        message = (
            f"The worker running this job stopped (no heartbeat since {last}); the answer was "
            "cut off there. Run it again to get a whole answer."
        )
        failed += fail_job(job, code="WORKER_LOST", message=message, from_status=Status.RUNNING)
    for job in jobs.filter(status=Status.QUEUED, created_at__lt=unstarted_before).only(
        "pk", "public_id"
    ):
        minutes = max(1, settings.CONSOLE_JOB_QUEUE_TIMEOUT_SECONDS // 60)
        message = (
            f"No worker started this job within {minutes} minute{'s' if minutes != 1 else ''}; "
            "is a Celery worker running?"
        )
        failed += fail_job(job, code="NO_WORKER", message=message, from_status=Status.QUEUED)
    if failed:
        logger.warning("console: %d background job(s) failed without their worker", failed)
    return failed


def purge_finished_jobs(*, now: datetime | None = None, batch: int = 1_000) -> int:
    """Delete jobs that finished more than ``CONSOLE_JOB_RETENTION_DAYS`` ago (never one that
    is queued or running); how many. In batches, so a first run over a long history holds no
    long lock. Their usage stays in metering, their support trail in the audit log."""
    days = settings.CONSOLE_JOB_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = ConversationJob.objects.filter(status__in=ConversationJob.FINISHED).filter(
        Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff)
    )
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:batch]):
        deleted += ConversationJob.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        logger.info("console: deleted %d background job(s) finished before %s", deleted, cutoff)
    return deleted


def _announce(job: ConversationJob, event: dict[str, Any]) -> None:
    """Publish the event that ends the job's channel, for whoever follows it."""
    try:
        channel_backend().publish_now(job.channel, event)
    except Exception:
        # The row already says what happened; pages read it when the channel stays silent.
        logger.exception("console: could not publish the end of %s", job.public_id)
