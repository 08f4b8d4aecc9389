"""Portal API tokens on the management API: ``Authorization: Bearer ppk_…`` (or ``Token ppk_…``).

The token is checked by ``tenants.credentials.authenticate_sync`` (the proxy's own check). The
request then acts as a ``TokenCaller``: it reaches the token's account and its subtree
(``tenants.api.token_access``), and each action needs the scope its rule names
(``tenants.api.base``) instead of a role.

A ``TokenCaller`` is not a person: it holds no membership, so every ``tenants.access`` function
given one reaches nothing, and services that check who may grant a role refuse it. Audit rows of
its changes name the token (``actor_label``) and no user.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tenants.credentials import (
    API_PREFIX,
    CredentialError,
    TokenRecord,
    authenticate_sync,
    token_from_authorization,
)

# Only long-lived API tokens manage accounts: session tokens are an end user's, widget keys a
# web page's.
USABLE_KINDS = frozenset({"api"})


class TokenCaller(AnonymousUser):
    """The caller behind a token: authenticated, active, never staff, with no user row."""

    is_active = True  # type: ignore[assignment]

    def __init__(self, record: TokenRecord) -> None:
        super().__init__()
        self.record = record

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    def get_username(self) -> str:
        return f"token {self.record.token_id}"

    def __str__(self) -> str:
        return self.get_username()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenCaller) and other.record.token_id == self.record.token_id

    def __hash__(self) -> int:
        return hash(self.record.token_id)


class PortalTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TokenCaller, TokenRecord] | None:
        header = request.headers.get("Authorization", "")
        if not header.strip():
            return None  # no token: the session (next authenticator) may still log the caller in
        try:
            raw = token_from_authorization(header)
            if not raw.startswith(API_PREFIX):
                raise CredentialError(
                    f"The management API takes portal API tokens ({API_PREFIX}…).",
                    reason="malformed",
                )
            record = authenticate_sync(raw)
        except CredentialError as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        if record.kind not in USABLE_KINDS:
            raise exceptions.AuthenticationFailed(
                "Only API tokens can use the management API, not session tokens or widget keys."
            )
        return TokenCaller(record), record

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="portal"'


class PortalTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tenants.api.authentication.PortalTokenAuthentication"
    name = "portalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": f"A portal API token ({API_PREFIX}…). It reaches its account and "
            "that account's subtree; each operation needs the scope it names.",
        }
