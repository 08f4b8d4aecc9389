"""An account's webhooks: the list with recent deliveries, adding one (secret shown once),
deleting one, and "Send test". Viewers read; admins manage (the views check the role again).

Like a token's value, a webhook's secret exists in one response only: the one that adds it
(200 with the page, ``Cache-Control: no-store``, never a redirect, message or log line).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from tenants import access
from tenants.alerts import webhooks
from tenants.alerts.models import WebhookDelivery
from tenants.models import Account, Role
from tenants.services import AccountError
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

RECENT_DELIVERIES = 50


class WebhookForm(forms.Form):
    url = forms.CharField(label="URL", max_length=1000)
    description = forms.CharField(max_length=200, required=False)


def list_url(account: Account) -> str:
    return reverse("tenants:webhook-list", args=[account.public_id])


def _context(request: HtmxHttpRequest, account: Account, form: WebhookForm) -> dict[str, Any]:
    role = access.role_on(request.user, account)
    deliveries = (
        WebhookDelivery.objects.filter(account=account)
        .select_related("endpoint")
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-pk")[:RECENT_DELIVERIES]
    )
    return {
        "account": account,
        "role": role,
        "lineage": visible_lineage(request, account),
        "endpoints": list(account.webhooks.order_by("-created_at", "-pk")),
        "deliveries": list(deliveries),
        "form": form,
        "tab": "webhooks",
        "can_manage": role is not None
        and role.covers(Role.ADMIN)
        and account.status != Account.Status.CLOSED,
    }


@login_required
@require_GET
def webhook_list(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    context = _context(request, account, WebhookForm())
    return render_page(request, "tenants/webhook_list.html", context, partial="deliveries")


@login_required
@require_POST
def webhook_create(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.ADMIN)
    form = WebhookForm(request.POST)
    status = INVALID
    if form.is_valid():
        try:
            endpoint, secret = webhooks.create_endpoint(
                account,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                actor=request.user,
                context=context_of(request),
            )
        except AccountError as exc:
            form.add_error(None, failure_message(exc, account))
            status = failure_status(exc)
        else:
            context = _context(request, account, WebhookForm())
            context.update(created=endpoint, secret=secret)
            response = render_page(request, "tenants/webhook_list.html", context)
            add_never_cache_headers(response)
            return response
    context = _context(request, account, form)
    return render_page(request, "tenants/webhook_list.html", context, status=status)


@login_required
@require_POST
def webhook_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    endpoint = access.get_webhook_for(request.user, pk)
    access.require_role(request.user, endpoint.account, Role.ADMIN)
    webhooks.delete_endpoint(endpoint, actor=request.user, context=context_of(request))
    messages.success(request, f"The webhook to {endpoint.url} is deleted.")
    return redirect_after_post(request, list_url(endpoint.account))


@login_required
@require_POST
def webhook_test(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    endpoint = access.get_webhook_for(request.user, pk)
    access.require_role(request.user, endpoint.account, Role.ADMIN)
    delivery = webhooks.send_test(endpoint, actor=request.user, context=context_of(request))
    messages.success(
        request, f"A webhook.test event ({delivery.event_id}) is on its way to {endpoint.url}."
    )
    return redirect_after_post(request, list_url(endpoint.account))
