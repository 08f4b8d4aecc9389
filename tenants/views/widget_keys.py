"""An account's chat widget keys: the list, a new key (bot picker, origins, rates), one key's
page (the snippet to paste, a live preview, its origins), and the preview's stream.

Rotating and revoking are the token pages' (``tenants.views.tokens``), which come back here
for a widget key. A key's value is shown once, in the dialog that issues or rotates it, inside
the snippet; afterwards the snippet shows ``ppw_…last4`` where the value goes.

The live preview is the widget script itself on the key's page, talking to
``widget-key-preview``: the portal's own origin is never added to a key, so the preview
authenticates by the person's session (and CSRF token) instead of the key, and runs the very
same turn as ``/v1/chat/stream`` with the key's record (same bot, limits and metering). A person
acting as the tenant previews with a record that carries their support session, so the turn's
upstream calls are on its trail (``tenants.proxy.internal.on_support_trail``).
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cache
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import condition, require_GET, require_http_methods, require_POST

from tenants import access
from tenants.console.acting import ConsoleActor
from tenants.console.calls import list_bots
from tenants.credentials.records import TokenRecord, record_from_token
from tenants.forms import WidgetKeyForm, WidgetOriginsForm
from tenants.models import Account, Role, Token
from tenants.proxy.internal import on_support_trail
from tenants.services import AccountError
from tenants.services.widget_keys import change_widget_origins, issue_widget_key
from tenants.views.accounts import visible_lineage
from tenants.views.http import (
    INVALID,
    HtmxHttpRequest,
    context_of,
    failure_message,
    failure_status,
    render_page,
)
from tenants.views.presenters import token_rows
from tenants.views.tokens import show_once, token_capabilities
from tenants.widget.protocol import WidgetError, max_body_bytes, parse_chat_request
from tenants.widget.theme import SCRIPT_SOURCE, snippet, widget_theme
from tenants.widget.turn import chat_turn, encode

LIVE_SHOWN = 200
ENDED_SHOWN = 50


def list_url(account: Account) -> str:
    return reverse("tenants:widget-key-list", args=[account.public_id])


@login_required
@require_GET
def widget_key_list(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    role = access.role_on(request.user, account)
    keys = (
        access.widget_keys_for(request.user)
        .filter(account=account)
        .select_related("created_by")
        .prefetch_related("widget_origins")
        .order_by("-created_at", "-pk")
    )
    live = list((keys & Token.objects.usable())[: LIVE_SHOWN + 1])
    ended = list(
        keys.filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=timezone.now()))[
            : ENDED_SHOWN + 1
        ]
    )
    context = {
        "account": account,
        "role": role,
        "lineage": visible_lineage(request, account),
        "rows": token_rows(live[:LIVE_SHOWN]),
        "more_live": len(live) > LIVE_SHOWN,
        "ended_rows": token_rows(ended[:ENDED_SHOWN]),
        "more_ended": len(ended) > ENDED_SHOWN,
        "tab": "widget",
        **token_capabilities(role, account),
    }
    return render_page(request, "tenants/widget_key_list.html", context)


def _bot_choices(
    request: HtmxHttpRequest, account: Account
) -> tuple[list[tuple[str, str]] | None, str]:
    """The account's bots for the picker, or None and why they could not be listed.

    Listed as the console lists them (one call through the proxy pipeline, as the account,
    metered under the person, and on the support session's trail when the person is acting),
    so the picker offers the bots the key will be able to use, and no others."""
    person = request.user
    if not isinstance(person, AbstractBaseUser):  # login_required let no one else in
        raise PermissionDenied
    bots = async_to_sync(list_bots)(ConsoleActor.of(person, account))
    if bots.problem is not None:
        return None, str(bots.problem["data"]["message"])
    if bots.more:
        # Not all of them fit a picker: the bot's id is typed, and checked like any other.
        return None, f"{account.name} has more than {len(bots.items):,} bots"
    return [
        (str(item["id"]), _bot_label(str(item["id"]), str(item.get("name") or "")))
        for item in bots.items
        if item.get("id")
    ], ""


def _bot_label(bot_id: str, name: str) -> str:
    return f"{name} ({bot_id})" if name else bot_id


@login_required
@require_http_methods(["GET", "POST"])
def widget_key_create(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The form with the bot picker; a valid POST answers with the show-once snippet."""
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.ADMIN)
    bots, bots_problem = _bot_choices(request, account)
    form = WidgetKeyForm(request.POST if request.method == "POST" else None, bots=bots)
    context: dict[str, Any] = {
        "account": account,
        "form": form,
        "bots_problem": bots_problem,
        "no_bots": bots == [],
        "lineage": visible_lineage(request, account),
    }
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                issued = issue_widget_key(
                    account,
                    bot_id=data["bot_id"],
                    origins=data["origins"],
                    name=data["name"],
                    rpm=data["rpm"],
                    session_rpm=data["session_rpm"],
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, account))
                status = failure_status(exc)
            else:
                context["snippet"] = snippet(account, issued.plaintext)
                return show_once(request, "tenants/widget_key_create.html", context, issued)
        else:
            status = INVALID
    return render_page(
        request, "tenants/widget_key_create.html", context, partial="form", status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def widget_key_detail(request: HtmxHttpRequest, token_id: str) -> HttpResponse:
    """The snippet, the live preview, and (admins) the key's origins."""
    key = access.get_widget_key_for(request.user, token_id)
    account = key.account
    role = access.role_on(request.user, account)
    origins = [row.origin for row in key.widget_origins.all()]
    form = WidgetOriginsForm(
        request.POST if request.method == "POST" else None,
        initial={"origins": "\n".join(origins)},
    )
    status = 200
    saved = False
    if request.method == "POST":
        access.require_role(request.user, account, Role.ADMIN)
        if form.is_valid():
            try:
                origins = change_widget_origins(
                    key,
                    origins=form.cleaned_data["origins"],
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, account))
                status = failure_status(exc)
            else:
                saved = True
                form = WidgetOriginsForm(initial={"origins": "\n".join(origins)})
        else:
            status = INVALID
    context = {
        "account": account,
        "key": key,
        "row": token_rows([key])[0],
        "origins": origins,
        "form": form,
        "saved": saved,
        "snippet": snippet(account, key.display),
        "theme": widget_theme(account),
        "can_preview": role is not None and role.covers(Role.SUPPORT) and key.is_usable,
        "lineage": visible_lineage(request, account),
        "tab": "widget",
        **token_capabilities(role, account),
    }
    return render_page(
        request, "tenants/widget_key_detail.html", context, partial="origins", status=status
    )


# -- the live preview's stream ---------------------------------------------------------------


def _preview_record(request: HttpRequest, token_id: str) -> TokenRecord:
    key = access.get_widget_key_for(request.user, token_id)
    access.require_role(request.user, key.account, Role.SUPPORT)
    if not key.is_usable:
        raise WidgetError(409, f"This widget key is {key.status}: there is nothing to preview.")
    return on_support_trail(record_from_token(key), access.acting_as(request.user))


def _refused(error: WidgetError) -> JsonResponse:
    response = JsonResponse({"error": error.message}, status=error.status)
    for name, value in error.headers:
        response[name.decode("latin-1")] = value.decode("latin-1")
    return response


@login_required
@require_POST
async def widget_key_preview(request: HttpRequest, token_id: str) -> HttpResponseBase:
    """One preview turn as ``/v1/chat/stream`` answers it (same lines, same errors)."""
    try:
        try:
            record = await sync_to_async(_preview_record)(request, token_id)
        except Http404:
            raise WidgetError(404, "No such widget key") from None
        except PermissionDenied:
            raise WidgetError(403, "Previewing needs the support role or more") from None
        if len(request.body) > max_body_bytes():
            raise WidgetError(400, "Invalid request payload: the body is too large")
        chat = parse_chat_request(request.body, request.headers.get("Content-Type", ""))
    except WidgetError as error:
        return _refused(error)
    # One id for the turn's calls (create and complete), in usage and on a support trail alike.
    request_id = request.headers.get("X-Request-ID", "")[:64] or f"preview-{secrets.token_hex(8)}"
    turn = chat_turn(record, chat, request_id=request_id)
    try:
        first = await anext(turn)
    except WidgetError as error:
        await turn.aclose()
        return _refused(error)

    async def lines() -> Any:
        try:
            yield encode(first)
            async for event in turn:
                yield encode(event)
        finally:
            await turn.aclose()

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


# -- the script ---------------------------------------------------------------------------------


@cache
def _script() -> tuple[bytes, str]:
    found = finders.find(SCRIPT_SOURCE)
    if not isinstance(found, str):
        raise RuntimeError(f"static/{SCRIPT_SOURCE} is missing")
    source = Path(found).read_bytes()
    return source, hashlib.sha256(source).hexdigest()[:20]


@require_GET
@condition(etag_func=lambda request: _script()[1])
def widget_script(request: HttpRequest) -> HttpResponse:
    """``/widget/chat.js``: the embeddable script, at an address sites can keep."""
    source, _ = _script()
    response = HttpResponse(source, content_type="text/javascript; charset=utf-8")
    # Sites cache it for an hour, then revalidate (ETag): a new version reaches them that fast.
    response["Cache-Control"] = "public, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
