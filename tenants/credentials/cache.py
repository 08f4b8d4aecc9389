"""Where token records come from: this process's memory, then the shared store, then the DB.

The hot path must not touch the database while warm, and a revocation must reach every worker
process within a second. Three layers:

1. **In-process** (``_Local``): token id → record (or "no such token"), for at most
   ``LOCAL_MAX_AGE`` seconds, and only while the shared *revocation epoch* is unchanged.
2. **Shared store** (``store.shared_store()``: Redis, else Django's database cache): the record
   as JSON under ``record:<token id>``, written by the services on commit (issue, rotate,
   revoke) and filled from the database on a miss.
3. **Database**: on a miss in both (via ``sync_to_async`` on the async path, on a miss only).

Revocation: ``rotate_token`` and ``revoke_token`` rewrite the shared record on commit, *then*
change the epoch (a random value under ``epoch``). Each process reads the epoch at most every
``PORTAL_TOKEN_REVOCATION_CHECK_MS`` (≤ 1000 ms) and, when it changed, drops its whole
in-process cache, so its next lookup reads the rewritten record. That costs one small shared
read per process per interval, however many tokens it serves (one caller reads it; the calls
that arrive during that read go on with the records in memory, as between two reads), and
revocations are rare enough that dropping everything on one is cheap.

Fills from the database use "add" (write only if absent), never "set": a fill that read the row
just before a revocation committed cannot overwrite the revoked record the service wrote. A
fill into memory is dropped if the epoch moved while it was being read (``generation``).

When the shared store fails, nothing is trusted from memory: lookups go to the database until
the store answers again (slower, never stale).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.conf import settings

from tenants.credentials.records import TokenRecord, record_from_token
from tenants.credentials.store import shared_store

if TYPE_CHECKING:
    from tenants.models import Token

logger = logging.getLogger(__name__)

EPOCH_KEY = "epoch"
EPOCH_TTL = 30 * 24 * 3600
RECORD_TTL = 600
MISSING_TTL = 60
MISSING = "-"  # the shared store's "no such token"
# A safety net for rows changed outside the services (the admin, a shell): a record is re-read
# from the shared store at least this often even when no epoch change says so.
LOCAL_MAX_AGE = 300.0
LOCAL_MAX_ENTRIES = 100_000


def record_key(token_id: str) -> str:
    return f"record:{token_id}"


def _check_interval() -> float:
    return int(getattr(settings, "PORTAL_TOKEN_REVOCATION_CHECK_MS", 500)) / 1000


class _Local:
    """This process's records. Shared by threads (sync views) and the event loop (proxy)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, tuple[TokenRecord | None, float]] = {}
        self.epoch: str | None = None
        self.epoch_checked_at = float("-inf")
        self.store_ok = False  # True once the epoch was read; False after a store error
        self.generation = 0  # bumped on every clear

    def claim_epoch_check(self, now: float) -> bool:
        """Whether this caller reads the epoch now. While the store answers, one caller at a
        time does, and the others go on with the records here (as they do between checks):
        a busy worker must not send every call of that moment to the store."""
        with self._lock:
            if now - self.epoch_checked_at < _check_interval():
                return False
            if self.store_ok:
                self.epoch_checked_at = now
            return True

    def apply_epoch(self, value: str | None, now: float) -> None:
        with self._lock:
            if not self.store_ok or value != self.epoch:
                self._clear()
            self.epoch, self.epoch_checked_at, self.store_ok = value, now, True

    def store_failed(self, now: float) -> None:
        with self._lock:
            self._clear()
            self.epoch_checked_at, self.store_ok = now, False

    def get(self, token_id: str, now: float) -> tuple[bool, TokenRecord | None]:
        if not self.store_ok:
            return False, None
        entry = self._records.get(token_id)
        if entry is None or now - entry[1] > LOCAL_MAX_AGE:
            return False, None
        return True, entry[0]

    def put(self, token_id: str, record: TokenRecord | None, generation: int) -> None:
        with self._lock:
            if not self.store_ok or generation != self.generation:
                return  # the epoch moved while this was read: it may be stale
            if len(self._records) >= LOCAL_MAX_ENTRIES:
                self._records.clear()
            self._records[token_id] = (record, time.monotonic())

    def drop(self, token_id: str) -> None:
        with self._lock:
            self._records.pop(token_id, None)
            self.generation += 1

    def clear(self) -> None:
        with self._lock:
            self._clear()
            self.epoch_checked_at, self.store_ok = float("-inf"), False

    def _clear(self) -> None:
        self._records.clear()
        self.generation += 1


_local = _Local()


def clear_local_cache() -> None:
    """Forget every record held in this process (tests; a process that wants a fresh start)."""
    _local.clear()


def _decode(text: str) -> TokenRecord | None:
    return None if text == MISSING else TokenRecord.from_json(text)


def _encode(record: TokenRecord | None) -> tuple[str, int]:
    return (MISSING, MISSING_TTL) if record is None else (record.to_json(), RECORD_TTL)


def _load_from_database(token_id: str, *, fill_store: bool) -> TokenRecord | None:
    from tenants.models import Token

    token = (
        Token.objects.select_related("account")
        .prefetch_related("widget_origins")
        .filter(token_id=token_id)
        .first()
    )
    record = record_from_token(token) if token is not None else None
    if fill_store:
        value, ttl = _encode(record)
        try:
            shared_store().add(record_key(token_id), value, ttl)
        except Exception:
            logger.warning("token store unavailable: could not cache a token record", exc_info=True)
    return record


# -- lookups -----------------------------------------------------------------------------------


async def find_record(token_id: str) -> TokenRecord | None:
    """The record of ``token_id``, or None if there is no such token (async, for the proxy)."""
    store = shared_store()
    now = time.monotonic()
    if _local.claim_epoch_check(now):
        try:
            _local.apply_epoch(await store.aget(EPOCH_KEY), now)
        except Exception:
            logger.warning(
                "token store unavailable: reading tokens from the database", exc_info=True
            )
            _local.store_failed(now)
    hit, record = _local.get(token_id, now)
    if hit:
        return record
    generation = _local.generation
    if _local.store_ok:
        try:
            text = await store.aget(record_key(token_id))
        except Exception:
            logger.warning(
                "token store unavailable: reading tokens from the database", exc_info=True
            )
            _local.store_failed(now)
        else:
            if text is not None:
                record = _decode(text)
                _local.put(token_id, record, generation)
                return record
    fill = _local.store_ok
    record = await sync_to_async(_load_from_database)(token_id, fill_store=fill)
    _local.put(token_id, record, generation)
    return record


def find_record_sync(token_id: str) -> TokenRecord | None:
    """``find_record`` for synchronous code (the partner API, DRF, management commands)."""
    store = shared_store()
    now = time.monotonic()
    if _local.claim_epoch_check(now):
        try:
            _local.apply_epoch(store.get(EPOCH_KEY), now)
        except Exception:
            logger.warning(
                "token store unavailable: reading tokens from the database", exc_info=True
            )
            _local.store_failed(now)
    hit, record = _local.get(token_id, now)
    if hit:
        return record
    generation = _local.generation
    if _local.store_ok:
        try:
            text = store.get(record_key(token_id))
        except Exception:
            logger.warning(
                "token store unavailable: reading tokens from the database", exc_info=True
            )
            _local.store_failed(now)
        else:
            if text is not None:
                record = _decode(text)
                _local.put(token_id, record, generation)
                return record
    record = _load_from_database(token_id, fill_store=_local.store_ok)
    _local.put(token_id, record, generation)
    return record


# -- writes (the services, on commit) ------------------------------------------------------------


def publish(token: Token, *, revoke_cached: bool) -> None:
    """Write the token's current record to the shared store; with ``revoke_cached``, make every
    process drop what it holds in memory (within ``PORTAL_TOKEN_REVOCATION_CHECK_MS``).

    Called by the services after their transaction commits. The record is written before the
    epoch changes, so a process that sees the new epoch always reads the new record.
    """
    record = record_from_token(token)
    _local.drop(token.token_id)
    store = shared_store()
    try:
        store.set(record_key(token.token_id), record.to_json(), RECORD_TTL)
        if revoke_cached:
            store.set(EPOCH_KEY, secrets.token_hex(8), EPOCH_TTL)
    except Exception:
        # The database already says the truth; other processes read it once their store works.
        logger.exception("token store unavailable: token %s not republished", token.token_id)
