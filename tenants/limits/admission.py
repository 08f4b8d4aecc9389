"""Admission: the one atomic check-and-reserve of a proxied call, and its settling at the end.

    reservation = await admit(token_id=..., token_rpm=..., levels=..., metering=..., body=...)
    ... forward ...
    await give_back(reservation)            # the upstream refused before doing anything
    await settle(reservation, tokens=n)     # the call ended; n = the upstream's reported usage

``admit`` raises ``LimitExceeded`` (429, the upstream's codes, a message naming the limit in
words, the details, ``Retry-After``) and otherwise returns a ``Reservation`` whose
``headers`` are the ``RateLimit-*`` of the tightest limit, for every proxied answer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenants.limits.counters import Adjustment, Counters, Verdict, backend
from tenants.limits.policy import Check, Cost, Kind, Level, Rate, checks_for, cost_of

logger = logging.getLogger("tenants.limits")

Headers = list[tuple[bytes, bytes]]


class LimitExceeded(Exception):
    """A refusal: 429 with ``code`` TOO_MANY_REQUESTS (a rate) or LIMITS_REACHED (a quota)."""

    status = 429

    def __init__(self, message: str, code: str, details: dict[str, Any], headers: Headers):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details  # the body's "limit" object
        self.headers = headers


class LimitsUnavailable(Exception):
    """The counters could not be reached: the call is refused (503), never let through
    unchecked."""


@dataclass(slots=True)
class Reservation:
    counters: Counters
    reserved: list[Adjustment]  # messages and conversations taken at admission
    token_counters: list[Adjustment]  # each level's tokens counter of the period (amount 0)
    headers: Headers
    # What the call costs (messages, conversations): metering records the same numbers.
    cost: Cost = field(default_factory=Cost)
    done: bool = field(default=False)


async def admit(
    *,
    token_id: str,
    token_rpm: int | None,
    levels: Sequence[Level],
    metering: str,
    body: Mapping[str, Any],
    rates: Sequence[Rate] = (),
    follow_up: bool = False,
    now: datetime | None = None,
    counters: Counters | None = None,
) -> Reservation:
    """Check every limit of the call and reserve what it costs, atomically, or refuse it.

    ``rates``: the call's other requests-per-minute limits (a widget key's chat session).
    """
    now = now or datetime.now(UTC)
    counters = counters or backend()
    cost = cost_of(metering, body)
    checks = checks_for(
        token_id=token_id,
        token_rpm=token_rpm,
        levels=levels,
        cost=cost,
        now=now,
        rates=rates,
        follow_up=follow_up,
    )
    if not any(check.enforced for check in checks):
        return Reservation(counters, [], [], [], cost)
    try:
        verdict = await counters.admit(checks)
    except Exception as error:
        logger.warning("limits backend failed: %s", error)
        raise LimitsUnavailable from error
    if verdict.refused is not None:
        raise _refusal(checks[verdict.refused], verdict, verdict.refused, levels, now)
    reserved = [
        Adjustment(check.counter, -check.amount, check.expires_at)
        for check in checks
        if check.kind is Kind.QUOTA and check.amount
    ]
    token_counters = [
        Adjustment(check.counter, 0, check.expires_at)
        for check in checks
        if check.kind is Kind.TOKENS
    ]
    return Reservation(
        counters, reserved, token_counters, _rate_headers(checks, verdict, now), cost
    )


async def give_back(reservation: Reservation) -> None:
    """Return the messages and conversations reserved by a call the upstream refused before
    doing anything (an error status before any stream). Once per reservation."""
    if reservation.done:
        return
    reservation.done = True
    if reservation.reserved:
        await _adjust(reservation, reservation.reserved)


async def settle(reservation: Reservation, *, tokens: int) -> None:
    """Add the call's tokens (as the upstream reported them) to every level's period counter.
    Once per reservation."""
    if reservation.done:
        return
    reservation.done = True
    if tokens > 0 and reservation.token_counters:
        changes = [
            Adjustment(item.counter, tokens, item.expires_at) for item in reservation.token_counters
        ]
        await _adjust(reservation, changes)


async def _adjust(reservation: Reservation, changes: list[Adjustment]) -> None:
    try:
        await reservation.counters.adjust(changes)
    except Exception:
        # The call is over; losing one adjustment must not turn its answer into an error.
        logger.exception("limits: could not apply %s", changes)


# -- answers -----------------------------------------------------------------------------------


def _rate_headers(checks: Sequence[Check], verdict: Verdict, now: datetime) -> Headers:
    """``RateLimit-Limit/Remaining/Reset`` of the tightest limit (the smallest share left)."""
    tightest: tuple[float, int, int, int] | None = None
    for i, check in enumerate(checks):
        if check.limit is None:
            continue
        remaining = max(0, check.limit - verdict.used[i])
        reset = _reset_seconds(check, verdict, i, now)
        share = remaining / check.limit if check.limit else 0.0
        candidate = (share, reset, check.limit, remaining)
        if tightest is None or candidate[:2] < tightest[:2]:
            tightest = candidate
    if tightest is None:
        return []
    _, reset, limit, remaining = tightest
    return [
        (b"ratelimit-limit", str(limit).encode()),
        (b"ratelimit-remaining", str(remaining).encode()),
        (b"ratelimit-reset", str(reset).encode()),
    ]


def _reset_seconds(check: Check, verdict: Verdict, i: int, now: datetime) -> int:
    if check.period is None:
        return max(1, math.ceil((verdict.resets_ms[i] - verdict.now_ms) / 1000))
    return max(1, math.ceil(check.period.seconds_left(now)))


def _refusal(
    check: Check, verdict: Verdict, i: int, levels: Sequence[Level], now: datetime
) -> LimitExceeded:
    assert check.limit is not None
    used = verdict.used[i]
    retry_after = _reset_seconds(check, verdict, i, now)
    details: dict[str, Any] = {}
    if check.level is None:
        # "token:<id>" → {"token": id}; a call's other rates alike ("session:…").
        subject_kind, _, subject_id = check.subject.partition(":")
        details[subject_kind] = subject_id
    else:
        details["account"] = check.level.public_id
    if check.period is None:
        reset_at = verdict.resets_ms[i]
        code = "TOO_MANY_REQUESTS"
        who = (check.label or "This token") if check.level is None else _who(check.level, levels)
        message = (
            f"{who} has made {_count(check.limit, 'request')} in the last minute, its limit "
            f"(retry in {retry_after} s)."
        )
    else:
        reset_at = check.period.end_ms
        code = "LIMITS_REACHED"
        assert check.level is not None
        who = _who(check.level, levels)
        reset = check.period.describe_reset()
        if check.limit == 0:
            message = f"{who} may not use any {check.name} (its limit is 0)."
        else:
            message = (
                f"{who} has used its {_count(check.limit, check.name[:-1])} for "
                f"{check.period.label} (resets {reset})."
            )
    details.update({"name": check.name, "limit": check.limit, "used": used, "resetAt": reset_at})
    headers: Headers = [
        (b"retry-after", str(retry_after).encode()),
        (b"ratelimit-limit", str(check.limit).encode()),
        (b"ratelimit-remaining", b"0"),
        (b"ratelimit-reset", str(retry_after).encode()),
    ]
    if code == "LIMITS_REACHED":
        # As the upstream marks its own limit errors (UPSTREAM.md §2).
        headers.append((b"x-failure-code", b"LIMITS_REACHED"))
    return LimitExceeded(message, code, details, headers)


def _who(level: Level, levels: Sequence[Level]) -> str:
    acting = levels[-1] if levels else level
    if level.pk == acting.pk:
        return level.name
    # An ancestor's limit: the tenant learns that it is shared, and with whom.
    return f"{level.name} (above {acting.name})"


def _count(number: int, singular: str) -> str:
    return f"{number} {singular}" if number == 1 else f"{number} {singular}s"
