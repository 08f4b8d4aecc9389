"""An account's API tokens: the list, issuing one (scope picker), rotating, revoking.

A token's value exists in exactly one response: the one that issues or rotates it
(``show_once``). It is rendered into that page and nowhere else: no redirect carries it, nor a
message, the session or a log line, and that response is ``Cache-Control: no-store`` and keeps
htmx from saving the page in its history cache. Afterwards the portal holds only a keyed hash
and shows ``ppk_…last4``. So a successful POST answers 200 with the dialog instead of the usual
redirect (``tenants/views/http.py``); reloading it would ask the browser to post again, which
issues another token rather than showing the first one twice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods

from tenants import access
from tenants.forms import RevokeTokenForm, RotateTokenForm, TokenForm, TokenRateForm
from tenants.models import Account, Role, Token
from tenants.services import AccountError, IssuedToken, issue_token, revoke_token, rotate_token
from tenants.services.limits import set_token_rpm
from tenants.views.accounts import visible_lineage
from tenants.views.http import (
    INVALID,
    HtmxHttpRequest,
    context_of,
    failure_message,
    failure_status,
    redirect_after_post,
    render_page,
)
from tenants.views.presenters import scope_lines, token_rows
from tenants.widget.theme import snippet

# Live tokens shown on the list; an account with more is a program minting them, not people.
LIVE_SHOWN = 200
# Revoked and expired tokens shown (collapsed), newest first.
ENDED_SHOWN = 50


def token_capabilities(role: Role | None, account: Account) -> dict[str, bool]:
    """What the token pages offer; the views check the same roles again on POST."""
    is_admin = role is not None and role.covers(Role.ADMIN)
    return {
        # tenants.services.tokens refuses new tokens on suspended and closed accounts.
        "can_issue_tokens": is_admin and account.status == Account.Status.ACTIVE,
        "can_rotate_tokens": is_admin and account.status != Account.Status.CLOSED,
        "can_revoke_tokens": is_admin,
    }


def list_url(account: Account) -> str:
    return reverse("tenants:token-list", args=[account.public_id])


def back_url(token: Token) -> str:
    """Where a token's pages lead back to: its account's tokens, or its widget keys."""
    if token.is_widget_key:
        return reverse("tenants:widget-key-list", args=[token.account.public_id])
    return list_url(token.account)


def show_once(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    issued: IssuedToken,
) -> HttpResponse:
    """The page (or, for htmx, its ``form`` part) with the new value, never to be cached."""
    context = {**context, "issued": issued, "row": token_rows([issued.token])[0]}
    response = render_page(request, template, context, partial="form")
    add_never_cache_headers(response)  # Cache-Control: ... no-store ...
    return response


def issue_from_form(
    request: HtmxHttpRequest, account: Account, form: TokenForm
) -> tuple[IssuedToken | None, int]:
    """Issue the token the valid ``form`` describes, or put the refusal on the form."""
    data = form.cleaned_data
    try:
        # One transaction: a token whose rate could not be set is not issued either.
        with transaction.atomic():
            issued = issue_token(
                account,
                name=data["name"],
                description=data["description"],
                scopes=data["scopes"],
                bot_ids=data["bot_ids"],
                expires_in=form.expires_in,
                actor=request.user,
                context=context_of(request),
            )
            if data.get("rpm") is not None:
                set_token_rpm(
                    issued.token, rpm=data["rpm"], actor=request.user, context=context_of(request)
                )
    except AccountError as exc:
        form.add_error(None, failure_message(exc, account))
        return None, failure_status(exc)
    return issued, 200


@login_required
@require_GET
def token_list(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    role = access.role_on(request.user, account)
    mine = access.tokens_for(request.user).filter(account=account)
    usable = Token.objects.usable()  # ANDed in with "&": the rule stays in TokenQuerySet
    # Session tokens (partner API .../session/create) are many and short-lived: counted only.
    # Widget keys have their own tab (tenants.views.widget_keys).
    tokens = (
        mine.exclude(kind__in=[Token.Kind.SESSION, Token.Kind.WIDGET])
        .select_related("created_by")
        .order_by("-created_at", "-pk")
    )
    live = list((tokens & usable)[: LIVE_SHOWN + 1])
    ended = list(
        tokens.filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=timezone.now()))[
            : ENDED_SHOWN + 1
        ]
    )
    context = {
        "account": account,
        "role": role,
        "lineage": visible_lineage(request, account),
        "has_sub_tenants": account.children.exists(),
        "rows": token_rows(live[:LIVE_SHOWN]),
        "more_live": len(live) > LIVE_SHOWN,
        "ended_rows": token_rows(ended[:ENDED_SHOWN]),
        "more_ended": len(ended) > ENDED_SHOWN,
        "live_sessions": (mine.filter(kind=Token.Kind.SESSION) & usable).count(),
        "live_widget_keys": (mine.filter(kind=Token.Kind.WIDGET) & usable).count(),
        "tab": "tokens",
        **token_capabilities(role, account),
    }
    return render_page(request, "tenants/token_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def token_create(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The form with the scope picker; a valid POST answers with the show-once dialog."""
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.ADMIN)
    form = TokenForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {
        "account": account,
        "form": form,
        "lineage": visible_lineage(request, account),
    }
    status = 200
    if request.method == "POST":
        if form.is_valid():
            issued, status = issue_from_form(request, account, form)
            if issued is not None:
                return show_once(request, "tenants/token_create.html", context, issued)
        else:
            status = INVALID
    return render_page(request, "tenants/token_create.html", context, partial="form", status=status)


@login_required
@require_http_methods(["GET", "POST"])
def token_rotate(request: HtmxHttpRequest, token_id: str) -> HttpResponse:
    """A new value for the same token id; the old one keeps working for the chosen grace."""
    token = access.get_token_for(request.user, token_id, min_role=Role.VIEWER)
    account = token.account
    access.require_role(request.user, account, Role.ADMIN)
    form = RotateTokenForm(
        request.POST if request.method == "POST" else None,
        default_grace=int(settings.PORTAL_TOKEN_ROTATION_GRACE_SECONDS),
    )
    context: dict[str, Any] = {
        "account": account,
        "token": token,
        "scopes": scope_lines(token.scopes),
        "form": form,
        "back_url": back_url(token),
        "lineage": visible_lineage(request, account),
    }
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                rotated = rotate_token(
                    token,
                    grace_seconds=form.cleaned_data["grace_seconds"],
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, account))
                status = failure_status(exc)
            else:
                if token.is_widget_key:
                    context["snippet"] = snippet(account, rotated.plaintext)
                return show_once(request, "tenants/token_rotate.html", context, rotated)
        else:
            status = INVALID
    return render_page(request, "tenants/token_rotate.html", context, partial="form", status=status)


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: HtmxHttpRequest, token_id: str) -> HttpResponse:
    token = access.get_token_for(request.user, token_id, min_role=Role.VIEWER)
    account = token.account
    access.require_role(request.user, account, Role.ADMIN)
    form = RevokeTokenForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            revoke_token(
                token,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                context=context_of(request),
            )
            messages.success(
                request, f"{token.name} ({token.display}) is revoked: every call with it fails now."
            )
            return redirect_after_post(request, back_url(token))
        status = INVALID
    context = {
        "account": account,
        "token": token,
        "form": form,
        "back_url": back_url(token),
        "lineage": visible_lineage(request, account),
    }
    return render_page(request, "tenants/token_revoke.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def token_rate(request: HtmxHttpRequest, token_id: str) -> HttpResponse:
    """A token's own requests per minute; every worker applies a change within a second."""
    token = access.get_token_for(request.user, token_id, min_role=Role.VIEWER)
    account = token.account
    access.require_role(request.user, account, Role.ADMIN)
    form = TokenRateForm(
        request.POST if request.method == "POST" else None, initial={"rpm": token.rpm}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            set_token_rpm(
                token, rpm=form.cleaned_data["rpm"], actor=request.user, context=context_of(request)
            )
            limit = f"{token.rpm} requests per minute" if token.rpm is not None else "no own limit"
            messages.success(request, f"{token.name} ({token.display}) now has {limit}.")
            return redirect_after_post(request, back_url(token))
        status = INVALID
    context = {
        "account": account,
        "token": token,
        "form": form,
        "back_url": back_url(token),
        "lineage": visible_lineage(request, account),
    }
    return render_page(request, "tenants/token_rate.html", context, status=status)
