"""Reading back what the portal recorded."""

from __future__ import annotations

from tenants import credentials
from tenants.metering.models import UsageEvent
from tests.processes import wait_for


def token_id(plaintext: str) -> str:
    return credentials.parse(plaintext).token_id


def events_of(plaintext: str, count: int, seconds: float = 5) -> list[UsageEvent]:
    """The token's usage events, once ``count`` of them reached the database (oldest first)."""
    events = UsageEvent.objects.filter(token_id=token_id(plaintext)).order_by("pk")
    wait_for(lambda: events.count() >= count, seconds, f"{count} usage event(s)")
    found = list(events)
    assert len(found) == count, [(e.route, e.status) for e in found]
    return found
