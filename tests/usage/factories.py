"""Rollups and raw events as the metering tasks would have written them."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from django.utils import timezone

from tenants.metering.models import UsageEvent, UsageRollup
from tenants.metering.rollups import floor_day, floor_hour
from tenants.models import Account

_numbers = itertools.count(1)
FIELDS = ("messages", "tokens", "conversations", "requests", "errors")


def make_usage(account: Account, when: datetime | None = None, **totals: int) -> dict[str, int]:
    """The hourly and the daily rollup (all tokens) of ``account`` holding ``totals`` at
    ``when`` (default: now), as ``rollup_usage`` leaves them; adds to rollups already there."""
    when = when or timezone.now()
    values = {name: totals.get(name, 0) for name in FIELDS}
    for granularity, bucket in (
        (UsageRollup.Granularity.HOUR, floor_hour(when)),
        (UsageRollup.Granularity.DAY, floor_day(when)),
    ):
        row, _ = UsageRollup.objects.get_or_create(
            granularity=granularity,
            bucket_start=bucket,
            account_id=account.pk,
            token_id=UsageRollup.ALL_TOKENS,
        )
        for name, value in values.items():
            setattr(row, name, getattr(row, name) + value)
        row.save()
    return values


def make_rejection(account: Account, when: datetime | None = None, **fields: Any) -> UsageEvent:
    number = next(_numbers)
    values: dict[str, Any] = {
        "account_id": account.pk,
        "token_id": "tok_test",
        "route": "/conversation/complete",
        "method": "POST",
        "status": 429,
        "error_code": "LIMITS_REACHED",
        "duration_ms": 3,
        "request_id": f"req-limit-{number}",
        "created_at": when or timezone.now(),
    }
    values.update(fields)
    return UsageEvent.objects.create(**values)
