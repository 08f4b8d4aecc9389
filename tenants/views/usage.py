"""Usage pages: an account's "Usage" tab, the partner overview with its live feed, the CSV export.

Every account is resolved through ``tenants.access`` (viewers and up); numbers come from
``tenants.metering.usage`` (rollups; see there for the two bounded reads of raw events).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models.functions import Length
from django.http import Http404, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from tenants import access
from tenants.limits.periods import zone
from tenants.limits.policy import QUOTAS
from tenants.metering import partner_usage, usage
from tenants.models import Account
from tenants.views.accounts import visible_lineage
from tenants.views.charts import Chart, bar_chart
from tenants.views.http import HtmxHttpRequest, render_page

CHART_DAYS = 30
REJECTIONS_SHOWN = 20
FEED_SHOWN = 25
FEED_WINDOW = timedelta(hours=24)
SERIES_LABELS = {
    "messages": "Messages",
    "tokens": "Tokens",
    "conversations": "Conversations",
    "requests": "Requests",
    "errors": "Errors",
}


# -- the account's tab ------------------------------------------------------------------------


def charts_of(account: Account, now: Any) -> list[Chart]:
    last = now.astimezone(zone("UTC")).date()
    points = usage.daily_series(account, last - timedelta(days=CHART_DAYS - 1), last)
    return [
        bar_chart(name, label, [(day, values[name]) for day, values in points])
        for name, label in SERIES_LABELS.items()
    ]


def period_quotas(request: HtmxHttpRequest, account: Account, *, now: Any = None) -> dict[str, Any]:
    """This period's quotas of ``account`` as ``tenants/_quota_table.html`` shows them (the
    Usage tab and the console's meter): used against each limit, and the tightest level."""
    now = now or timezone.now()
    lineage = visible_lineage(request, account)
    levels = usage.lineage_usage(account, now=now)
    own = levels[0]
    return {
        "lineage": lineage,
        "visible": {ancestor.pk for ancestor in lineage} | {account.pk},
        "usage_levels": levels,
        "period": own.period,
        "reset": own.period.describe_reset(),
        "quotas": usage.quota_lines(levels),
    }


@login_required
@require_GET
def account_usage(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    account = access.get_account_for(request.user, public_id)
    now = timezone.now()
    quotas = period_quotas(request, account, now=now)
    levels, visible = quotas["usage_levels"], quotas["visible"]
    children, allocations = usage.allocations(account, levels[0], now=now)
    tz = zone(account.timezone)
    context = {
        **quotas,
        "account": account,
        "tab": "usage",
        "levels": [
            (
                level,
                level.account_pk in visible,
                [(unit, level.quotas.get(unit), level.used[unit]) for unit in QUOTAS],
            )
            for level in levels
        ],
        "charts": charts_of(account, now),
        "chart_days": CHART_DAYS,
        "has_children": children > 0,
        "children": children,
        "allocations": allocations,
        "rejections": [
            (event, timezone.localtime(event.created_at, tz))
            for event in usage.recent_rejections([account.pk], limit=REJECTIONS_SHOWN)
        ],
    }
    return render_page(request, "tenants/account_usage.html", context)


# -- the partner overview ---------------------------------------------------------------------


def roots_for(request: HtmxHttpRequest) -> list[Account]:
    """The tops of what the person reaches: partners for staff and partner people, the
    account of each membership (outermost only) for a tenant's people."""
    tops = access.top_accounts_for(request.user)
    if access.is_operator(request.user):
        return list(tops.order_by("name", "pk")[:500])
    found = list(tops.order_by(Length("path"), "name"))
    roots: list[Account] = []
    for account in found:
        if not any(account.path.startswith(root.path) for root in roots):
            roots.append(account)
    return sorted(roots, key=lambda root: (root.name, root.pk))


def chosen_root(request: HtmxHttpRequest, roots: list[Account]) -> Account | None:
    wanted = request.GET.get("partner", "")
    if not wanted:
        return roots[0] if roots else None
    for root in roots:
        if wanted in (root.public_id, root.slug):
            return root
    # Any account the person reaches may be looked at on its own (a sub-tree); else 404.
    return access.get_account_for(request.user, wanted)


def feed_context(root: Account) -> dict[str, Any]:
    since = timezone.now() - FEED_WINDOW
    events = usage.recent_rejections(usage.subtree_pks(root), limit=FEED_SHOWN, since=since)
    names = dict(
        Account.objects.filter(pk__in={event.account_id for event in events}).values_list(
            "pk", "name"
        )
    )
    return {
        "root": root,
        "feed": [(event, names.get(event.account_id, "")) for event in events],
        "feed_hours": int(FEED_WINDOW.total_seconds() // 3600),
    }


@login_required
@require_GET
def usage_overview(request: HtmxHttpRequest) -> HttpResponse:
    roots = roots_for(request)
    root = chosen_root(request, roots)
    if root is None:
        return render_page(request, "tenants/usage_overview.html", {"roots": [], "root": None})
    if request.htmx and request.htmx.target == "limit-feed":
        return render_page(
            request, "tenants/usage_overview.html", feed_context(root), partial="feed"
        )
    context = {
        "roots": roots,
        "overview": partner_usage.overview(root),
        "near_percent": usage.NEAR_PERCENT,
        **feed_context(root),
    }
    return render_page(request, "tenants/usage_overview.html", context)


# -- the CSV export ---------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(partner_usage.CSV_HEADER)
    for row in rows:
        yield writer.writerow([_safe_cell(cell) if isinstance(cell, str) else cell for cell in row])


def _safe_cell(value: str) -> str:
    """No formula injection: a spreadsheet would run a name starting with = + - @."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@login_required
@require_GET
def usage_export(request: HtmxHttpRequest) -> HttpResponseBase:
    wanted = request.GET.get("partner", "")
    if not wanted:
        raise Http404("Name an account: ?partner=<public id>")
    root = access.get_account_for(request.user, wanted)
    period = request.GET.get("period") or partner_usage.utc_month()
    try:
        partner_usage.month_bounds(period)
    except ValueError:
        return HttpResponse(
            "period must be YYYY-MM\n", status=400, content_type="text/plain; charset=utf-8"
        )
    response = StreamingHttpResponse(
        _csv_lines(partner_usage.export_rows(root, period)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="usage-{root.public_id}-{period}.csv"'
    return response
