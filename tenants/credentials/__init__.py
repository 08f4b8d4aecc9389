"""Portal tokens: format, scopes, allowed routes, and authentication on the hot path.

The proxy (async) and the partner API (sync) use only this module's public names::

    record = await authenticate(raw)          # or authenticate_sync(raw) in sync views
    record_allows_scope(record, "conversation:complete")
    record_allows_route(record, "/api/v1/bot/list")
    record_allows_bot(record, bot_id)
    record_allows_origin(record, origin)           # widget keys: a browser's Origin
    record_covers_account(record, account.path)   # run-as target in the token's subtree

``authenticate`` raises ``CredentialError`` (``.message``, ``.code == "NOT_AUTHENTICATED"``,
``.status == 401``, ``.reason`` for logs) for a missing, garbled, mistyped, unknown, expired or
revoked token or a wrong secret. Nothing here touches the database while warm
(``tenants.credentials.cache`` explains the layers and how a revocation reaches every
process). State changes (issue, rotate, revoke) live in ``tenants.services.tokens``.
"""

from __future__ import annotations

from tenants.credentials.authentication import (
    authenticate,
    authenticate_request,
    authenticate_sync,
    token_from_authorization,
)
from tenants.credentials.cache import clear_local_cache
from tenants.credentials.errors import CredentialError
from tenants.credentials.format import API_PREFIX, WIDGET_PREFIX, hash_secret, parse
from tenants.credentials.records import (
    TokenRecord,
    record_allows_bot,
    record_allows_origin,
    record_allows_route,
    record_allows_scope,
    record_covers_account,
)
from tenants.credentials.routes import RouteError, routes_allow, validate_routes
from tenants.credentials.scopes import (
    ScopeError,
    catalogue,
    explain,
    scope_allows,
    validate_scope,
    validate_scopes,
)

__all__ = [
    "API_PREFIX",
    "WIDGET_PREFIX",
    "CredentialError",
    "RouteError",
    "ScopeError",
    "TokenRecord",
    "authenticate",
    "authenticate_request",
    "authenticate_sync",
    "catalogue",
    "clear_local_cache",
    "explain",
    "hash_secret",
    "parse",
    "record_allows_bot",
    "record_allows_origin",
    "record_allows_route",
    "record_allows_scope",
    "record_covers_account",
    "routes_allow",
    "scope_allows",
    "token_from_authorization",
    "validate_routes",
    "validate_scope",
    "validate_scopes",
]
