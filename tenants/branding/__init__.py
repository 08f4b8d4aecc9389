"""White-label branding: which brand a page, an e-mail or a widget shows.

The stable interface for the rest of the code:

- ``brand_for_account(account)``: the brand of the account's partner (the account itself when
  it is a partner), else the operator's. E-mails about an account and the widget use it.
- ``brand_for_request(request, account=None)``: the brand of one page, in this order:
  1. the page is about an account (``account``): that account's partner's brand, whatever the
     host, so that one partner's brand never shows on another's pages;
  2. a signed-in person whose roles all lie under one partner: that partner's brand;
  3. the request's Host is a partner's custom host: that partner's brand;
  4. otherwise the operator's brand (``PORTAL_BRAND_*`` settings).

Both return a frozen ``Brand`` (``product_name``, ``logo_url``, ``primary_color``,
``accent_color``, ``support_email``, ``footer_text``, and derived colours). Lookups are cached
(``tenants.branding.lookup``); changes go through ``tenants.services.branding``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http.request import split_domain_port

from tenants.branding.brand import Brand, operator_brand
from tenants.branding.hosts import is_operator_host
from tenants.branding.lookup import brand_for_partner_pk, forget_brands, partner_for_host

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import Account

__all__ = [
    "Brand",
    "brand_for_account",
    "brand_for_request",
    "forget_brands",
    "host_partner",
    "operator_brand",
]

# Set on the request by tenants.branding.middleware.HostCheckMiddleware.
HOST_PARTNER_ATTRIBUTE = "brand_host_partner"
_HOME_PARTNER_ATTRIBUTE = "_brand_home_partner"


def brand_for_account(account: Account) -> Brand:
    return brand_for_partner_pk(account.partner_pk)


def host_partner(request: HttpRequest) -> int | None:
    """The partner whose custom host this request came to, if any."""
    if hasattr(request, HOST_PARTNER_ATTRIBUTE):
        found: int | None = getattr(request, HOST_PARTNER_ATTRIBUTE)
        return found
    domain, _port = split_domain_port(request.get_host())
    partner = None if not domain or is_operator_host(domain) else partner_for_host(domain)
    setattr(request, HOST_PARTNER_ATTRIBUTE, partner)
    return partner


def _home_partner(request: HttpRequest) -> int | None:
    """The one partner under which all of the signed-in person's roles lie, if there is one."""
    if hasattr(request, _HOME_PARTNER_ATTRIBUTE):
        found: int | None = getattr(request, _HOME_PARTNER_ATTRIBUTE)
        return found
    from tenants import access

    user = getattr(request, "user", None)
    partner = None
    # The person's reach as tenants.access sees it: the tenant while acting as one (support
    # sees the tenant's brand, as the tenant does), every partner for operators (no one brand).
    if user is not None and not access.is_operator(user):
        paths = access.top_accounts_for(user).values_list("path", flat=True)
        partners = {path.strip("/").split("/")[0] for path in paths}
        if len(partners) == 1:
            partner = int(partners.pop())
    setattr(request, _HOME_PARTNER_ATTRIBUTE, partner)
    return partner


def brand_for_request(request: HttpRequest, account: Account | None = None) -> Brand:
    if account is not None:
        return brand_for_account(account)
    partner = _home_partner(request)
    if partner is None:
        partner = host_partner(request)
    return brand_for_partner_pk(partner) if partner is not None else operator_brand()
