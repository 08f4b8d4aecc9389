"""Tenants list, account page, inline profile edit."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from tenants import access
from tenants.audit import SUPPORT_PAGE_VIEW
from tenants.console.acting import CONSOLE_ROLE
from tenants.forms import PERIOD_LIMITS, AccountProfileForm, TenantFilterForm
from tenants.models import Account, AuditEvent, Invitation, Role
from tenants.services import AccountError, update_account
from tenants.views.http import (
    HtmxHttpRequest,
    context_of,
    failure_message,
    failure_status,
    redirect_after_post,
    render_page,
)
from tenants.views.pagination import keyset_page
from tenants.views.presenters import event_rows

RECENT_EVENTS = 10
CHILDREN_SHOWN = 50
LIST_FIELDS = ("public_id", "parent_id", "path", "slug", "name", "email", "status", "created_at")


def visible_lineage(request: HtmxHttpRequest, account: Account) -> list[Account]:
    """The account's ancestors the person may see, partner first (a tenant user sees none)."""
    ancestors = [pk for pk in account.lineage_pks if pk != account.pk]
    if not ancestors:
        return []
    found = access.accounts_for(request.user).filter(pk__in=ancestors).only("name", "public_id")
    return sorted(found, key=lambda item: ancestors.index(item.pk))


def account_capabilities(role: Role | None, account: Account) -> dict[str, bool]:
    """What the page offers; the views check the same roles again on POST."""
    is_open = account.status != Account.Status.CLOSED
    is_admin = role is not None and role.covers(Role.ADMIN)
    return {
        "can_edit": is_open and is_admin,
        "can_change_status": is_open and is_admin,
        "can_close": is_open and role is not None and role.covers(Role.OWNER),
        "can_onboard": is_admin and account.status == Account.Status.ACTIVE,
        "can_manage_people": is_open and is_admin,
        "can_try": is_open and role is not None and role.covers(CONSOLE_ROLE),
    }


@login_required
@require_GET
def tenant_list(request: HtmxHttpRequest) -> HttpResponse:
    form = TenantFilterForm(request.GET)
    tenants = access.accounts_for(request.user).filter(parent__isnull=False)
    if form.is_valid():
        query = form.cleaned_data["q"].strip()
        if query:
            tenants = tenants.filter(
                Q(name__icontains=query)
                | Q(email__icontains=query)
                | Q(public_id=query)
                | Q(slug=query)
            )
        if form.cleaned_data["status"]:
            tenants = tenants.filter(status=form.cleaned_data["status"])
    # Whether the person may act as each row (support), inside the page's own query.
    actable = access.actable_accounts_for(request.user).filter(pk=OuterRef("pk"))
    page = keyset_page(tenants.only(*LIST_FIELDS).annotate(can_act_as=Exists(actable)), request.GET)
    # Parents by one scoped query: a tenant user sees its own sub-tenants' parent (itself) but
    # never the name of its partner.
    parent_ids = {tenant.parent_id for tenant in page.items if tenant.parent_id is not None}
    parents = {
        parent.pk: parent
        for parent in access.accounts_for(request.user)
        .filter(pk__in=parent_ids)
        .only("name", "public_id")
    }
    actable_rows = [bool(getattr(tenant, "can_act_as", False)) for tenant in page.items]
    context = {
        "form": form,
        "page": page,
        "rows": [
            (tenant, parents.get(tenant.parent_id or 0), can_act_as)
            for tenant, can_act_as in zip(page.items, actable_rows, strict=True)
        ],
        "can_act_as_any": any(actable_rows),
        "can_onboard": access.accounts_for(request.user, min_role=Role.ADMIN)
        .filter(status=Account.Status.ACTIVE)
        .exists(),
    }
    return render_page(request, "tenants/tenant_list.html", context, partial="results")


def _detail_context(request: HtmxHttpRequest, account: Account) -> dict[str, Any]:
    from tenants.views.limits import limits_summary

    role = access.role_on(request.user, account)
    capabilities = account_capabilities(role, account)
    return {
        "account": account,
        "role": role,
        "lineage": visible_lineage(request, account),
        "children": list(account.children.order_by("name")[: CHILDREN_SHOWN + 1]),
        "children_limit": CHILDREN_SHOWN,
        "members": list(account.memberships.select_related("user").order_by("user__username")),
        "pending_invitations": (
            Invitation.objects.pending().filter(account=account).count()
            if capabilities["can_manage_people"]
            else None
        ),
        # Changes only: the pages support viewed while acting are on the Support access tab.
        "events": event_rows(
            AuditEvent.objects.filter(account=account)
            .exclude(action=SUPPORT_PAGE_VIEW)
            .order_by("-pk")[:RECENT_EVENTS]
        ),
        "other_limits": {
            key: value for key, value in account.limits.items() if key not in dict(PERIOD_LIMITS)
        },
        **limits_summary(request, account),
        "can_manage_plans": account.is_partner and role is not None and role.covers(Role.ADMIN),
        # The partner's upstream address and sk-…last4, never the secret; for its admins only.
        "shows_upstream": account.is_partner and role is not None and role.covers(Role.ADMIN),
        "tab": "overview",
        "can_act_as": access.support_grant(request.user, account) is not None,
        **capabilities,
    }


# htmx asks for a part of the account page by its target's id; only these are served.
DETAIL_PARTIALS = {"profile": "profile", "activity": "activity", "account-title": "title"}


@login_required
@require_GET
def account_detail(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    partial = DETAIL_PARTIALS.get(request.htmx.target or "") if request.htmx else None
    return render_page(
        request, "tenants/account_detail.html", _detail_context(request, account), partial=partial
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The profile form: inline on the account page with htmx, its own page without."""
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.ADMIN)
    if account.status == Account.Status.CLOSED:
        raise PermissionDenied(f"{account.name} is closed; its profile is kept as it was.")
    form = AccountProfileForm.for_account(
        account, request.POST if request.method == "POST" else None
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                update_account(
                    account,
                    actor=request.user,
                    name=data["name"],
                    email=data["email"],
                    timezone=data["timezone"],
                    meta=AccountProfileForm.meta_patch(account.meta, data["meta"]),
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, failure_message(exc, account))
                status = failure_status(exc)
            else:
                if not request.htmx:
                    return redirect_after_post(
                        request, reverse("tenants:account-detail", args=[account.public_id])
                    )
                context = _detail_context(request, account)
                context["saved"] = True
                response = render_page(
                    request, "tenants/account_detail.html", context, partial="profile"
                )
                # The activity card and the title refresh themselves on this event.
                return trigger_client_event(response, "accountChanged")
        else:
            status = 422
    context = {"account": account, "form": form, "lineage": visible_lineage(request, account)}
    return render_page(
        request, "tenants/account_edit.html", context, partial="profile-form", status=status
    )
