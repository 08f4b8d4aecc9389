"""How things read on a page: audit events (one short line per changed field, empty values left
out) and tokens (a status a person understands, each scope with its explanation)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from tenants.credentials.scopes import ScopeError, explain
from tenants.models import AuditEvent, Token

_LONGEST = 80


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class EventRow:
    event: AuditEvent
    changes: list[Change]


def _text(value: Any) -> str | None:
    if value is None or value in ("", {}, []):
        return None
    if isinstance(value, dict):
        text = ", ".join(f"{key}: {item}" for key, item in value.items())
    elif isinstance(value, list):
        text = ", ".join(str(item) for item in value)
    else:
        text = str(value)
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"


def changes_of(event: AuditEvent) -> list[Change]:
    """``{"f": {"before": a, "after": b}}`` and plain ``{"f": v}`` entries, as readable pairs."""
    changes = []
    for field, value in event.changes.items():
        if isinstance(value, dict) and set(value) == {"before", "after"}:
            before, after = _text(value["before"]), _text(value["after"])
        else:
            before, after = None, _text(value)
        if before is None and after is None:
            continue  # "limits: {} → {}" on a creation says nothing
        changes.append(Change(field=field, before=before, after=after))
    return changes


def event_rows(events: Iterable[AuditEvent]) -> list[EventRow]:
    return [EventRow(event=event, changes=changes_of(event)) for event in events]


# -- tokens ------------------------------------------------------------------------------------

# A token that stops working within this reads "expiring" on the list, so nobody is surprised.
EXPIRING_WITHIN = timedelta(days=7)


@dataclass(frozen=True)
class ScopeLine:
    scope: str
    help: str


@dataclass(frozen=True)
class TokenRow:
    token: Token
    status: str  # a CSS suffix and a stable key: active, expiring, grace, revoked, expired
    label: str
    scopes: list[ScopeLine]


def token_status(token: Token, now: datetime) -> tuple[str, str]:
    if token.revoked_at is not None:
        return "revoked", "Revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired", "Expired"
    if token.in_rotation_grace:
        return "grace", "In rotation grace"
    if token.expires_at is not None and token.expires_at - now <= EXPIRING_WITHIN:
        return "expiring", "Expiring"
    return "active", "Active"


def scope_lines(scopes: Iterable[str]) -> list[ScopeLine]:
    lines = []
    for scope in scopes:
        try:
            text = explain(scope)
        except (ScopeError, KeyError):
            # Granted before the catalogue changed: the proxy refuses it, say so.
            text = "No longer in the scope catalogue: it grants nothing."
        lines.append(ScopeLine(scope=scope, help=text))
    return lines


def token_rows(tokens: Iterable[Token]) -> list[TokenRow]:
    now = timezone.now()
    rows = []
    for token in tokens:
        status, label = token_status(token, now)
        rows.append(
            TokenRow(token=token, status=status, label=label, scopes=scope_lines(token.scopes))
        )
    return rows
