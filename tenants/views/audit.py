"""The audit log: every event of the accounts a person reaches, filtered, newest first."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from tenants import access
from tenants.forms import AuditFilterForm
from tenants.views.http import HtmxHttpRequest, render_page
from tenants.views.pagination import keyset_page
from tenants.views.presenters import event_rows

# Offered as suggestions in the action filter; the filter itself matches any prefix, so
# actions added later (tokens, impersonation) are found without a change here.
KNOWN_ACTIONS = (
    "account.created",
    "account.onboarded",
    "account.updated",
    "account.suspended",
    "account.reactivated",
    "account.closed",
    "account.upstream_secret_rotated",
    "member.invited",
    "member.invitation_revoked",
    "member.joined",
    "member.role_changed",
    "member.removed",
    "token.issued",
    "token.rotated",
    "token.revoked",
    "support.started",
    "support.ended",
    "support.page_view",
    "support.upstream_call",
    "widget_key.issued",
    "widget_key.origins_changed",
)


@login_required
@require_GET
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    events = access.audit_events_for(request.user)
    account = None
    if form.is_valid():
        data = form.cleaned_data
        if data["account"]:
            try:
                account = access.get_account_for(request.user, data["account"].strip())
            except Http404:
                form.add_error("account", "No account with that id among those you can see.")
                events = events.none()
            else:
                # An account's log includes its sub-tenants' events.
                events = events.filter(account__path__startswith=account.path)
        if data["action"]:
            events = events.filter(action__startswith=data["action"].strip())
        if data["actor"]:
            events = events.filter(actor_label__icontains=data["actor"].strip())
        if data["since"]:
            events = events.filter(created_at__gte=form.start_of(data["since"]))
        if data["until"]:
            events = events.filter(created_at__lt=form.end_of(data["until"]))
    else:
        events = events.none()
    page = keyset_page(events.select_related("account"), request.GET)
    context = {
        "form": form,
        "page": page,
        "rows": event_rows(page.items),
        "filtered_account": account,
        "known_actions": KNOWN_ACTIONS,
    }
    return render_page(request, "tenants/audit_list.html", context, partial="results")
