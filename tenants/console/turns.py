"""Turns streamed to the page: handed from the POST that sends a message to the stream that runs it.

A browser's ``EventSource`` can only GET, and a GET must not carry a message nor change
anything on its own. So the POST (CSRF-checked) stores the turn in the shared cache under a
random id and answers with the markup that opens the stream; the stream's GET claims the turn
once (``cache.add``: a reconnecting browser or a second tab cannot run it twice) and runs it.

Stop is a flag in the same cache: the Stop button's POST may land on another worker process
than the stream, and the stream looks for the flag while it runs (``STOP_POLL_SECONDS``).
Everything expires after ``TURN_TTL_SECONDS``: an unclaimed turn is simply forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from django.core.cache import cache

from tenants.console.calls import Turn

logger = logging.getLogger("tenants.console")
TURN_TTL_SECONDS = 600
STOP_POLL_SECONDS = 0.25
_PREFIX = "console:turn:"


@dataclass(frozen=True, slots=True)
class PendingTurn:
    id: str
    person_id: int
    account_public_id: str
    turn: Turn

    def as_cached(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "account_public_id": self.account_public_id,
            "turn": asdict(self.turn),
        }

    @classmethod
    def from_cached(cls, turn_id: str, value: Any) -> PendingTurn | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                turn_id, int(value["person_id"]), value["account_public_id"], Turn(**value["turn"])
            )
        except (KeyError, TypeError, ValueError):
            return None


def save_turn(*, person_id: int, account_public_id: str, turn: Turn) -> PendingTurn:
    pending = PendingTurn(secrets.token_urlsafe(16), person_id, account_public_id, turn)
    cache.set(_PREFIX + pending.id, pending.as_cached(), TURN_TTL_SECONDS)
    return pending


async def load_turn(turn_id: str, person_id: int) -> PendingTurn | None:
    """The turn, if it exists and is this person's (anyone else: None, as for a missing one)."""
    pending = PendingTurn.from_cached(turn_id, await cache.aget(_PREFIX + turn_id))
    if pending is None or pending.person_id != person_id:
        return None
    return pending


async def claim_turn(turn_id: str) -> bool:
    """True once per turn: for the stream that runs it."""
    return bool(await cache.aadd(f"{_PREFIX}{turn_id}:claimed", 1, TURN_TTL_SECONDS))


def request_stop(turn_id: str) -> None:
    cache.set(f"{_PREFIX}{turn_id}:stop", 1, TURN_TTL_SECONDS)


async def watch_for_stop(turn_id: str, stop: asyncio.Event) -> None:
    """Set ``stop`` when the turn's Stop flag appears (run as a task beside the stream)."""
    key = f"{_PREFIX}{turn_id}:stop"
    while not stop.is_set():
        try:
            asked = await cache.aget(key)
        except Exception:
            # The cache is down: the turn runs to its end (leaving the page still stops it).
            logger.warning("console: cannot watch turn %s for Stop", turn_id, exc_info=True)
            return
        if asked:
            stop.set()
            return
        await asyncio.sleep(STOP_POLL_SECONDS)
