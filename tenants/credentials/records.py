"""``TokenRecord``: what the hot path knows about a token, without the database.

A record is built from a ``Token`` row (and its account) by ``record_from_token``, kept as
JSON in the shared store and in each process's memory, and checked by the ``record_allows_*``
functions. It holds keyed hashes of the secrets, never a secret.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tenants.credentials.routes import routes_allow
from tenants.credentials.scopes import scope_allows

if TYPE_CHECKING:
    from datetime import datetime

    from tenants.models import Token


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_id: str
    kind: str  # "api" | "session" | "widget" (Token.Kind)
    account_id: int
    account_public_id: str
    account_path: str  # "/1/7/42/": the token may act as this account and its descendants
    partner_id: int
    scopes: tuple[str, ...]
    bot_ids: tuple[str, ...] | None  # None: any bot
    allowed_routes: tuple[str, ...] | None  # None: any /v1 route
    expires_at: float | None  # epoch seconds
    revoked_at: float | None
    secret_hash: str = field(repr=False)
    previous_secret_hash: str | None = field(default=None, repr=False)
    previous_valid_until: float | None = None
    # The token's own requests-per-minute limit (tenants.limits); a default, so that records
    # cached before the field existed still load.
    rpm: int | None = None
    # Widget keys: the web origins browsers may use the key from (None for other kinds), and
    # each chat session's requests per minute (tenants.widget).
    allowed_origins: tuple[str, ...] | None = None
    session_rpm: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TokenRecord:
        data: dict[str, Any] = json.loads(text)
        for name in ("scopes", "bot_ids", "allowed_routes", "allowed_origins"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        return cls(**data)


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def record_from_token(token: Token) -> TokenRecord:
    """The record of ``token``; a widget key's origins are read from its rows (prefetch
    ``widget_origins`` to save the query)."""
    account = token.account
    origins = (
        tuple(sorted(row.origin for row in token.widget_origins.all()))
        if token.kind == "widget"
        else None
    )
    return TokenRecord(
        token_id=token.token_id,
        kind=token.kind,
        account_id=account.pk,
        account_public_id=account.public_id,
        account_path=account.path,
        partner_id=account.partner_pk,
        scopes=tuple(token.scopes),
        bot_ids=tuple(token.bot_ids) if token.bot_ids is not None else None,
        allowed_routes=tuple(token.allowed_routes) if token.allowed_routes is not None else None,
        expires_at=_epoch(token.expires_at),
        revoked_at=_epoch(token.revoked_at),
        secret_hash=token.secret_hash,
        previous_secret_hash=token.previous_secret_hash or None,
        previous_valid_until=_epoch(token.previous_valid_until),
        rpm=token.rpm,
        allowed_origins=origins,
        session_rpm=token.session_rpm,
    )


def record_allows_scope(record: TokenRecord, scope: str) -> bool:
    """True if the token's scopes cover ``scope`` (an exact ``resource:action``)."""
    return scope_allows(record.scopes, scope)


def record_allows_route(record: TokenRecord, path: str) -> bool:
    """True if ``path`` (normalised, no query string) is one of the token's allowed routes."""
    return routes_allow(record.allowed_routes, path)


def record_allows_bot(record: TokenRecord, bot_id: str) -> bool:
    """True if the token is not restricted to some bots, or ``bot_id`` is one of them."""
    return record.bot_ids is None or bot_id in record.bot_ids


def record_covers_account(record: TokenRecord, account_path: str) -> bool:
    """True if the account at ``account_path`` is the token's account or a descendant of it."""
    return account_path.startswith(record.account_path)


def record_allows_origin(record: TokenRecord, origin: str) -> bool:
    """True if ``origin`` (as a browser sends it) is one of a widget key's allowed origins."""
    return record.allowed_origins is not None and origin in record.allowed_origins
