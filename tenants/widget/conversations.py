"""Which upstream conversation a chat session continues: one per (widget key, sessionId).

Kept in the shared cache (Redis, or the database cache in the embedded profile) so that every
worker continues the same conversation, for ``WIDGET_CONVERSATION_TTL_SECONDS`` after the
session's last message (each turn renews it). A session that comes back later, or whose
conversation is gone upstream, starts a new conversation (``tenants.widget.turn``).

The key's token id, not its secret, names the entry: a rotated key keeps its conversations, a
revoked one cannot reach them. The sessionId is hashed: it is the visitor's, and may be long.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

_PREFIX = "widget:conversation:v1:"


def session_digest(session_id: str) -> str:
    """A fixed-length name for a sessionId (also the chat session's rate-limit subject)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def _key(token_id: str, session_id: str) -> str:
    return f"{_PREFIX}{token_id}:{session_digest(session_id)}"


def _ttl() -> int:
    return int(settings.WIDGET_CONVERSATION_TTL_SECONDS)


async def find(token_id: str, session_id: str) -> str | None:
    value = await cache.aget(_key(token_id, session_id))
    return value if isinstance(value, str) else None


async def claim(token_id: str, session_id: str, conversation_id: str) -> str:
    """Keep ``conversation_id`` for the session unless another turn of the same session kept
    one first; returns the one kept (both turns then continue the same conversation)."""
    key = _key(token_id, session_id)
    if await cache.aadd(key, conversation_id, timeout=_ttl()):
        return conversation_id
    kept = await cache.aget(key)
    if isinstance(kept, str):
        return kept
    await cache.aset(key, conversation_id, timeout=_ttl())
    return conversation_id


async def replace(token_id: str, session_id: str, conversation_id: str) -> None:
    """The session's conversation was gone upstream: keep its new one."""
    await cache.aset(_key(token_id, session_id), conversation_id, timeout=_ttl())


async def renew(token_id: str, session_id: str) -> None:
    """The session is alive: keep its conversation for another full period."""
    await cache.atouch(_key(token_id, session_id), timeout=_ttl())
