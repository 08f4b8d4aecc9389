"""Copying the last-use notes from the shared store to ``Token.last_used_at``, in batches.

Run by ``tenants.tasks.flush_token_last_used`` (Celery beat, every minute). Idempotent: a row
is only moved forward, so running it twice, or in two workers at once, changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from tenants.credentials.authentication import LAST_USED_TTL, used_key
from tenants.credentials.store import shared_store

BATCH = 500


def flush_last_used() -> int:
    """Write every newer noted last use to the database; returns how many rows moved."""
    from tenants.models import Token

    # Tokens that can still be used, or stopped working recently enough to have a note left.
    since = timezone.now() - timedelta(seconds=LAST_USED_TTL)
    candidates = (
        Token.objects.filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=since))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=since))
        .order_by("pk")
        .values_list("pk", "token_id", "last_used_at")
    )
    store = shared_store()
    updated = 0
    batch: list[tuple[int, str, datetime | None]] = []

    def flush(rows: list[tuple[int, str, datetime | None]]) -> int:
        notes = store.get_many(used_key(token_id) for _, token_id, _ in rows)
        moved = 0
        for pk, token_id, last_used_at in rows:
            note = notes.get(used_key(token_id))
            if note is None:
                continue
            used_at = datetime.fromtimestamp(float(note), tz=UTC)
            if last_used_at is None or used_at > last_used_at:
                moved += (
                    Token.objects.filter(pk=pk)
                    .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at))
                    .update(last_used_at=used_at)
                )
        return moved

    for row in candidates.iterator(chunk_size=BATCH):
        batch.append(row)
        if len(batch) >= BATCH:
            updated += flush(batch)
            batch = []
    if batch:
        updated += flush(batch)
    return updated
