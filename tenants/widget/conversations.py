"""Which upstream conversation a chat session continues: one per (widget key, sessionId).

Kept in the shared store (Redis through its asyncio client, so no thread hop on the hot path;
the database cache in the embedded profile) so that every worker continues the same
conversation, for ``WIDGET_CONVERSATION_TTL_SECONDS`` after the session's last message (each
turn's look-up renews it). A session that comes back later, or whose conversation is gone
upstream, starts a new conversation (``tenants.widget.turn``).

The key's token id, not its secret, names the entry: a rotated key keeps its conversations, a
revoked one cannot reach them. The sessionId is hashed: it is the visitor's, and may be long.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from tenants.credentials.store import SharedStore, shared_store

NAMESPACE = "portal-widget:"
_PREFIX = "conversation:v1:"


def session_digest(session_id: str) -> str:
    """A fixed-length name for a sessionId (also the chat session's rate-limit subject)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def _key(token_id: str, session_id: str) -> str:
    return f"{_PREFIX}{token_id}:{session_digest(session_id)}"


def _ttl() -> int:
    return int(settings.WIDGET_CONVERSATION_TTL_SECONDS)


def _store() -> SharedStore:
    return shared_store(NAMESPACE)


async def find(token_id: str, session_id: str) -> str | None:
    """The session's conversation, kept for another full period (the session is alive)."""
    return await _store().aget_renewed(_key(token_id, session_id), _ttl())


async def claim(token_id: str, session_id: str, conversation_id: str) -> str:
    """Keep ``conversation_id`` for the session unless another turn of the same session kept
    one first; returns the one kept (both turns then continue the same conversation)."""
    key = _key(token_id, session_id)
    store = _store()
    if await store.aadd(key, conversation_id, _ttl()):
        return conversation_id
    kept = await store.aget(key)
    if kept is not None:
        return kept
    await store.aset(key, conversation_id, _ttl())
    return conversation_id


async def replace(token_id: str, session_id: str, conversation_id: str) -> None:
    """The session's conversation was gone upstream: keep its new one."""
    await _store().aset(_key(token_id, session_id), conversation_id, _ttl())
