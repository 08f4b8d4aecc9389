"""Web origins of widget keys: what an origin is, and whether some live key lists one.

An origin is what a browser sends in its ``Origin`` header: ``scheme://host[:port]``, the
scheme and host in lower case, an international host in its ASCII (punycode) form, and no
port when it is the scheme's default. ``normalize_origin`` turns what a person types
(``https://Shop.Example/``, ``https://shop.example:443``) into exactly that, so that the
comparison with the header is a plain string equality.

A CORS preflight carries an origin but no key, so it can only ask whether *some* live widget
key lists the origin (``is_listed``); the request that follows carries the key, and is held to
that key's own origins (``tenants.widget.app``). ``is_listed`` is on a browser's path, and
anyone can send preflights with made-up origins, so it answers from this process's memory
alone, as ``tenants.branding.lookup`` answers for custom hosts:

1. **In-process**: every origin some live widget key lists (with when its last listing key
   expires, so an expiry needs no announcement), kept while the shared *epoch* is unchanged.
   Each process reads the epoch (one small key of the widget's shared store: Redis through its
   asyncio client, else the database cache) at most once every ``LOCAL_SECONDS``, whatever
   the number of preflights; an unknown origin costs a dictionary look-up, never a query.
2. **Database**: the whole set, one query, when the epoch changed (once per process per
   change, one load at a time per event loop), and at least every ``MAX_AGE_SECONDS`` for rows
   changed outside the services.

The widget key services call ``forget`` once a change is committed (issue, new origins,
rotation, revocation): it writes a new epoch, so this process reads the set again at its next
preflight and every other process within ``LOCAL_SECONDS``. A load that read the database just
before a change committed in this process is not kept (``_Listed.generation``); one in another
process is replaced after its next epoch check. When the shared store cannot be reached, the
set is read from the database at most once every ``LOCAL_SECONDS`` (never stale for longer).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import threading
import time
import weakref
from collections.abc import Iterable
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.db.models import Q
from django.utils import timezone

from tenants.credentials.store import SharedStore, shared_store
from tenants.widget import conversations

logger = logging.getLogger("tenants.widget")

MAX_ORIGINS = 50
MAX_LENGTH = 255  # WidgetOrigin.origin
_DEFAULT_PORTS = {"http": 80, "https": 443}


class OriginError(ValueError):
    """An origin that cannot be allowed; the message says why, for the person who typed it."""


def normalize_origin(text: str) -> str:
    """The origin as a browser would send it, or ``OriginError``."""
    value = text.strip()
    shown = value[:80]
    if not value:
        raise OriginError("An origin cannot be empty.")
    if "*" in value:
        raise OriginError(f"{shown}: wildcards are not allowed; list each origin.")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise OriginError(f"{shown} is not an origin: write https://shop.example.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OriginError(f"{shown}: an origin starts with https:// (or http://).")
    if not parts.hostname:
        raise OriginError(f"{shown} names no host: write https://shop.example.")
    if parts.username is not None or parts.password is not None:
        raise OriginError(f"{shown}: an origin has no user name or password.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise OriginError(
            f"{shown}: an origin is only scheme://host[:port], without a path, query or #."
        )
    host = parts.hostname.rstrip(".")
    if ":" in host:  # IPv6: urlsplit removed the brackets
        host = f"[{host}]"
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise OriginError(f"{shown}: {parts.hostname} is not a valid host name.") from None
    origin = f"{scheme}://{host.lower()}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        origin += f":{port}"
    if len(origin) > MAX_LENGTH:
        raise OriginError(f"{shown}…: an origin has at most {MAX_LENGTH} characters.")
    return origin


def clean_origins(values: Iterable[str]) -> list[str]:
    """Every origin normalised, duplicates dropped, order kept; at least one, at most 50."""
    if isinstance(values, str):
        raise OriginError("Give the origins as a list.")
    cleaned = list(dict.fromkeys(normalize_origin(value) for value in values))
    if not cleaned:
        raise OriginError(
            "A widget key needs at least one origin: the site that embeds it, "
            "e.g. https://shop.example."
        )
    if len(cleaned) > MAX_ORIGINS:
        raise OriginError(f"A widget key can list at most {MAX_ORIGINS} origins.")
    return cleaned


# -- does some live widget key list this origin? -------------------------------------------------

EPOCH_KEY = "origins:epoch:v1"
EPOCH_TTL = 30 * 24 * 3600
LOCAL_SECONDS = 1.0
# A safety net for rows changed outside the services (the admin, a shell), which announce
# nothing: the copy is read again at least this often even when the epoch stays.
MAX_AGE_SECONDS = 60.0
_NEVER = math.inf


class _Listed:
    """This process's copy: each origin some live widget key lists -> until when it is listed
    (wall-clock seconds; ``inf`` while a listing key has no expiry), valid for one epoch.

    Read by the event loop; dropped by ``forget`` from whichever thread committed a change.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.origins: dict[str, float] | None = None
        self.loaded_at = float("-inf")
        self.epoch: str | None = None
        self.checked_at = float("-inf")
        self.generation = 0  # bumped on every drop: a load that began before one is stale

    def fresh(self, now: float) -> dict[str, float] | None:
        origins = self.origins
        if origins is None or now - self.loaded_at >= MAX_AGE_SECONDS:
            return None
        return origins

    def drop(self, epoch: str | None) -> None:
        with self.lock:
            self.origins, self.epoch = None, epoch
            self.generation += 1

    def keep(self, origins: dict[str, float], generation: int, loaded_at: float) -> None:
        with self.lock:
            if generation == self.generation:
                self.origins, self.loaded_at = origins, loaded_at


_listed = _Listed()
# One load at a time per event loop: a burst of preflights after a change costs one query.
_load_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _store() -> SharedStore:
    # The widget's namespace: the same store (and Redis connections) as its sessions.
    return shared_store(conversations.NAMESPACE)


def _load_listed() -> dict[str, float]:
    from tenants.models import Token, WidgetOrigin

    rows = (
        WidgetOrigin.objects.filter(
            Q(token__expires_at__isnull=True) | Q(token__expires_at__gt=timezone.now()),
            token__kind=Token.Kind.WIDGET,
            token__revoked_at__isnull=True,
        )
        .order_by()
        .values_list("origin", "token__expires_at")
    )
    listed: dict[str, float] = {}
    for origin, expires_at in rows:
        until = _NEVER if expires_at is None else expires_at.timestamp()
        if until > listed.get(origin, -_NEVER):
            listed[origin] = until
    return listed


async def _check_epoch(now: float) -> None:
    # Claimed before the read: the preflights that arrive meanwhile answer from the copy.
    _listed.checked_at = now
    try:
        store = _store()
        epoch = await store.aget(EPOCH_KEY)
        if epoch is None:  # a new store: start an epoch, or take the one another process set
            fresh = secrets.token_hex(8)
            added = await store.aadd(EPOCH_KEY, fresh, EPOCH_TTL)
            epoch = fresh if added else await store.aget(EPOCH_KEY)
    except Exception:
        logger.warning("widget origins: the shared store is unreachable; reading the database")
        epoch = None
    if epoch is None or epoch != _listed.epoch:
        _listed.drop(epoch)


async def _load() -> dict[str, float]:
    loop = asyncio.get_running_loop()
    lock = _load_locks.get(loop)
    if lock is None:
        lock = _load_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        started = time.monotonic()
        origins = _listed.fresh(started)
        if origins is not None:  # loaded by a preflight that held the lock before this one
            return origins
        generation = _listed.generation
        origins = await sync_to_async(_load_listed)()
        _listed.keep(origins, generation, started)
    return origins


async def is_listed(origin: str) -> bool:
    """True if a widget key that is neither revoked nor expired lists ``origin``."""
    if not origin or len(origin) > MAX_LENGTH:
        return False
    now = time.monotonic()
    if now - _listed.checked_at >= LOCAL_SECONDS:
        await _check_epoch(now)
    origins = _listed.fresh(now)
    if origins is None:
        origins = await _load()
    until = origins.get(origin)
    return until is not None and until > time.time()


def forget() -> None:
    """After a committed change to widget keys or their origins (issue, change, rotate,
    revoke): this process reads the listed origins again at its next preflight, every other
    process within ``LOCAL_SECONDS``."""
    epoch = secrets.token_hex(8)
    try:
        _store().set(EPOCH_KEY, epoch, EPOCH_TTL)
    except Exception:
        logger.warning("widget origins: could not reach the shared store to announce a change")
        _listed.drop(None)
        return
    _listed.drop(epoch)


def clear_local_cache() -> None:
    """Forget this process's copy (tests: the database under it was rolled back)."""
    _listed.drop(None)
    _listed.checked_at = float("-inf")
