"""What every page view shares: the typed request, how errors come back, redirects after a POST.

How errors come back (decided once, for every form on every page):

- Invalid input is answered with the *same form* re-rendered, its messages beside the fields
  and a form-level message at the top, with status **422**.
- A change the upstream could not make is the same form with a form-level message that names the
  upstream's host and says that nothing was changed, with status **502**.
- Forcing an action the person may not do is a 403 page (they can see the account) or a 404
  (they cannot); pages hide those actions, so only a crafted request meets them.

``templates/base.html`` configures htmx 2 (``htmx-config`` meta) to swap 422 and 502 responses,
which it otherwise drops, so an htmx form and a plain POST show the same markup: the htmx path
replaces the form in place, the plain path renders the whole page with the form in it.
"""

from __future__ import annotations

from functools import partial as partial_function
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django_htmx.http import HttpResponseClientRedirect

from tenants.audit import RequestContext
from tenants.branding import brand_for_account
from tenants.models import Account

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from django_htmx.middleware import HtmxDetails

    from tenants.models import Impersonation
    from tenants.services import AccountError


class HtmxHttpRequest(HttpRequest):
    """A request that went through ``HtmxMiddleware`` (``request.htmx``), auth and
    ``ImpersonationMiddleware`` (``request.impersonation``: the tenant acted as, if any)."""

    htmx: HtmxDetails
    user: User | AnonymousUser
    impersonation: Impersonation | None


INVALID = 422
UPSTREAM_FAILED = 502

# Codes of an AccountError that mean "the upstream did not do it" rather than "your input".
_UPSTREAM_DOWN = frozenset(
    {
        "BAD_GATEWAY",
        "SERVICE_UNAVAILABLE",
        "GATEWAY_TIMEOUT",
        "INTERNAL_SERVER_ERROR",
        "TIMEOUT",
    }
)


def is_upstream_failure(error: AccountError) -> bool:
    return error.code in _UPSTREAM_DOWN


def upstream_host(account: Account) -> str:
    """The host of the partner's upstream (never its secret), for error messages."""
    base_url = (
        account.upstream_base_url
        if account.is_partner
        else Account.objects.filter(pk=account.partner_pk)
        .values_list("upstream_base_url", flat=True)
        .first()
    )
    return urlsplit(base_url or "").netloc or "the configured address"


def failure_message(error: AccountError, account: Account, *, partial: bool = False) -> str:
    """A readable sentence for a service's refusal.

    ``partial`` is for services that may stop half-way on purpose (closing a subtree): their
    own message then says how far they got, instead of "nothing was changed".
    """
    if not is_upstream_failure(error):
        return error.message
    host = upstream_host(account)
    if partial:
        return f"The upstream at {host} is unreachable. {error.message}"
    return f"The upstream at {host} is unreachable; nothing was changed. ({error.message})"


def failure_status(error: AccountError) -> int:
    return UPSTREAM_FAILED if is_upstream_failure(error) else INVALID


def context_of(request: HttpRequest) -> RequestContext:
    return RequestContext.from_request(request)


def redirect_after_post(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Go to ``url`` after a successful POST: a full navigation for htmx, a 303 without it."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only ``template#partial`` when htmx asked (and it was not boosted).

    One view serves both: the fragment is a ``{% partialdef %}`` of the page's own template.

    A page about one account (``account`` in the context, else a partner as ``partner``: both
    already resolved through ``tenants.access``) carries that account's partner's brand, on any
    host and for anyone, so that one partner's brand never shows on another's pages. Other
    pages get the brand of the request (``tenants.branding.context_processors``).
    """
    subject = context.get("account") or context.get("partner")
    if isinstance(subject, Account) and "brand" not in context:
        context["brand"] = SimpleLazyObject(partial_function(brand_for_account, subject))
    name = template
    if partial and request.htmx and not request.htmx.boosted:
        name = f"{template}#{partial}"
    return render(request, name, context, status=status)
