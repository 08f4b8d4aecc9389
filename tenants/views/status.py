"""Suspend, reactivate and close an account, each behind a page that says what it does."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from tenants import access
from tenants.forms import CloseForm, SuspendForm
from tenants.models import Account, Role
from tenants.services import AccountError, close_account, reactivate_account, suspend_account
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


def _detail_url(account: Account) -> str:
    return reverse("tenants:account-detail", args=[account.public_id])


@login_required
@require_http_methods(["GET", "POST"])
def account_suspend(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.ADMIN)
    form = SuspendForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                suspend_account(
                    account,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, account))
                status = failure_status(exc)
            else:
                messages.success(request, f"{account.name} is suspended.")
                return redirect_after_post(request, _detail_url(account))
        else:
            status = INVALID
    context = {
        "account": account,
        "form": form,
        "lineage": visible_lineage(request, account),
        "descendants": account.children.exists(),
    }
    return render_page(request, "tenants/account_suspend.html", context, status=status)


@login_required
@require_POST
def account_reactivate(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    # Reactivating is harmless and undoable, so it needs no confirmation page.
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.ADMIN)
    try:
        reactivate_account(account, actor=request.user, context=context_of(request))
    except AccountError as exc:
        messages.error(request, failure_message(exc, account))
    else:
        messages.success(request, f"{account.name} is active again.")
    return redirect_after_post(request, _detail_url(account))


@login_required
@require_http_methods(["GET", "POST"])
def account_close(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.OWNER)
    form = CloseForm(request.POST if request.method == "POST" else None, account=account)
    status = 200
    if request.method == "POST" and account.status != Account.Status.CLOSED:
        if form.is_valid():
            try:
                close_account(
                    account,
                    confirmation=form.cleaned_data["confirmation"],
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, account, partial=True))
                status = failure_status(exc)
            else:
                messages.success(
                    request, f"{account.name} is closed. Its record and history are kept."
                )
                return redirect_after_post(request, _detail_url(account))
        else:
            status = INVALID
    open_below = (
        Account.objects.subtree_of(account)
        .exclude(pk=account.pk)
        .exclude(status=Account.Status.CLOSED)
        .count()
    )
    context = {
        "account": account,
        "form": form,
        "lineage": visible_lineage(request, account),
        "open_below": open_below,
    }
    return render_page(request, "tenants/account_close.html", context, status=status)
