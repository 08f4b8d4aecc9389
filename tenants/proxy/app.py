"""The proxy's ASGI application: one proxied call, top to bottom.

    path check ─► route ─► authenticate ─► acting account ─► authorize ─► body ─► bot check
              ─► admit (limits) ─► idempotency ─► forward and stream back ─► settle (limits)

Every step before ``forward`` either passes or raises ``ProxyError``, answered here as
``{"message", "code"}``; none of them touches the upstream, and a warm call touches no database
(token records and the account tree come from in-process caches). There is no Django request,
middleware or thread hop on this path: ``portal/asgi.py`` sends ``/v1/...`` and ``/api/v1/...``
here directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from django.conf import settings

from portal.upstream.config import check_timezone
from tenants import limits
from tenants.credentials import (
    CredentialError,
    TokenRecord,
    authenticate,
    record_allows_bot,
    record_allows_route,
    record_allows_scope,
)
from tenants.metering.observer import UsageMeter
from tenants.metering.recording import record_call
from tenants.proxy import acting, idempotency, routes
from tenants.proxy.errors import (
    ProxyError,
    bad_request,
    limits_unavailable,
    not_authenticated,
    not_authorized,
)
from tenants.proxy.forward import Outcome, forward
from tenants.proxy.routes import BotRef, Match
from tenants.proxy.wire import (
    CORS_HEADERS,
    ClientGone,
    DisconnectWatch,
    Message,
    Receive,
    Request,
    Scope,
    Send,
    parse_json_object,
    read_body,
    send_error,
    send_json,
    server_timing,
)

logger = logging.getLogger("tenants.proxy")

_TOKEN_SCHEMES = ("bearer", "token")  # the SDKs send Bearer; ChatBotKit's docs also show Token


async def proxy_application(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI entry point for ``/v1/...`` and ``/api/v1/...`` (HTTP only)."""
    await handle(scope, receive, send)


async def handle(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    caller: TokenRecord | None = None,
    rates: Sequence[limits.Rate] = (),
    follow_up: bool = False,
) -> None:
    """One call through the pipeline; ``caller``, ``rates`` and ``follow_up`` are set by the
    portal's own faces only.

    ``caller``: a credential the portal already checked (a person in the console, a widget key):
    the call skips the ``Authorization`` header and goes through every other step as a token's
    call would (tenants/proxy/internal.py). ``rates``: more requests-per-minute limits admitted
    with the call's own (a widget key's chat session). ``follow_up``: a later upstream call of
    one request already admitted (a widget turn's complete after its create): its quotas are
    checked and reserved, no requests-per-minute limit counts it again.
    """
    request: Request | None = None
    # -- metering (tenants.metering): what the finally below records of an authenticated call.
    record: TokenRecord | None = None
    identity: acting.Acting | None = None
    matched: Match | None = None
    meter: UsageMeter | None = None
    refusal: ProxyError | None = None
    # -- end metering
    try:
        request = Request.from_scope(scope)
        if request.method in ("HEAD", "OPTIONS"):
            # As the upstream answers them (§1), without credentials: CORS preflights.
            body = b"{}" if request.method == "OPTIONS" else b""
            await send_json(send, 200, body, [server_timing(request)])
            return
        matched = routes.match(request.method, request.path)
        if request.method == "POST" and not _is_json(request.headers.get("content-type", "")):
            raise bad_request("POST requests need Content-Type: application/json")

        record = caller if caller is not None else await _authenticate(request)
        identity = await acting.resolve(
            request.headers,
            account_id=record.account_id,
            account_path=record.account_path,
            may_run_as=record.kind != "session",
        )
        _authorize(record, matched, request.path)

        body = b""
        fields: dict[str, object] = {}
        if request.method == "POST":
            body = await read_body(
                receive, request.headers.get("content-length"), settings.PROXY_MAX_BODY_BYTES
            )
            fields = parse_json_object(body)
            _check_bot(record, matched, fields)
        _check_timezone(request)

        # -- limits (tenants.limits): admission, after everything that is free to refuse and
        # before anything that costs an upstream call; settled when the call ends. ---------------
        metering = matched.route.metering if matched.route is not None else routes.Metering.NONE
        reservation = await _admit(record, identity, metering, fields, rates, follow_up)
        # One meter per call (tenants.metering): the settle reads the upstream's reported
        # tokens from it, and metering records it in the finally below.
        meter = UsageMeter()
        meter.expect(matched.route, reservation.cost)
        await _forward_limited(request, record, identity, body, receive, send, reservation, meter)
        # -- end limits --------------------------------------------------------------------------
    except ProxyError as error:
        refusal = error  # metering
        timing = server_timing(request) if request is not None else None
        await send_error(send, error, [timing] if timing else [])
    except ClientGone:
        return
    finally:
        # -- metering: one usage event per authenticated call, however it ended; queued in
        # memory, never waited on (tenants/metering/buffer.py). -----------------------------------
        if record is not None:
            record_call(request, record, identity, matched, meter, refusal)


# -- the steps -----------------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


async def _authenticate(request: Request) -> TokenRecord:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() not in _TOKEN_SCHEMES or not token:
        raise not_authenticated()
    try:
        record = await authenticate(token)
    except CredentialError as error:
        raise ProxyError(error.status, error.message, error.code) from None
    if record.kind == "widget":
        # A widget key sits in public web pages: it chats with its one bot through the widget
        # stream (tenants/widget), and opens nothing else.
        raise not_authenticated("Widget keys work only on /v1/chat/stream")
    return record


def _authorize(record: TokenRecord, matched: Match, path: str) -> None:
    # Session tokens carry the upstream's allowedRoutes globs; the upstream refuses a route
    # outside them as unauthenticated (§3.3, §4), and so do we.
    if record.allowed_routes is not None and not record_allows_route(record, "/v1" + path):
        raise not_authenticated(f"This session token does not cover /v1{path}")
    if matched.route is None:
        if "*" not in record.scopes:
            raise not_authorized(f"/v1{path} is not a route this token's scopes cover")
        return
    if not record_allows_scope(record, matched.route.scope):
        raise not_authorized(f"This token lacks the {matched.route.scope} scope")
    if matched.route.bot is BotRef.PATH:
        _require_bot(record, matched.params["botId"])


def _check_bot(record: TokenRecord, matched: Match, body: dict[str, object]) -> None:
    if record.bot_ids is None or matched.route is None:
        return
    if matched.route.bot not in (BotRef.BODY, BotRef.BODY_IF_GIVEN):
        return
    bot_id = body.get("botId")
    if bot_id is None and matched.route.bot is BotRef.BODY_IF_GIVEN:
        return
    if not isinstance(bot_id, str) or not bot_id:
        raise not_authorized("This token may only be used with its bots: name one as botId")
    _require_bot(record, bot_id)


def _require_bot(record: TokenRecord, bot_id: str) -> None:
    if not record_allows_bot(record, bot_id):
        raise not_authorized(f"This token may not use the bot {bot_id}")


async def _admit(
    record: TokenRecord,
    identity: acting.Acting,
    metering: str,
    fields: dict[str, object],
    rates: Sequence[limits.Rate],
    follow_up: bool,
) -> limits.Reservation:
    try:
        return await limits.admit(
            token_id=record.token_id,
            token_rpm=record.rpm,
            levels=identity.account.levels,
            metering=metering,
            body=fields,
            rates=rates,
            follow_up=follow_up,
        )
    except limits.LimitExceeded as refusal:
        raise ProxyError(
            refusal.status,
            refusal.message,
            refusal.code,
            headers=refusal.headers,
            extra={"limit": refusal.details},
        ) from None
    except limits.LimitsUnavailable:
        raise limits_unavailable() from None


async def _forward_limited(
    request: Request,
    record: TokenRecord,
    identity: acting.Acting,
    body: bytes,
    receive: Receive,
    send: Send,
    reservation: limits.Reservation,
    meter: UsageMeter,
) -> None:
    """``_forward_once`` with the reservation's ``RateLimit-*`` headers on the answer, and the
    reservation given back (the upstream refused, or was never reached, or the answer was an
    idempotent replay) or settled with the tokens the upstream reported."""

    async def send_limited(message: Message) -> None:
        if message["type"] == "http.response.start" and reservation.headers:
            message = {**message, "headers": [*message["headers"], *reservation.headers]}
        await send(message)

    receive, send_metered = meter.watch(receive, send_limited)
    failed = False
    try:
        await _forward_once(request, record, identity, body, receive, send_metered)
    except ProxyError as error:
        failed = True  # nothing reached the client yet: app.py answers it, with the headers
        error.headers = (*error.headers, *reservation.headers)
        raise
    finally:
        # Shielded: a client that left must not leave its reservation half-done. (Most calls
        # reserve nothing; they skip the task a shield costs.)
        if reservation.reserved or reservation.token_counters:
            await asyncio.shield(_settle(reservation, meter, failed=failed))


async def _settle(reservation: limits.Reservation, meter: UsageMeter, *, failed: bool) -> None:
    if failed or meter.replayed or meter.status >= 400:
        await limits.give_back(reservation)
    else:
        await limits.settle(reservation, tokens=meter.usage().tokens)


def _check_timezone(request: Request) -> None:
    timezone = request.headers.get("x-timezone")
    if timezone:
        try:
            check_timezone(timezone)
        except ValueError:
            raise bad_request("X-Timezone is not a time zone name") from None


async def _forward_once(
    request: Request,
    record: TokenRecord,
    identity: acting.Acting,
    body: bytes,
    receive: Receive,
    send: Send,
) -> None:
    """Forward, through the idempotency record when the caller sent a key."""
    key = request.headers.get(idempotency.HEADER)
    if key is None or request.method != "POST" or _is_subscription(request.path):
        await _forward_watched(request, identity, body, receive, send)
        return
    fingerprint = idempotency.fingerprint(request.method, request.path, identity.account.pk, body)
    claim = await idempotency.claim(record.token_id, key, fingerprint)
    if isinstance(claim, idempotency.Replay):
        await send(
            {
                "type": "http.response.start",
                "status": claim.status,
                "headers": [
                    (b"content-type", claim.content_type.encode("latin-1")),
                    (b"content-length", str(len(claim.body)).encode()),
                    (b"idempotent-replayed", b"true"),
                    *CORS_HEADERS,
                    server_timing(request),
                ],
            }
        )
        await send({"type": "http.response.body", "body": claim.body})
        return
    outcome = None
    try:
        outcome = await _forward_watched(
            request,
            identity,
            body,
            receive,
            send,
            keep_up_to=settings.PROXY_IDEMPOTENCY_MAX_BYTES,
        )
    finally:
        # Shielded: a client that left must still release its claim for the retry.
        await asyncio.shield(idempotency.finish(claim, outcome))


def _is_subscription(path: str) -> bool:
    # Subscriptions never end by themselves (§7): there is no answer to keep.
    return path.endswith("/subscribe")


async def _forward_watched(
    request: Request,
    identity: acting.Acting,
    body: bytes,
    receive: Receive,
    send: Send,
    *,
    keep_up_to: int = 0,
) -> Outcome | None:
    """``forward``, cancelled the moment the client disconnects (None then)."""
    watch = DisconnectWatch(receive)

    async def send_watched(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            watch.finishing()
        await send(message)

    try:
        return await forward(
            request,
            identity,
            body,
            send_watched,
            keep_up_to=keep_up_to,
            on_disconnect=watch.on_disconnect,
        )
    except asyncio.CancelledError:
        if not watch.disconnected:
            raise
        # Leaving forward() closed the upstream request; nobody is left to answer.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        logger.info("client left during %s /v1%s", request.method, request.path)
        return None
    finally:
        watch.close()
