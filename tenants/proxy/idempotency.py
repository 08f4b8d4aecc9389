"""``Idempotency-Key`` on POSTs: a retried create runs once (UPSTREAM.md §10, §11.8).

The official Node SDK retries POSTs on 429 and 5xx, so a create can arrive twice. With the same
key (per token) and the same request within ``PROXY_IDEMPOTENCY_TTL_SECONDS``, the first answer
is replayed instead of calling the upstream again; a request still in flight is waited for (up
to ``PROXY_IDEMPOTENCY_WAIT_SECONDS``); the same key with another request is ``409 CONFLICT``.

State lives in the shared cache (Redis, or the database cache) so that every worker sees it:
``add`` claims a key atomically, the answer replaces the claim. Answers that a retry should
not see again are not kept: 5xx, 408 and 429 (transient), broken streams, and answers over
``PROXY_IDEMPOTENCY_MAX_BYTES``; the claim is dropped instead, and the retry goes upstream.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from tenants.proxy.errors import ProxyError, bad_request, conflict
from tenants.proxy.forward import Outcome

HEADER = "idempotency-key"
_PREFIX = "proxy:v1:idempotency:"
_POLL_SECONDS = 0.05
_TRANSIENT = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Claim:
    """This request owns the key: it calls upstream and then ``finish``es the claim."""

    cache_key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    content_type: str
    body: bytes


def fingerprint(method: str, path: str, acting_pk: int, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path} as {acting_pk}\n".encode())
    digest.update(body)
    return digest.hexdigest()


async def claim(token_id: str, key: str, request_fingerprint: str) -> Claim | Replay:
    """Own ``key`` for this request, or the first answer to replay, or a 409."""
    if not key or len(key) > 255:
        raise bad_request("Idempotency-Key must be 1 to 255 characters")
    key_digest = hashlib.sha256(key.encode()).hexdigest()
    cache_key = f"{_PREFIX}{token_id}:{key_digest}"
    pending = {"state": "pending", "fingerprint": request_fingerprint}
    deadline = time.monotonic() + settings.PROXY_IDEMPOTENCY_WAIT_SECONDS
    while True:
        if await cache.aadd(cache_key, pending, timeout=settings.PROXY_IDEMPOTENCY_LOCK_SECONDS):
            return Claim(cache_key, request_fingerprint)
        entry: dict[str, Any] | None = await cache.aget(cache_key)
        if entry is None:
            continue  # the first request gave its claim up just now: take it
        if entry["fingerprint"] != request_fingerprint:
            raise conflict(
                "This Idempotency-Key was already used for a different request; "
                "use a new key for a new request"
            )
        if entry["state"] == "done":
            return Replay(entry["status"], entry["content_type"], entry["body"])
        if time.monotonic() >= deadline:
            raise ProxyError(
                409,
                "A request with this Idempotency-Key is still in progress; retry later",
                "CONFLICT",
            )
        await asyncio.sleep(_POLL_SECONDS)


async def finish(claim: Claim, outcome: Outcome | None) -> None:
    """Keep the answer for replay, or give the claim up so that a retry goes upstream."""
    if (
        outcome is None
        or outcome.body is None
        or not outcome.complete
        or outcome.status >= 500
        or outcome.status in _TRANSIENT
    ):
        await cache.adelete(claim.cache_key)
        return
    await cache.aset(
        claim.cache_key,
        {
            "state": "done",
            "fingerprint": claim.fingerprint,
            "status": outcome.status,
            "content_type": outcome.content_type,
            "body": outcome.body,
        },
        timeout=settings.PROXY_IDEMPOTENCY_TTL_SECONDS,
    )
