"""The dashboard: what the person reaches at a glance (``/``, served by ``portal.views.home``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.db.models.functions import Lower
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from tenants import access
from tenants.audit import SUPPORT_PAGE_VIEW
from tenants.models import Account, Invitation, Role
from tenants.views.http import HtmxHttpRequest, render_page
from tenants.views.presenters import event_rows

RECENT_EVENTS = 12
ROOTS_SHOWN = 20


@login_required
@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    user = request.user
    reachable = access.accounts_for(user)
    # One grouped query, not one COUNT per status.
    by_status = dict(
        reachable.filter(parent__isnull=False)
        .values_list("status")
        .annotate(total=Count("pk"))
        .values_list("status", "total")
    )
    statuses = [(label, value, by_status.get(value, 0)) for value, label in Account.Status.choices]
    # Operator staff: every partner, with its upstream (the secret only as sk-…last4); people:
    # the accounts of their memberships; acting as a tenant: that tenant.
    roots = list(access.top_accounts_for(user).order_by(Lower("name"), "pk")[: ROOTS_SHOWN + 1])
    roles = access.own_roles(user)
    context = {
        "statuses": statuses,
        "tenant_total": sum(by_status.values()),
        "member_total": access.memberships_for(user).count(),
        "pending_invitations": Invitation.objects.pending()
        .filter(account__in=access.accounts_for(user, min_role=Role.ADMIN))
        .count(),
        "roots": [(root, roles.get(root.pk)) for root in roots[:ROOTS_SHOWN]],
        "more_roots": len(roots) > ROOTS_SHOWN,
        "events": event_rows(
            # Changes, not the pages support viewed while acting (those are in the log and on
            # the Support access tab).
            access.audit_events_for(user)
            .exclude(action=SUPPORT_PAGE_VIEW)
            .select_related("account")
            .order_by("-pk")[:RECENT_EVENTS]
        ),
        "can_onboard": access.accounts_for(user, min_role=Role.ADMIN)
        .filter(status=Account.Status.ACTIVE)
        .exists(),
    }
    return render_page(request, "tenants/dashboard.html", context)
