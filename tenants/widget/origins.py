"""Web origins of widget keys: what an origin is, and whether some live key lists one.

An origin is what a browser sends in its ``Origin`` header: ``scheme://host[:port]``, the
scheme and host in lower case, an international host in its ASCII (punycode) form, and no
port when it is the scheme's default. ``normalize_origin`` turns what a person types
(``https://Shop.Example/``, ``https://shop.example:443``) into exactly that, so that the
comparison with the header is a plain string equality.

A CORS preflight carries an origin but no key, so it can only ask whether *some* live widget
key lists the origin (``is_listed``); the request that follows carries the key, and is held to
that key's own origins (``tenants.widget.app``). ``is_listed`` is on a browser's path: it reads
this process's memory, then the shared cache, and only on a miss of both the database (one
indexed query). Widget key services call ``forget`` on commit so a new or changed key is seen
at once through the shared cache, and by every process within ``LOCAL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

MAX_ORIGINS = 50
MAX_LENGTH = 255  # WidgetOrigin.origin
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED_PREFIX = "widget:origin:v1:"
SHARED_SECONDS = 60
LOCAL_SECONDS = 5.0
_MAX_LOCAL_ENTRIES = 10_000


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

_local: dict[str, tuple[float, bool]] = {}


def _shared_key(origin: str) -> str:
    # Hashed: an origin may be longer than a cache key should be, and comes from a request.
    return _SHARED_PREFIX + hashlib.sha256(origin.encode()).hexdigest()[:32]


def _listed_in_database(origin: str) -> bool:
    from tenants.models import Token, WidgetOrigin

    now = timezone.now()
    return WidgetOrigin.objects.filter(
        Q(token__expires_at__isnull=True) | Q(token__expires_at__gt=now),
        origin=origin,
        token__kind=Token.Kind.WIDGET,
        token__revoked_at__isnull=True,
    ).exists()


async def is_listed(origin: str) -> bool:
    """True if a widget key that is neither revoked nor expired lists ``origin``."""
    if not origin or len(origin) > MAX_LENGTH:
        return False
    now = time.monotonic()
    hit = _local.get(origin)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = _shared_key(origin)
    shared = await cache.aget(key)
    if isinstance(shared, bool):
        listed = shared
    else:
        listed = await sync_to_async(_listed_in_database)(origin)
        await cache.aset(key, listed, timeout=SHARED_SECONDS)
    if len(_local) >= _MAX_LOCAL_ENTRIES:
        _local.clear()
    _local[origin] = (now + LOCAL_SECONDS, listed)
    return listed


def forget(origins: Sequence[str]) -> None:
    """Drop the shared answers for ``origins`` (call on commit of a widget key change)."""
    if origins:
        cache.delete_many([_shared_key(origin) for origin in origins])
    for origin in origins:
        _local.pop(origin, None)


def clear_local_cache() -> None:
    """Forget this process's answers (tests)."""
    _local.clear()
