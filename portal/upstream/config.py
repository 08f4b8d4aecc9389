"""What a call to the upstream needs besides its path: where, with which secret, how patiently.

``UpstreamConnection`` is built by the caller from a partner's stored configuration (tenants
keep the base URL and the decrypted secret); nothing here ever reads a host from a request, so
a browser cannot point the portal at another server.
"""

from __future__ import annotations

import functools
import os
import random
import re
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from .http1 import Origin

# Header values we put on the wire. Anything with whitespace or control characters would allow
# header injection, so both run-as ids and time zones are held to these shapes.
_RUN_AS_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


@dataclass(frozen=True, slots=True)
class UpstreamConnection:
    """The upstream base URL (scheme, host, optional path prefix) and the partner's secret."""

    base_url: str
    secret: str = field(repr=False)  # never in a repr, so never in a traceback or log line

    def __post_init__(self) -> None:
        url = URL(self.base_url)
        if url.scheme not in {"http", "https"} or not url.host:
            raise ValueError("the upstream base URL must be an absolute http(s) URL")
        if url.query_string or url.fragment or url.user or url.password:
            raise ValueError("the upstream base URL must have no query, fragment or credentials")
        if not self.secret or any(ch.isspace() for ch in self.secret):
            raise ValueError("the upstream secret must be a non-empty token without whitespace")

    @property
    def host(self) -> str:
        """Host (and port if not the default), used in messages: never the secret or a path."""
        return _host_of(self.base_url)

    def url_for(self, path: str) -> URL:
        """Join an API path such as ``/v1/bot/list`` onto the base URL.

        Paths are code-supplied templates filled with ids; they must not be able to walk out
        of the base path or smuggle a query, so such shapes are refused instead of normalised.
        """
        return _checked_join(self.base_url, path)


@functools.lru_cache(maxsize=4096)
def _checked_join(base_url: str, path: str) -> URL:
    # Checked and joined once per (base, path): the proxy asks for the same few paths all the
    # time (parsing the base URL alone was 2 % of its CPU per call, bench/gateway). A refused
    # path raises, and exceptions are not cached.
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"upstream path must start with a single '/': {path!r}")
    if any(ch in path for ch in "?#\\") or any(ord(ch) < 0x21 for ch in path):
        raise ValueError(f"upstream path must have no query, fragment or spaces: {path!r}")
    if any(segment in {".", ".."} for segment in path.split("/")):
        raise ValueError(f"upstream path must not contain dot segments: {path!r}")
    base = URL(base_url)
    return base.with_path(base.path.rstrip("/") + path)


@functools.lru_cache(maxsize=256)
def _host_of(base_url: str) -> str:
    url = URL(base_url)
    return f"{url.host}:{url.port}" if url.port and not url.is_default_port() else str(url.host)


@functools.lru_cache(maxsize=256)
def origin_of(base_url: str) -> Origin:
    """Where the relay's pool connects for this base URL (parsed once per URL)."""
    return Origin(base_url)


def check_run_as(value: str) -> str:
    if not _RUN_AS_ID.match(value):
        raise ValueError("run-as user id has an unexpected shape")
    return value


def check_timezone(value: str) -> str:
    if not _TIMEZONE.match(value):
        raise ValueError("time zone has an unexpected shape")
    return value


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds allowed for each phase of a call.

    ``read`` is the longest silence tolerated between two chunks (and before the response
    headers). The upstream pings every 10 s during completions and commits slow JSON answers
    after about 19 s (UPSTREAM.md §2, §6.4), so anything under 60 s would cut healthy calls.

    ``write`` covers sending the request body. aiohttp has no write timer and only starts its
    read timer once the body is sent, so the client enforces an overall limit on the time to
    the response headers of ``pool + connect + write + read``: a stalled upload cannot hang.
    """

    connect: float = 5.0
    read: float = 75.0
    write: float = 30.0
    pool: float = 10.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool"):
            if not getattr(self, name) > 0:
                raise ValueError(f"timeout {name} must be a positive number of seconds")

    @property
    def until_headers(self) -> float:
        return self.pool + self.connect + self.write + self.read

    def for_aiohttp(self) -> aiohttp.ClientTimeout:
        # total=None: a completion stream may legitimately run for many minutes; only
        # silence (sock_read) ends it. aiohttp's `connect` spans waiting for a pooled
        # connection plus opening a new one, hence pool + connect.
        return aiohttp.ClientTimeout(
            total=None,
            connect=self.pool + self.connect,
            sock_connect=self.connect,
            sock_read=self.read,
        )

    @classmethod
    def from_settings(cls) -> Timeouts:
        """Defaults from Django settings when they are in use (``UPSTREAM_*_TIMEOUT``)."""
        from django.conf import settings

        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            return cls()
        defaults = cls()

        def seconds(name: str, default: float) -> float:
            value: float = float(getattr(settings, f"UPSTREAM_{name}_TIMEOUT", default))
            return value

        return cls(
            connect=seconds("CONNECT", defaults.connect),
            read=seconds("READ", defaults.read),
            write=seconds("WRITE", defaults.write),
            pool=seconds("POOL", defaults.pool),
        )


# Per event loop. A stream holds its connection for the whole completion, and a pool smaller
# than the load starves some waiters for seconds (bench/results/outbound-client.md).
DEFAULT_MAX_CONNECTIONS = 256


def max_connections_from_settings() -> int:
    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return DEFAULT_MAX_CONNECTIONS
    value = int(getattr(settings, "UPSTREAM_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS))
    if value < 1:
        raise ValueError("UPSTREAM_MAX_CONNECTIONS must be at least 1")
    return value


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries for idempotent calls only (UPSTREAM.md §10: the Node SDK retries POSTs too,
    which can create things twice; we never do).

    ``attempts`` counts the first try. ``max_retry_after``: a ``Retry-After`` longer than this
    is not waited out; the error goes to the caller with ``retry_after`` set instead, because
    holding a web request open for a minute helps nobody.
    """

    attempts: int = 3
    backoff: float = 0.25
    max_retry_after: float = 5.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def delay(self, attempt: int) -> float:
        """Exponential backoff with jitter, for the retry after ``attempt`` (1-based)."""
        # Jitter only spreads retries from many workers apart; it needs no cryptographic
        # randomness.
        return self.backoff * 2.0 ** (attempt - 1) * (0.5 + random.random() / 2)  # noqa: S311
