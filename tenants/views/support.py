"""Support impersonation pages: start and stop acting as a tenant, and who acted as whom.

- ``/accounts/<id>/support/start/``: the "Act as" form (reason, ticket, duration, changes);
- ``/support/stop/``: the banner's Stop button;
- ``/accounts/<id>/support/``: the account's **Support access** tab, what its own people read
  (who acted as it, when, why, and what they did);
- ``/support/``: every session on the accounts a person reaches (partners' people, operators);
- ``/support/<correlation id>/``: one session's pages viewed, changes and upstream calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants import access, audit
from tenants.forms import SupportStartForm
from tenants.middleware import begin_in_browser, leave_in_browser
from tenants.models import AuditEvent, SupportSession, SupportSessionQuerySet
from tenants.services import AccountError
from tenants.services.impersonation import (
    check_may_act_as,
    start_impersonation,
    stop_impersonation,
)
from tenants.views.accounts import visible_lineage
from tenants.views.http import (
    HtmxHttpRequest,
    context_of,
    failure_status,
    redirect_after_post,
    render_page,
)
from tenants.views.pagination import keyset_page
from tenants.views.presenters import event_rows

PAGE_VIEW = audit.SUPPORT_PAGE_VIEW
UPSTREAM_CALL = audit.SUPPORT_UPSTREAM_CALL
# What a session's trail can be narrowed to (``?kind=``), and how each is found.
EVENT_KINDS = {
    "pages": ("Pages viewed", Q(action=PAGE_VIEW)),
    "changes": ("Changes", ~Q(action__startswith="support.")),
    "upstream": ("Upstream calls", Q(action=UPSTREAM_CALL)),
}


@dataclass(frozen=True)
class SessionRow:
    session: SupportSession
    page_views: int
    changes: int
    upstream_calls: int


def session_rows(user: Any, sessions: Iterable[SupportSession]) -> list[SessionRow]:
    """Each session with how many pages, changes and upstream calls it made (one query), each
    counted by its ``EVENT_KINDS`` filter, the same the trail is narrowed by."""
    sessions = list(sessions)
    kinds = list(EVENT_KINDS)
    found: dict[str, dict[str, int]] = {
        correlation_id: dict(zip(kinds, totals, strict=True))
        for correlation_id, *totals in access.audit_events_for(user)
        .filter(correlation_id__in=[session.correlation_id for session in sessions])
        .values("correlation_id")
        .annotate(**{kind: Count("pk", filter=query) for kind, (_, query) in EVENT_KINDS.items()})
        .values_list("correlation_id", *kinds)
        .order_by()
    }
    empty = dict.fromkeys(kinds, 0)
    return [
        SessionRow(
            session=session,
            page_views=(counts := found.get(session.correlation_id, empty))["pages"],
            changes=counts["changes"],
            upstream_calls=counts["upstream"],
        )
        for session in sessions
    ]


def _listing(request: HtmxHttpRequest, sessions: SupportSessionQuerySet) -> dict[str, Any]:
    if request.GET.get("active") == "1":
        sessions = sessions.open()
    page = keyset_page(sessions.select_related("account"), request.GET)
    return {"page": page, "rows": session_rows(request.user, page.items)}


@login_required
@require_http_methods(["GET", "POST"])
def support_start(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    try:
        grant = check_may_act_as(request.user, account)
    except AccountError as exc:
        raise PermissionDenied(exc.message) from None
    posted = request.POST if request.method == "POST" else None
    form = SupportStartForm(posted, may_allow_changes=grant.may_allow_changes)
    status = 200
    if posted is not None:
        if form.is_valid():
            data = form.cleaned_data
            try:
                session = start_impersonation(
                    request.user,
                    account,
                    reason=data["reason"],
                    ticket=data["ticket"],
                    minutes=data["minutes"],
                    allow_changes=data.get("allow_changes", False),
                    context=context_of(request),
                )
            except AccountError as exc:
                form.add_error(None, exc.message)
                status = failure_status(exc)
            else:
                begin_in_browser(request, session)
                return redirect_after_post(
                    request, reverse("tenants:account-detail", args=[account.public_id])
                )
        else:
            status = 422
    context = {
        "account": account,
        "lineage": visible_lineage(request, account),
        "form": form,
        "grant": grant,
    }
    return render_page(
        request, "tenants/support_start.html", context, partial="start-form", status=status
    )


@login_required
@require_POST
def support_stop(request: HtmxHttpRequest) -> HttpResponse:
    acting = request.impersonation
    if acting is None:
        messages.info(request, "You were not acting as anyone.")
        return redirect_after_post(request, reverse("home"))
    session = access.get_support_session_for(request.user, acting.correlation_id)
    stop_impersonation(session, actor=request.user, context=context_of(request))
    leave_in_browser(request)
    messages.success(request, f"You stopped acting as {acting.account.name}.")
    return redirect_after_post(
        request, reverse("tenants:account-detail", args=[acting.account.public_id])
    )


@login_required
@require_GET
def support_list(request: HtmxHttpRequest) -> HttpResponse:
    context = _listing(request, access.support_sessions_for(request.user))
    return render_page(request, "tenants/support_list.html", context, partial="results")


@login_required
@require_GET
def account_support(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    sessions = access.support_sessions_for(request.user).filter(
        account__path__startswith=account.path
    )
    context = {
        "account": account,
        "lineage": visible_lineage(request, account),
        "tab": "support",
        "can_act_as": access.support_grant(request.user, account) is not None,
        "has_sub_tenants": account.children.exists(),
        **_listing(request, sessions),
    }
    return render_page(request, "tenants/account_support.html", context, partial="results")


@login_required
@require_GET
def support_session(request: HtmxHttpRequest, correlation_id: str) -> HttpResponse:
    session = access.get_support_session_for(request.user, correlation_id)
    events: QuerySet[AuditEvent] = access.support_events_for(request.user, correlation_id)
    kind = request.GET.get("kind", "")
    if kind in EVENT_KINDS:
        events = events.filter(EVENT_KINDS[kind][1])
    else:
        kind = ""
    page = keyset_page(events.select_related("account"), request.GET)
    context = {
        "session": session,
        "row": session_rows(request.user, [session])[0],
        "kind": kind,
        "kinds": [(key, label) for key, (label, _) in EVENT_KINDS.items()],
        "page": page,
        "events": event_rows(page.items),
    }
    return render_page(request, "tenants/support_session.html", context, partial="results")
