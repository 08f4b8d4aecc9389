"""``authenticate``: a presented token → its ``TokenRecord``, or ``CredentialError`` (401).

Steps, cheapest first: parse and checksum (no lookup) → record (``cache``) → keyed hash of the
presented secret compared in constant time with the current one, then with the previous one
while its rotation grace lasts → revoked? → expired? → note the use.

The secret is checked before revocation and expiry are reported, so only the holder of a token
learns that it was revoked or has expired; anyone else just gets "not valid".

Last use: each process notes a token's use in the shared store at most once per
``LAST_USED_PRECISION`` seconds (the first use after a quiet spell is written at once, later
ones are not), and ``tenants.tasks.flush_token_last_used`` copies the notes to the database in
batches. No database write per request, and the time shown is at most that much behind.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from typing import TYPE_CHECKING

from tenants.credentials.cache import find_record, find_record_sync
from tenants.credentials.errors import CredentialError
from tenants.credentials.format import WIDGET_PREFIX, ParsedToken, hash_secret, parse
from tenants.credentials.store import shared_store

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.credentials.records import TokenRecord

logger = logging.getLogger(__name__)

LAST_USED_PRECISION = 60.0
LAST_USED_TTL = 7 * 24 * 3600
AUTH_SCHEMES = ("bearer", "token")


def _wall_clock() -> float:
    # One place to read the time, so tests can move it (expiry, rotation grace).
    return time.time()


def used_key(token_id: str) -> str:
    return f"used:{token_id}"


def _not_valid() -> CredentialError:
    return CredentialError("The token is not valid.", reason="unknown")


def _verify(parsed: ParsedToken, record: TokenRecord | None, now: float) -> TokenRecord:
    if record is None or (parsed.prefix == WIDGET_PREFIX) != (record.kind == "widget"):
        raise _not_valid()
    presented = hash_secret(parsed.token_id, parsed.secret)
    if not hmac.compare_digest(presented, record.secret_hash):
        previous = record.previous_secret_hash
        if previous is None or not hmac.compare_digest(presented, previous):
            raise CredentialError("The token is not valid.", reason="wrong_secret")
        if record.previous_valid_until is None or now >= record.previous_valid_until:
            raise CredentialError(
                "This token was rotated and its old value no longer works: use the new one.",
                reason="wrong_secret",
            )
    if record.revoked_at is not None:
        raise CredentialError("This token was revoked.", reason="revoked")
    if record.expires_at is not None and now >= record.expires_at:
        raise CredentialError("This token has expired.", reason="expired")
    return record


class _LastUsed:
    """When this process last wrote each token's use to the shared store (monotonic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[str, float] = {}

    def due(self, token_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._written.get(token_id, float("-inf")) < LAST_USED_PRECISION:
                return False
            if len(self._written) > 100_000:
                self._written.clear()
            self._written[token_id] = now
            return True

    def clear(self) -> None:
        with self._lock:
            self._written.clear()


_last_used = _LastUsed()


def clear_last_used_notes() -> None:
    """Forget when this process last noted each token (tests)."""
    _last_used.clear()


async def authenticate(raw: str) -> TokenRecord:
    """The record of a valid presented token, else ``CredentialError`` (401 NOT_AUTHENTICATED).

    No database access while warm; on a miss, one query through ``sync_to_async``.
    """
    parsed = parse(raw)
    record = _verify(parsed, await find_record(parsed.token_id), _wall_clock())
    if _last_used.due(record.token_id):
        try:
            await shared_store().aset(used_key(record.token_id), str(_wall_clock()), LAST_USED_TTL)
        except Exception:
            logger.warning("token store unavailable: last use not noted", exc_info=True)
    return record


def authenticate_sync(raw: str) -> TokenRecord:
    """``authenticate`` for synchronous views (the partner API, DRF authentication)."""
    parsed = parse(raw)
    record = _verify(parsed, find_record_sync(parsed.token_id), _wall_clock())
    if _last_used.due(record.token_id):
        try:
            shared_store().set(used_key(record.token_id), str(_wall_clock()), LAST_USED_TTL)
        except Exception:
            logger.warning("token store unavailable: last use not noted", exc_info=True)
    return record


def token_from_authorization(value: str | None) -> str:
    """The token in an ``Authorization`` header (``Bearer <token>`` or ``Token <token>``).

    Raises ``CredentialError`` when the header is missing or uses another scheme.
    """
    if not value or not value.strip():
        raise CredentialError(
            "No token was given: send Authorization: Bearer <token>.", reason="missing"
        )
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in AUTH_SCHEMES or not token.strip():
        raise CredentialError(
            "Send the token as Authorization: Bearer <token> (or Token <token>).",
            reason="malformed",
        )
    return token.strip()


def authenticate_request(request: HttpRequest) -> TokenRecord:
    """The record of the token in a Django request's ``Authorization`` header (sync views)."""
    return authenticate_sync(token_from_authorization(request.headers.get("Authorization")))
