"""Admission on the database (the embedded profile, and any deployment without Redis).

One transaction per call: the counter rows of every level are created if missing, then locked
(``SELECT ... FOR UPDATE`` in a fixed order, so two calls never wait on each other crosswise;
on SQLite the ``BEGIN IMMEDIATE`` of the settings already serialises writers), checked, and
incremented with relative UPDATEs. Rate windows are ``RateHit`` rows, counted under the lock of
their subject's counter row and pruned as they fall out of the window.

The async methods run the transaction in asgiref's thread (``sync_to_async``): database work
never runs on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import Count, F, Min, Q

from tenants.limits.counters import Adjustment, Verdict
from tenants.limits.policy import RATE, RATE_WINDOW_SECONDS, Check, Kind
from tenants.models import LimitCounter, RateHit

_WINDOW_MS = RATE_WINDOW_SECONDS * 1000


def _split(counter: str) -> tuple[str, str, str]:
    """``account:42:2025-11:messages`` → (``account:42``, ``2025-11``, ``messages``);
    ``token:x:rpm`` → (``token:x``, ``rpm``, ``rpm``): a rate's lock row."""
    head, _, name = counter.rpartition(":")
    if name == RATE:
        return head, RATE, RATE
    subject, _, period = head.rpartition(":")
    return subject, period, name


class DatabaseCounters:
    async def admit(self, checks: Sequence[Check]) -> Verdict:
        return await sync_to_async(self.admit_sync)(checks)

    async def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        await sync_to_async(self.adjust_sync)(adjustments)

    async def read(self, counters: Sequence[str]) -> list[int]:
        return await sync_to_async(self.read_sync)(counters)

    def admit_sync(self, checks: Sequence[Check]) -> Verdict:
        now_ms = int(time.time() * 1000)
        enforced = [(i, check) for i, check in enumerate(checks) if check.enforced]
        used = [0] * len(checks)
        resets = [0] * len(checks)
        keys = sorted({_split(check.counter) for _, check in enforced})
        with transaction.atomic():
            rows = _locked(keys)
            for i, check in enforced:
                row = rows[_split(check.counter)]
                if check.kind is Kind.RATE:
                    RateHit.objects.filter(
                        subject=row.subject, at_ms__lte=now_ms - _WINDOW_MS
                    ).delete()
                    window = RateHit.objects.filter(subject=row.subject).aggregate(
                        count=Count("id"), oldest=Min("at_ms")
                    )
                    used[i] = window["count"]
                    resets[i] = (window["oldest"] or now_ms) + _WINDOW_MS
                else:
                    used[i] = row.used
                if check.limit is not None and _over(check, used[i]):
                    return Verdict(i, tuple(used), tuple(resets), now_ms)
            hits = []
            for i, check in enforced:
                row = rows[_split(check.counter)]
                if check.kind is Kind.RATE:
                    hits.append(RateHit(subject=row.subject, at_ms=now_ms))
                    used[i] += 1
                elif check.amount:
                    LimitCounter.objects.filter(pk=row.pk).update(used=F("used") + check.amount)
                    used[i] += check.amount
            RateHit.objects.bulk_create(hits)
        return Verdict(None, tuple(used), tuple(resets), now_ms)

    def adjust_sync(self, adjustments: Sequence[Adjustment]) -> None:
        with transaction.atomic():
            for item in adjustments:
                subject, period, name = _split(item.counter)
                counter = LimitCounter.objects.filter(subject=subject, period=period, name=name)
                if counter.update(used=F("used") + item.amount) == 0 and item.amount > 0:
                    LimitCounter.objects.bulk_create(
                        [LimitCounter(subject=subject, period=period, name=name)],
                        ignore_conflicts=True,
                    )
                    counter.update(used=F("used") + item.amount)

    def read_sync(self, counters: Sequence[str]) -> list[int]:
        keys = [_split(counter) for counter in counters]
        found = (
            {
                (row.subject, row.period, row.name): row.used
                for row in LimitCounter.objects.filter(_any_of(keys))
            }
            if keys
            else {}
        )
        return [found.get(key, 0) for key in keys]


def _over(check: Check, used: int) -> bool:
    assert check.limit is not None
    if check.kind is Kind.TOKENS:
        return used >= check.limit
    return used + check.amount > check.limit


def _any_of(keys: Sequence[tuple[str, str, str]]) -> Q:
    condition = Q()
    for subject, period, name in keys:
        condition |= Q(subject=subject, period=period, name=name)
    return condition


def _locked(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], LimitCounter]:
    """The counter rows of ``keys``, created when missing, locked in a fixed order."""
    if not keys:
        return {}

    def select() -> dict[tuple[str, str, str], LimitCounter]:
        query = (
            LimitCounter.objects.select_for_update()
            .filter(_any_of(keys))
            .order_by("subject", "period", "name")
        )
        return {(row.subject, row.period, row.name): row for row in query}

    rows = select()
    for _attempt in range(3):
        if len(rows) == len(keys):
            return rows
        # First use of a counter (a new period, a new account, a new chat session): create
        # the rows, then lock them all; a concurrent creator makes the same rows, which
        # ignore_conflicts absorbs, and a row pruned meanwhile (prune_rate_windows) is made
        # again on the next round.
        missing = [key for key in keys if key not in rows]
        LimitCounter.objects.bulk_create(
            [LimitCounter(subject=s, period=p, name=n) for s, p, n in missing],
            ignore_conflicts=True,
        )
        rows = select()
    if len(rows) < len(keys):
        raise RuntimeError("limit counter rows vanished while being locked")
    return rows


# Subjects that come and go by the thousand (one per widget visitor): their rate rows are
# deleted once idle. Tokens and accounts keep theirs (one row each, used again and again).
EPHEMERAL_SUBJECTS = ("session:",)


def prune_rate_windows(now_ms: int | None = None) -> tuple[int, int]:
    """Delete the rate hits that left every window (an idle subject's are never met again by
    an admission), then the lock rows of idle chat sessions. Returns (hits, rows) deleted."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    hits, _ = RateHit.objects.filter(at_ms__lte=now_ms - _WINDOW_MS).delete()
    idle = LimitCounter.objects.filter(period=RATE, name=RATE).exclude(
        subject__in=RateHit.objects.values("subject")
    )
    ephemeral = Q()
    for prefix in EPHEMERAL_SUBJECTS:
        ephemeral |= Q(subject__startswith=prefix)
    rows, _ = idle.filter(ephemeral).delete()
    return hits, rows
