"""Limits: requests per minute and per-period quotas, for a token, an account and its ancestors.

The proxy calls three functions (``tenants.proxy.app``)::

    reservation = await admit(token_id=..., token_rpm=..., levels=..., metering=..., body=...)
    await give_back(reservation)           # the upstream refused before doing anything
    await settle(reservation, tokens=n)    # the call ended with n tokens reported

- ``policy``: effective limits (plan, overridden by the account) and the checks of a call;
- ``periods``: calendar months in the account's time zone;
- ``counters``: the shared counters, Redis (a Lua script) or the database, atomic across workers;
- ``admission``: the above put together, the 429 answers and the ``RateLimit-*`` headers.

State changes (plans, an account's plan and limits, a token's rate) are in
``tenants.services.limits``.
"""

from __future__ import annotations

from tenants.limits.admission import (
    LimitExceeded,
    LimitsUnavailable,
    Reservation,
    admit,
    give_back,
    settle,
)
from tenants.limits.policy import LEVEL_FIELDS, Level, Rate, level_values

__all__ = [
    "LEVEL_FIELDS",
    "Level",
    "LimitExceeded",
    "LimitsUnavailable",
    "Rate",
    "Reservation",
    "admit",
    "give_back",
    "level_values",
    "settle",
]
