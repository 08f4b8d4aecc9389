"""The Host check of every request to Django: the operator's hosts and partners' custom hosts.

Django's own check (``ALLOWED_HOSTS``) is a fixed list, but partners add hosts at run time, so
settings leave it open (``"*"``) and this middleware, first in ``MIDDLEWARE``, does the check
instead, before anything else reads the Host header: a host matching ``PORTAL_OPERATOR_HOSTS``
(``DJANGO_ALLOWED_HOSTS``) passes; a partner's registered host passes and marks the request
with that partner (``request.brand_host_partner``); anything else is a 400, exactly as Django
answers a disallowed host. So a forged Host can neither reach a page nor end up in a link the
portal builds from the request (and e-mailed links never use the request's host at all:
``Brand.base_url``).

Operator hosts cost nothing; a custom host is one dictionary lookup in this process's memory
when warm (``tenants.branding.lookup``). The proxy (``tenants/proxy/``) is routed before Django
and never comes here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.http.request import split_domain_port

from tenants.branding import HOST_PARTNER_ATTRIBUTE
from tenants.branding.hosts import is_operator_host
from tenants.branding.lookup import cached_partner_for_host, partner_for_host


def _domain(request: HttpRequest) -> str:
    # Django's own reading of the Host (X-Forwarded-Host only when USE_X_FORWARDED_HOST), without
    # the ALLOWED_HOSTS check that this middleware replaces.
    raw: str = request._get_raw_host()  # type: ignore[attr-defined]
    domain, _port = split_domain_port(raw)
    if not domain:
        raise DisallowedHost(f"Invalid HTTP_HOST header: {raw!r}.")
    return domain


def _refuse(domain: str) -> DisallowedHost:
    return DisallowedHost(
        f"Invalid HTTP_HOST header: {domain!r}. It is neither in DJANGO_ALLOWED_HOSTS nor a "
        "partner's custom host."
    )


class HostCheckMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        domain = _domain(request)
        partner = None
        if not is_operator_host(domain):
            partner = partner_for_host(domain)
            if partner is None:
                raise _refuse(domain)
        setattr(request, HOST_PARTNER_ATTRIBUTE, partner)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        domain = _domain(request)
        partner = None
        if not is_operator_host(domain):
            known, partner = cached_partner_for_host(domain)
            if not known:
                partner = await sync_to_async(partner_for_host)(domain)
            if partner is None:
                raise _refuse(domain)
        setattr(request, HOST_PARTNER_ATTRIBUTE, partner)
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response
