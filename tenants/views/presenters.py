"""How audit events read on a page: one short line per changed field, empty values left out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tenants.models import AuditEvent

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
