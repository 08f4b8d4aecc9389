"""Widget keys: issue one (a bot of the account, the sites that embed it), change its origins.

A widget key is a portal token of kind ``widget`` (``ppw_…``): bound to one account and one
of its bots, scope ``chat:stream`` only, usable by browsers from its listed origins, with its
own requests per minute and each chat session's. Rotation and revocation are the tokens' own
(``tenants.services.tokens``).

The bot is checked upstream, as the account, before anything is written: a key can only name
a bot its account owns there (another tenant's or another partner's bot is refused as missing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from portal.upstream import UpstreamClient
from tenants import audit
from tenants.audit import RequestContext
from tenants.credentials import cache as record_cache
from tenants.models import Account, Token, WidgetOrigin
from tenants.proxy.internal import UPSTREAM_ID
from tenants.services.errors import AccountError
from tenants.services.tokens import IssuedToken, clean_token_name, issue_credential
from tenants.services.upstream import call_upstream, partner_of
from tenants.widget import origins as widget_origins
from tenants.widget.origins import OriginError, clean_origins

if TYPE_CHECKING:
    from tenants.audit import Actor

WIDGET_SCOPES = ["chat:stream"]
MAX_RPM = 1_000_000


def _clean_origins(values: Iterable[str]) -> list[str]:
    try:
        return clean_origins(values)
    except OriginError as exc:
        raise AccountError(str(exc)) from None


def _clean_rate(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RPM:
        raise AccountError(f"{what} must be a whole number from 1 to {MAX_RPM}, or none.")
    return value


def bot_of_account(account: Account, bot_id: str) -> dict[str, Any]:
    """The bot ``bot_id`` as the upstream shows it to ``account``, or ``AccountError``.

    Fetched as the account (run-as its upstream child), so a bot of another tenant or partner
    is "not found" exactly like one that does not exist.
    """
    bot_id = bot_id.strip()
    if not UPSTREAM_ID.match(bot_id):
        raise AccountError("A bot id is 1 to 64 letters, digits, - or _.")
    connection = partner_of(account).upstream_connection()
    run_as = None if account.is_partner else account.public_id

    async def fetch(client: UpstreamClient) -> Any:
        return await client.request_json(
            connection, "GET", f"/v1/bot/{bot_id}/fetch", run_as=run_as, idempotent=True
        )

    try:
        bot = call_upstream("check the bot", fetch)
    except AccountError as exc:
        if exc.code in ("NOT_FOUND", "NOT_AUTHORIZED", "NOT_AUTHENTICATED"):
            raise AccountError(f"{account.name} has no bot {bot_id}.") from None
        raise
    if not isinstance(bot, dict) or bot.get("id") != bot_id:
        raise AccountError(f"{account.name} has no bot {bot_id}.")
    return bot


def issue_widget_key(
    account: Account,
    *,
    bot_id: str,
    origins: Iterable[str],
    name: str = "",
    rpm: int | None = None,
    session_rpm: int | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> IssuedToken:
    """A widget key for ``account``'s bot ``bot_id``, usable by browsers from ``origins``.

    ``rpm`` (the key's requests per minute) and ``session_rpm`` (each chat session's) default
    to ``WIDGET_KEY_RPM`` and ``WIDGET_SESSION_RPM``.
    """
    cleaned = _clean_origins(origins)
    key_rpm = _clean_rate(settings.WIDGET_KEY_RPM if rpm is None else rpm, "The key's rate")
    per_session = _clean_rate(
        settings.WIDGET_SESSION_RPM if session_rpm is None else session_rpm, "The session rate"
    )
    bot = bot_of_account(account, bot_id)  # upstream first: a refusal leaves nothing behind
    bot_name = str(bot.get("name") or "")[:200]
    with transaction.atomic():
        issued = issue_credential(
            account,
            "widget_key.issued",
            Token.Kind.WIDGET,
            actor=actor,
            context=context,
            audit_extra={"origins": cleaned, "rpm": key_rpm, "session_rpm": per_session},
            name=clean_token_name(name, f"Widget: {bot_name or bot['id']}"),
            scopes=WIDGET_SCOPES,
            bot_ids=[bot["id"]],
            meta={"botName": bot_name} if bot_name else {},
            rpm=key_rpm,
            session_rpm=per_session,
        )
        # Before the commit: the token's publication (on commit) reads these rows.
        WidgetOrigin.objects.bulk_create(
            [WidgetOrigin(token=issued.token, origin=origin) for origin in cleaned]
        )
    return issued


def change_widget_origins(
    token: Token,
    *,
    origins: Iterable[str],
    actor: Actor,
    context: RequestContext | None = None,
) -> list[str]:
    """Replace a widget key's origins; every worker holds the key to the new list within a
    second (as a revocation reaches them). Returns the new list."""
    cleaned = _clean_origins(origins)
    with transaction.atomic():
        locked = Token.objects.select_for_update().select_related("account").get(pk=token.pk)
        if locked.kind != Token.Kind.WIDGET:
            raise AccountError("Only widget keys have origins.")
        if locked.is_revoked:
            raise AccountError("This widget key was revoked; issue a new one.", "CONFLICT")
        before = list(locked.widget_origins.values_list("origin", flat=True))
        if sorted(before) == sorted(cleaned):
            return cleaned
        locked.widget_origins.exclude(origin__in=cleaned).delete()
        WidgetOrigin.objects.bulk_create(
            [WidgetOrigin(token=locked, origin=o) for o in cleaned if o not in before]
        )
        locked.save(update_fields=["updated_at"])
        audit.record(
            "widget_key.origins_changed",
            actor=actor,
            account=locked.account,
            target_type="token",
            target_id=locked.token_id,
            changes={"origins": {"before": sorted(before), "after": cleaned}},
            context=context,
        )

        def republish() -> None:
            record_cache.publish(locked, revoke_cached=True)
            widget_origins.forget()

        transaction.on_commit(republish)
    return cleaned
