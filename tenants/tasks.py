"""Celery tasks of the tenants app: thin, idempotent, safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task

from tenants.credentials.last_used import flush_last_used


@shared_task(name="tenants.tasks.flush_token_last_used", ignore_result=True)
def flush_token_last_used() -> int:
    """Copy tokens' last-use notes from the shared store to the database (beat: every minute)."""
    return flush_last_used()
