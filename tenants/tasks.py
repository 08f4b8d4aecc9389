"""Celery tasks of the tenants app: thin, idempotent, safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from tenants.credentials.last_used import flush_last_used
from tenants.limits import db_counters
from tenants.services.impersonation import end_expired_sessions


@shared_task(name="tenants.tasks.flush_token_last_used", ignore_result=True)
def flush_token_last_used() -> int:
    """Copy tokens' last-use notes from the shared store to the database (beat: every minute)."""
    return flush_last_used()


@shared_task(name="tenants.tasks.end_expired_support_sessions", ignore_result=True)
def end_expired_support_sessions() -> int:
    """Mark support sessions past their time as expired (beat: every minute).

    A person who comes back finds theirs ended anyway (the middleware checks on each request);
    this keeps the lists right for sessions nobody came back to.
    """
    return end_expired_sessions()


@shared_task(name="tenants.tasks.prune_rate_windows", ignore_result=True)
def prune_rate_windows() -> int:
    """Delete rate-window rows nobody will read again (database counters only; Redis expires
    its own). Beat: every 10 minutes."""
    if settings.REDIS_URL:
        return 0
    hits, rows = db_counters.prune_rate_windows()
    return hits + rows
