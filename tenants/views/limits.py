"""Limits pages: an account's plan, rate and period quotas; a partner's plans.

An account's limits are set from above (``check_may_set_limits``: admins of its parent, operators
for a partner); everyone else who sees the account reads them. Plans are managed by the admins of
their partner; operators reach every partner's, and see the global ones (changed in the admin).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from tenants import access
from tenants.forms import PERIOD_LIMITS, AccountLimitsForm, PlanForm
from tenants.models import Account, Plan, Role
from tenants.services import AccountError
from tenants.services.authority import check_may_set_limits
from tenants.services.limits import UNSET, create_plan, set_account_limits, update_plan
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


def limits_refusal(user: Any, account: Account) -> str | None:
    """Why ``user`` may not set ``account``'s limits, or None when they may."""
    if account.status == Account.Status.CLOSED:
        return f"{account.name} is closed; its limits are kept as they were."
    try:
        check_may_set_limits(user, account)
    except AccountError as exc:
        return exc.message
    return None


def limit_rows(account: Account) -> list[dict[str, Any]]:
    """Each limit: the account's own value, its plan's, and which one applies."""
    plan = account.plan
    rows = []
    for key, label in (*PERIOD_LIMITS, ("rpm", "Requests per minute")):
        own = account.rpm if key == "rpm" else account.limits.get(key)
        plan_value = getattr(plan, key) if plan is not None else None
        if own is not None:
            effective, source = own, "override"
        elif plan_value is not None:
            effective, source = plan_value, "plan"
        else:
            effective, source = None, ""
        rows.append(
            {
                "key": key,
                "label": label,
                "own": own,
                "plan": plan_value,
                "effective": effective,
                "source": source,
            }
        )
    return rows


def limits_summary(request: HtmxHttpRequest, account: Account) -> dict[str, Any]:
    """What the account page's Limits card shows."""
    return {
        "limit_rows": limit_rows(account),
        "can_set_limits": limits_refusal(request.user, account) is None,
    }


@login_required
@require_http_methods(["GET", "POST"])
def account_limits(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    refusal = limits_refusal(request.user, account)
    if request.method == "POST" and refusal is not None:
        raise PermissionDenied(refusal)
    form = None
    status = 200
    if refusal is None:
        form = AccountLimitsForm.for_account(
            account, request.POST if request.method == "POST" else None
        )
    if request.method == "POST" and form is not None:
        if form.is_valid():
            data = form.cleaned_data
            limits = form.changed_limits()
            try:
                set_account_limits(
                    account,
                    plan=data["plan"],
                    rpm=data["rpm"],
                    limits=UNSET if limits is None else limits,
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, account))
                status = failure_status(exc)
            else:
                url = reverse("tenants:account-limits", args=[account.public_id])
                return redirect_after_post(request, f"{url}?saved=1")
        else:
            status = INVALID
    context = {
        "account": account,
        "lineage": visible_lineage(request, account),
        "form": form,
        "refusal": refusal,
        "limit_rows": limit_rows(account),
        "saved": request.method == "GET" and request.GET.get("saved") == "1",
        "tab": "limits",
    }
    return render_page(
        request, "tenants/account_limits.html", context, partial="limits-form", status=status
    )


def _managed_partner(request: HtmxHttpRequest, public_id: str) -> Account:
    """A partner whose plans the person manages: 404 unseen or not a partner, 403 not admin."""
    partner = access.get_account_for(request.user, public_id)
    if not partner.is_partner:
        raise Http404("No such partner")
    access.require_role(request.user, partner, Role.ADMIN)
    return partner


def _plans_url(partner: Account) -> str:
    return f"{reverse('tenants:plan-list')}?partner={partner.public_id}"


@login_required
@require_http_methods(["GET", "POST"])
def plan_list(request: HtmxHttpRequest) -> HttpResponse:
    """The plans of one partner (``?partner=``) with a form for a new one, or all one manages."""
    partner_id = request.GET.get("partner", "").strip()
    partner = _managed_partner(request, partner_id) if partner_id else None
    if request.method == "POST" and partner is None:
        raise Http404("No such partner")
    plans = access.plans_for(request.user, min_role=Role.ADMIN)
    if access.is_operator(request.user):
        plans = Plan.objects.all()
    if partner is not None:
        plans = plans.filter(partner=partner)
    form = None
    status = 200
    if partner is not None and partner.status != Account.Status.CLOSED:
        form = PlanForm.for_plan(None, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("A closed partner gets no new plans.")
        if form.is_valid() and partner is not None:
            try:
                create_plan(
                    partner,
                    name=form.cleaned_data["name"],
                    limits=form.limits(),
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, partner))
                status = failure_status(exc)
            else:
                return redirect_after_post(request, _plans_url(partner))
        else:
            status = INVALID
    context = {
        "partner": partner,
        "plans": list(plans.select_related("partner").order_by("partner__name", "name", "pk")),
        "partners": list(
            access.accounts_for(request.user, min_role=Role.ADMIN)
            .filter(parent__isnull=True)
            .order_by("name")
        ),
        "form": form,
    }
    return render_page(
        request, "tenants/plan_list.html", context, partial="plan-form", status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def plan_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    plan = access.plans_for(request.user, min_role=Role.ADMIN).select_related("partner")
    found = plan.filter(pk=pk).first()
    if found is None:
        raise Http404("No such plan")
    partner = found.partner
    if partner is None:  # plans_for holds partners' plans only; global ones are the admin's
        raise Http404("No such plan")
    form = PlanForm.for_plan(found, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                update_plan(
                    found,
                    name=form.cleaned_data["name"],
                    limits=form.limits(),
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, partner))
                status = failure_status(exc)
            else:
                return redirect_after_post(request, _plans_url(partner))
        else:
            status = INVALID
    context = {"plan": found, "partner": partner, "form": form}
    return render_page(
        request, "tenants/plan_edit.html", context, partial="plan-form", status=status
    )
