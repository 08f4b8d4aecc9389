"""What limits apply to a call, and what it must reserve: plain data, no I/O.

Effective limits of an account = its plan's, overridden key by key by the account's own
(``Account.limits`` for the period quotas, the upstream's keys; ``Account.rpm`` for the rate).
A call is checked against its token's rate and, for the acting account and every ancestor,
the rate and the period quotas: usage of a tenant counts against itself and all above it.

The account side comes from the proxy's cached account tree (``tenants.proxy.acting`` keeps one
``Level`` per account of the lineage, built by ``level_values`` on its cold path), so building
the checks touches neither the database nor the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tenants.limits.periods import Period, period_at

# The upstream's per-period allowances (UPSTREAM.md §5), in its own units.
QUOTAS = ("messages", "tokens", "conversations")
RATE = "rpm"
RATE_WINDOW_SECONDS = 60
# Period counters outlive their period by this much, so that a late settle still finds them.
COUNTER_SLACK_SECONDS = 3 * 24 * 3600

# The account fields ``level_values`` reads (``tenants.proxy.acting`` adds them to its query).
LEVEL_FIELDS = (
    "pk",
    "public_id",
    "name",
    "timezone",
    "limits",
    "rpm",
    "plan__messages",
    "plan__tokens",
    "plan__conversations",
    "plan__rpm",
)


class Kind(StrEnum):
    RATE = "r"  # a sliding 60 s window of requests
    QUOTA = "q"  # a period counter this call reserves ``amount`` of; refused past the limit
    TOKENS = "t"  # a period counter checked only (settled later); refused at or over the limit


@dataclass(frozen=True, slots=True)
class Level:
    """One account of a lineage: whose it is, where its periods start, and its limits."""

    pk: int
    public_id: str
    name: str
    timezone: str
    rpm: int | None
    quotas: Mapping[str, int]  # only the quotas that are set

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Level:
        return cls(
            pk=values["pk"],
            public_id=values["public_id"],
            name=values["name"],
            timezone=values["timezone"],
            rpm=values["rpm"],
            quotas=dict(values["quotas"]),
        )

    @property
    def subject(self) -> str:
        return f"account:{self.pk}"


def level_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The cacheable form (plain JSON) of a ``Level``, from a row of ``LEVEL_FIELDS``."""
    own: Mapping[str, Any] = row["limits"] if isinstance(row["limits"], Mapping) else {}
    quotas: dict[str, int] = {}
    for name in QUOTAS:
        value = own.get(name, row[f"plan__{name}"])
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            quotas[name] = int(value)
    rpm = row["rpm"] if row["rpm"] is not None else row["plan__rpm"]
    return {
        "pk": row["pk"],
        "public_id": row["public_id"],
        "name": row["name"],
        "timezone": row["timezone"] or "UTC",
        "rpm": rpm,
        "quotas": quotas,
    }


@dataclass(frozen=True, slots=True)
class Check:
    """One counter a call is checked against (and, when admitted, adds ``amount`` to)."""

    subject: str  # "account:42" | "token:<token id>"
    kind: Kind
    name: str  # "rpm" | "messages" | "tokens" | "conversations"
    limit: int | None  # None: counted (so a limit set mid-period is right), never refused
    amount: int
    period: Period | None  # None for rates
    level: Level | None  # None for the token's own rate and the call's other ``Rate``s
    label: str = ""  # how a refusal names a subject that is no level ("" : the token)

    @property
    def counter(self) -> str:
        """The counter's name in the backends: ``account:42:2025-11:messages``."""
        if self.period is None:
            return f"{self.subject}:{RATE}"
        return f"{self.subject}:{self.period.key}:{self.name}"

    @property
    def expires_at(self) -> int:
        """When the backend may forget the counter (epoch seconds; 0 for rates, whose
        windows expire by themselves)."""
        if self.period is None:
            return 0
        return self.period.end_s + COUNTER_SLACK_SECONDS

    @property
    def enforced(self) -> bool:
        """False for a tokens check without a limit: nothing to refuse, nothing to write."""
        return self.limit is not None or self.kind is not Kind.TOKENS


@dataclass(frozen=True, slots=True)
class Rate:
    """A requests-per-minute limit of another subject of the call, such as one chat session of
    a widget key (``tenants.widget``): checked and counted in the same atomic step as the rest.
    """

    subject: str  # "session:<token id>:<digest>"; at most 76 characters (LimitCounter.subject)
    limit: int
    label: str  # how a refusal names it: "This chat session"


@dataclass(frozen=True, slots=True)
class Cost:
    """What a call reserves at admission, by the route's metering (``tenants.proxy.routes``)."""

    messages: int = 0
    conversations: int = 0
    tokens: bool = False  # the tokens quota is checked (usage settled when the call ends)


def cost_of(metering: str, body: Mapping[str, Any]) -> Cost:
    """What a call costs, in the upstream's own units: every message it stores or produces.

    - ``message`` (send, message/create, a stateless dispatch) and ``stream`` (a stateless
      completion, receive): 1 message, tokens checked;
    - ``stateful`` (complete or dispatch on a stored conversation): the user's message when the
      body carries ``text``, plus the bot's reply: 2 messages (1 without text), tokens checked;
    - ``conversation``: 1 conversation, plus each message it is created with.

    The same cost is reserved at admission and recorded by metering, so quotas, usage pages
    and the nightly reconciliation against the upstream's ``usage/fetch`` agree.
    """
    if metering in ("message", "stream"):
        return Cost(messages=1, tokens=True)
    if metering == "stateful":
        text = body.get("text")
        return Cost(messages=2 if isinstance(text, str) and text else 1, tokens=True)
    if metering == "conversation":
        messages = body.get("messages")
        return Cost(conversations=1, messages=len(messages) if isinstance(messages, list) else 0)
    return Cost()


def checks_for(
    *,
    token_id: str,
    token_rpm: int | None,
    levels: Sequence[Level],
    cost: Cost,
    now: datetime,
    rates: Sequence[Rate] = (),
    follow_up: bool = False,
) -> list[Check]:
    """Every check of one call: the token's rate, the call's other ``rates``, then each level
    from the acting account up. ``follow_up``: a later call of one request already admitted
    (a widget turn's complete after its create): quotas only, no rate counted again."""
    checks: list[Check] = []
    if follow_up:
        token_rpm, rates = None, ()
    if token_rpm is not None:
        checks.append(Check(f"token:{token_id}", Kind.RATE, RATE, token_rpm, 1, None, None))
    for rate in rates:
        checks.append(Check(rate.subject, Kind.RATE, RATE, rate.limit, 1, None, None, rate.label))
    for level in reversed(levels):
        if level.rpm is not None and not follow_up:
            checks.append(Check(level.subject, Kind.RATE, RATE, level.rpm, 1, None, level))
        wanted = (
            ("messages", Kind.QUOTA, cost.messages),
            ("conversations", Kind.QUOTA, cost.conversations),
            ("tokens", Kind.TOKENS, 0 if cost.tokens else -1),
        )
        period: Period | None = None
        for name, kind, amount in wanted:
            if amount < 0 or (kind is Kind.QUOTA and amount == 0):
                continue
            period = period or period_at(level.timezone, now)
            limit = level.quotas.get(name)
            checks.append(Check(level.subject, kind, name, limit, amount, period, level))
    return checks
