"""Tokens: issue, session tokens, update, rotate, revoke.

Each is one transaction with one audit event; the audit never holds a secret (only the
display form ``ppk_…last4``). After the commit, the token's record is republished to the shared
store the hot path reads, and a rotation or revocation makes every worker drop its in-memory
copy (``tenants.credentials.cache.publish``).

Reaching the token or account is the caller's check (``tenants.access``), as for every service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants import audit
from tenants.audit import RequestContext
from tenants.credentials import cache as record_cache
from tenants.credentials.format import compose, hash_secret, new_secret, new_token_id
from tenants.credentials.routes import RouteError, validate_routes
from tenants.credentials.scopes import ScopeError, validate_scopes
from tenants.models import Account, Token
from tenants.services.errors import AccountError, clean_meta, merge_meta
from tenants.widget import origins as widget_origins

if TYPE_CHECKING:
    from tenants.audit import Actor

DEFAULT_SESSION_SECONDS = 900  # the upstream's default for partner-user sessions (§3.3)
MAX_SESSION_SECONDS = 7 * 24 * 3600
MAX_EXPIRES_IN = 10 * 366 * 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600
MAX_BOT_IDS = 100


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new or rotated token and its plaintext: show ``plaintext`` once, then forget it."""

    token: Token
    plaintext: str


# -- input checks ------------------------------------------------------------------------------


def clean_token_name(value: str, default: str) -> str:
    name = value.strip()
    if len(name) > 200:
        raise AccountError("A token name has at most 200 characters.")
    return name or default


def _clean_scopes(scopes: Sequence[str]) -> list[str]:
    if isinstance(scopes, str) or not scopes:
        raise AccountError("A token needs at least one scope (for example conversation:* or *).")
    try:
        return validate_scopes(scopes)
    except ScopeError as exc:
        raise AccountError(str(exc)) from None


def _clean_bot_ids(bot_ids: Sequence[str] | None) -> list[str] | None:
    if bot_ids is None:
        return None
    if isinstance(bot_ids, str):
        raise AccountError("bot_ids must be a list of bot ids.")
    cleaned = [str(bot_id).strip() for bot_id in bot_ids]
    if not cleaned or any(not bot_id or len(bot_id) > 64 for bot_id in cleaned):
        raise AccountError(
            "Give the bot ids the token may use (1 to 64 characters each), or none for any bot."
        )
    if len(cleaned) > MAX_BOT_IDS:
        raise AccountError(f"A token can name at most {MAX_BOT_IDS} bots.")
    return list(dict.fromkeys(cleaned))


def _clean_seconds(value: int | None, *, what: str, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise AccountError(f"{what} must be a whole number of seconds from 1 to {maximum}.")
    return value


def _require_active(account: Account) -> None:
    if account.status != Account.Status.ACTIVE:
        status = account.get_status_display().lower()
        raise AccountError(f"{account.name} is {status}: it cannot get new tokens.", "CONFLICT")


def _new_token(account: Account, *, kind: Token.Kind, actor: Actor, **fields: Any) -> IssuedToken:
    """Insert a token with a fresh id and secret (retrying the one-in-2^95 id collision)."""
    creator = actor if actor is not None and actor.is_authenticated else None
    for _attempt in range(3):
        token_id, secret = new_token_id(), new_secret()
        token = Token(
            account=account,
            kind=kind,
            token_id=token_id,
            secret_hash=hash_secret(token_id, secret),
            created_by_id=creator.pk if creator is not None else None,
            **fields,
        )
        plaintext = compose(token.prefix, token_id, secret)
        token.last4 = plaintext[-4:]
        try:
            with transaction.atomic():
                token.save()
        except IntegrityError:
            continue
        return IssuedToken(token=token, plaintext=plaintext)
    raise AccountError("Could not make a unique token id; try again.", "CONFLICT")


def _publish_on_commit(token: Token, *, revoke_cached: bool) -> None:
    def publish() -> None:
        record_cache.publish(token, revoke_cached=revoke_cached)
        if token.is_widget_key:
            # A browser's preflight asks whether some live key lists its origin: ask again.
            widget_origins.forget()

    transaction.on_commit(publish)


def _summary(token: Token) -> dict[str, Any]:
    # Keys avoid the word "token": tenants.audit drops such keys as secrets.
    return {
        "id": token.token_id,
        "kind": token.kind,
        "name": token.name,
        "display": token.display,
        "scopes": token.scopes,
        "bot_ids": token.bot_ids,
        "allowed_routes": token.allowed_routes,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


# -- services ----------------------------------------------------------------------------------


def issue_credential(
    account: Account,
    action: str,
    kind: Token.Kind,
    *,
    actor: Actor,
    context: RequestContext | None,
    audit_extra: Mapping[str, Any] | None = None,
    **fields: Any,
) -> IssuedToken:
    """Insert a token of ``kind`` with these (already checked) fields, audited as ``action``.

    The one way every kind is made (API and session tokens here, widget keys in
    ``tenants.services.widget_keys``); ``audit_extra`` adds to the audit row what the token
    row does not hold. Run it inside the caller's transaction to add rows of its own.
    """
    with transaction.atomic():
        # Locked so that a suspend or close committing at the same moment cannot slip between
        # the status check and the new token.
        locked = Account.objects.select_for_update().get(pk=account.pk)
        _require_active(locked)
        issued = _new_token(locked, kind=kind, actor=actor, **fields)
        audit.record(
            action,
            actor=actor,
            account=locked,
            target_type="token",
            target_id=issued.token.token_id,
            changes={**_summary(issued.token), **(audit_extra or {})},
            context=context,
        )
        _publish_on_commit(issued.token, revoke_cached=False)
    return issued


def issue_token(
    account: Account,
    *,
    name: str,
    scopes: Sequence[str],
    description: str = "",
    meta: Mapping[str, Any] | None = None,
    bot_ids: Sequence[str] | None = None,
    expires_in: int | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> IssuedToken:
    """A long-lived API token for ``account``; ``expires_in`` seconds, or no expiry."""
    fields: dict[str, Any] = {
        "name": clean_token_name(name, "API token"),
        "description": description.strip(),
        "meta": dict(clean_meta(meta)) if meta is not None else {},
        "scopes": _clean_scopes(scopes),
        "bot_ids": _clean_bot_ids(bot_ids),
    }
    seconds = _clean_seconds(expires_in, what="expires_in", maximum=MAX_EXPIRES_IN)
    if seconds is not None:
        fields["expires_at"] = timezone.now() + timedelta(seconds=seconds)
    return issue_credential(
        account, "token.issued", Token.Kind.API, actor=actor, context=context, **fields
    )


def create_session_token(
    account: Account,
    *,
    duration_seconds: int = DEFAULT_SESSION_SECONDS,
    allowed_routes: Sequence[str] | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> IssuedToken:
    """A short-lived token acting as ``account`` on every route, or only ``allowed_routes``.

    ``allowed_routes`` are globs as the upstream's ``allowedRoutes`` (``UPSTREAM.md`` §3.3):
    ``None`` allows every route, an empty list none.
    """
    seconds = _clean_seconds(
        duration_seconds, what="durationInSeconds", maximum=MAX_SESSION_SECONDS
    )
    assert seconds is not None
    routes: list[str] | None = None
    if allowed_routes is not None:
        if isinstance(allowed_routes, str):
            raise AccountError("allowedRoutes must be a list of route patterns.")
        try:
            routes = validate_routes(allowed_routes)
        except RouteError as exc:
            raise AccountError(str(exc)) from None
    return issue_credential(
        account,
        "token.session_created",
        Token.Kind.SESSION,
        actor=actor,
        context=context,
        name="Session",
        scopes=["*"],
        allowed_routes=routes,
        expires_at=timezone.now() + timedelta(seconds=seconds),
    )


def update_token(
    token: Token,
    *,
    name: str | None = None,
    description: str | None = None,
    meta: Mapping[str, Any] | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> Token:
    """Rename or describe a token; ``meta`` merges (a null value removes a key)."""
    before = {"name": token.name, "description": token.description, "meta": token.meta}
    after = dict(before)
    if name is not None:
        after["name"] = clean_token_name(name, token.name)
    if description is not None:
        after["description"] = description.strip()
    if meta is not None:
        after["meta"] = merge_meta(token.meta, clean_meta(meta))
    changes = audit.diff(before, after)
    if not changes:
        return token
    with transaction.atomic():
        for field in changes:
            setattr(token, field, after[field])
        token.save(update_fields=[*changes, "updated_at"])
        audit.record(
            "token.updated",
            actor=actor,
            account=token.account,
            target_type="token",
            target_id=token.token_id,
            changes=changes,
            context=context,
        )
    return token


def rotate_token(
    token: Token,
    *,
    grace_seconds: int | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> IssuedToken:
    """A new secret for the same token id; the old one keeps working for ``grace_seconds``.

    ``grace_seconds`` defaults to ``PORTAL_TOKEN_ROTATION_GRACE_SECONDS``; 0 ends it at once.
    A token rotated again during a grace period loses the older secret immediately.
    """
    if grace_seconds is None:
        grace_seconds = int(settings.PORTAL_TOKEN_ROTATION_GRACE_SECONDS)
    if isinstance(grace_seconds, bool) or not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise AccountError(f"The grace period must be 0 to {MAX_GRACE_SECONDS} seconds.")
    with transaction.atomic():
        locked = Token.objects.select_for_update().select_related("account").get(pk=token.pk)
        if locked.kind == Token.Kind.SESSION:
            raise AccountError("Session tokens are not rotated: create a new session.", "CONFLICT")
        if locked.is_revoked:
            raise AccountError("This token was revoked; issue a new one.", "CONFLICT")
        if locked.is_expired:
            raise AccountError("This token has expired; issue a new one.", "CONFLICT")
        if locked.account.status == Account.Status.CLOSED:
            raise AccountError(f"{locked.account.name} is closed.", "CONFLICT")
        before = locked.display
        secret = new_secret()
        now = timezone.now()
        locked.previous_secret_hash = locked.secret_hash if grace_seconds else ""
        locked.previous_valid_until = (
            now + timedelta(seconds=grace_seconds) if grace_seconds else None
        )
        locked.secret_hash = hash_secret(locked.token_id, secret)
        plaintext = compose(locked.prefix, locked.token_id, secret)
        locked.last4 = plaintext[-4:]
        locked.save(
            update_fields=[
                "secret_hash",
                "previous_secret_hash",
                "previous_valid_until",
                "last4",
                "updated_at",
            ]
        )
        audit.record(
            "token.rotated",
            actor=actor,
            account=locked.account,
            target_type="token",
            target_id=locked.token_id,
            changes={
                "display": {"before": before, "after": locked.display},
                "grace_seconds": grace_seconds,
                "old_value_works_until": (
                    locked.previous_valid_until.isoformat() if locked.previous_valid_until else None
                ),
            },
            context=context,
        )
        _publish_on_commit(locked, revoke_cached=True)
    _copy_state(locked, token)
    return IssuedToken(token=token, plaintext=plaintext)


def revoke_token(
    token: Token, *, actor: Actor, reason: str = "", context: RequestContext | None = None
) -> Token:
    """Stop the token everywhere: every worker refuses it within one second. Idempotent."""
    with transaction.atomic():
        locked = Token.objects.select_for_update().select_related("account").get(pk=token.pk)
        if locked.is_revoked:
            _copy_state(locked, token)
            return token
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at", "updated_at"])
        changes: dict[str, Any] = {"display": locked.display, "name": locked.name}
        if reason.strip():
            changes["reason"] = reason.strip()[:500]
        audit.record(
            "token.revoked",
            actor=actor,
            account=locked.account,
            target_type="token",
            target_id=locked.token_id,
            changes=changes,
            context=context,
        )
        _publish_on_commit(locked, revoke_cached=True)
    _copy_state(locked, token)
    return token


def _copy_state(source: Token, target: Token) -> None:
    for field in (
        "secret_hash",
        "previous_secret_hash",
        "previous_valid_until",
        "last4",
        "revoked_at",
        "updated_at",
    ):
        setattr(target, field, getattr(source, field))
