"""The onboarding wizard: details ─► upstream account (made by the service) ─► first token,
shown once ─► first member.

Step 2 has no page of its own: ``onboard_tenant`` creates the upstream child before the local
row, so the POST of step 1 either lands on step 3 with everything made, or comes back to step 1
with the upstream's reason and nothing made. Steps 3 and 4 can each be skipped; the token step
shows the value the way the token pages do (``tenants.views.tokens.show_once``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from tenants import access
from tenants.forms import InviteForm, OnboardForm, TokenForm
from tenants.models import Account, Role
from tenants.services import AccountError, invite_member, onboard_tenant
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
from tenants.views.members import grantable_roles
from tenants.views.tokens import issue_from_form, show_once

# Enough for any real person's memberships; staff pick among partners, or start from a page.
PARENT_CHOICES = 200


def _parent_choices(request: HtmxHttpRequest, chosen: Account | None) -> list[Account]:
    """Where this person may onboard: the accounts they hold admin on (staff: the partners)."""
    roots = access.top_accounts_for(request.user, min_role=Role.ADMIN).filter(
        status=Account.Status.ACTIVE
    )
    parents = list(roots.order_by("path")[:PARENT_CHOICES])
    if chosen is not None and chosen not in parents:
        parents.insert(0, chosen)
    return parents


@login_required
@require_http_methods(["GET", "POST"])
def onboard(request: HtmxHttpRequest) -> HttpResponse:
    """Step 1: who the tenant is, where it goes, its period limits."""
    wanted = request.POST.get("parent") or request.GET.get("parent")
    chosen: Account | None = None
    if wanted:
        chosen = access.get_account_for(request.user, wanted)
        access.require_role(request.user, chosen, Role.ADMIN)
    parents = _parent_choices(request, chosen)
    if not parents:
        raise PermissionDenied("Onboarding needs the admin role on an active account.")
    initial = {"parent": (chosen or parents[0]).public_id}
    form = OnboardForm(
        request.POST if request.method == "POST" else None, parents=parents, initial=initial
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            parent = chosen or access.get_account_for(request.user, form.cleaned_data["parent"])
            access.require_role(request.user, parent, Role.ADMIN)
            data = form.cleaned_data
            try:
                tenant = onboard_tenant(
                    parent=parent,
                    name=data["name"],
                    email=data["email"],
                    timezone=data["timezone"],
                    limits=form.limits_from({}),
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, parent))
                status = failure_status(exc)
            else:
                url = reverse("tenants:onboard-token", args=[tenant.public_id])
                return redirect_after_post(request, url)
        else:
            status = INVALID
    context = {"form": form, "chosen": chosen, "step": 1}
    return render_page(request, "tenants/onboard.html", context, partial="form", status=status)


@login_required
@require_http_methods(["GET", "POST"])
def onboard_token(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Step 3: a first API token for the tenant's programs, shown once (or skip to step 4)."""
    tenant = access.get_account_for(request.user, public_id)
    access.require_role(request.user, tenant, Role.ADMIN)
    form = TokenForm(
        request.POST if request.method == "POST" else None,
        # Full access is what a tenant's own backend usually needs; the picker narrows it.
        initial={"name": "Main API token", "scopes": ["*"]},
    )
    context = {
        "account": tenant,
        "form": form,
        "lineage": visible_lineage(request, tenant),
        "step": 3,
    }
    status = 200
    if request.method == "POST":
        if form.is_valid():
            issued, status = issue_from_form(request, tenant, form)
            if issued is not None:
                return show_once(request, "tenants/onboard_token.html", context, issued)
        else:
            status = INVALID
    return render_page(
        request, "tenants/onboard_token.html", context, partial="form", status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def onboard_invite(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Step 4: invite the tenant's first member (or skip to the tenant's page)."""
    tenant = access.get_account_for(request.user, public_id)
    held = access.require_role(request.user, tenant, Role.ADMIN)
    form = InviteForm(
        request.POST if request.method == "POST" else None,
        grantable=grantable_roles(held),
        initial={"role": Role.OWNER.value if held.covers(Role.OWNER) else Role.ADMIN.value},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                invitation, _token = invite_member(
                    tenant,
                    email=form.cleaned_data["email"],
                    role=Role(form.cleaned_data["role"]),
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, tenant))
                status = failure_status(exc)
            else:
                messages.success(
                    request,
                    f"{tenant.name} is ready. An invitation was e-mailed to {invitation.email}.",
                )
                url = reverse("tenants:account-detail", args=[tenant.public_id])
                return redirect_after_post(request, url)
        else:
            status = INVALID
    context = {
        "account": tenant,
        "form": form,
        "lineage": visible_lineage(request, tenant),
        "step": 4,
    }
    return render_page(
        request, "tenants/onboard_invite.html", context, partial="form", status=status
    )
