"""A partner's Branding page (owners, admins and operators) and the public logo files.

The page sets the product name, colours (previewed live by ``static/js/portal.js``), support
address, footer, logo and custom hosts, all in one form and one service call; going back to
the operator's brand is its own POST. A logo is served at a URL naming its SHA-256, so it can be
cached for a year: a new logo is a new URL.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotFound,
    HttpResponseNotModified,
)
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from tenants import access
from tenants.branding.hosts import HostRefused, is_operator_host, normalise_host
from tenants.branding.logo import EXTENSIONS
from tenants.branding.lookup import StoredBrand, partner_for_host, stored_brand
from tenants.forms import BrandingForm
from tenants.models import Account, BrandLogo, Role
from tenants.services import AccountError, reset_brand, update_brand
from tenants.services.branding import HostTaken
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

LOGO_MAX_AGE = 365 * 24 * 3600


def _partner_for(request: HtmxHttpRequest, public_id: str) -> Account:
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, Role.ADMIN)
    if not account.is_partner:
        raise Http404("Branding is set on partner accounts; a tenant shows its partner's brand.")
    return account


def branding_url(partner: Account) -> str:
    return reverse("tenants:account-branding", args=[partner.public_id])


def _context(
    request: HtmxHttpRequest, partner: Account, form: BrandingForm, stored: StoredBrand
) -> dict[str, Any]:
    return {
        "account": partner,
        # The brand as stored: the page shows it even if another process's cache is a second
        # behind, and the preview starts from it.
        "brand": stored.brand,
        "role": access.role_on(request.user, partner),
        "lineage": visible_lineage(request, partner),
        "tab": "branding",
        "form": form,
        "logo": stored.logo,
        "has_own_brand": stored.custom,
        "can_change": partner.status != Account.Status.CLOSED,
    }


@login_required
@require_http_methods(["GET", "POST"])
def account_branding(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    partner = _partner_for(request, public_id)
    stored = stored_brand(partner.pk)
    if request.method != "POST":
        form = BrandingForm(initial=BrandingForm.initial_for(stored.brand, stored.hosts))
        context = _context(request, partner, form, stored)
        return render_page(request, "tenants/account_branding.html", context)
    form = BrandingForm(request.POST, request.FILES)
    status = INVALID
    if form.is_valid():
        try:
            update_brand(
                partner,
                changes=form.changes(),
                hosts=form.cleaned_data["hosts"],
                logo=form.cleaned_data["logo"],
                remove_logo=form.cleaned_data["remove_logo"],
                actor=request.user,
                context=context_of(request),
            )
        except HostTaken as exc:
            form.add_error("hosts", exc.message)
        except AccountError as exc:
            form.add_error(None, failure_message(exc, partner))
            status = failure_status(exc)
        else:
            messages.success(request, f"The brand of {partner.name} is saved.")
            return redirect_after_post(request, branding_url(partner))
    context = _context(request, partner, form, stored)
    return render_page(request, "tenants/account_branding.html", context, status=status)


@login_required
@require_POST
def account_branding_reset(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    partner = _partner_for(request, public_id)
    try:
        reset_brand(partner, actor=request.user, context=context_of(request))
    except AccountError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{partner.name} shows the default brand again.")
    return redirect_after_post(request, branding_url(partner))


@require_safe
def brand_logo(request: HttpRequest, sha256: str, extension: str) -> HttpResponse:
    """A partner's logo: public (the login page shows it), immutable at its URL."""
    found = BrandLogo.objects.filter(sha256=sha256).values_list("content_type", "data").first()
    if found is None or EXTENSIONS.get(found[0]) != extension:
        raise Http404("No such logo")
    content_type, data = found
    etag = f'"{sha256}"'
    response: HttpResponse
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(bytes(data), content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={LOGO_MAX_AGE}, immutable"
    # Served only as the image type it was decoded as, and inert if opened on its own.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = f'inline; filename="logo.{extension}"'
    return response


@require_safe
def host_check(request: HttpRequest) -> HttpResponse:
    """``?domain=<host>``: 200 if the portal serves that host, else 404.

    For a TLS terminator that obtains certificates on demand (Caddy's ``on_demand_tls ask``):
    it asks before each new certificate, so partners' hosts get one as soon as they are added,
    and nobody can make it request certificates for names the portal does not serve.
    """
    try:
        host = normalise_host(request.GET.get("domain", ""))
    except HostRefused:
        host = ""
    if host and (is_operator_host(host) or partner_for_host(host) is not None):
        return HttpResponse(f"{host} is served here.\n", content_type="text/plain")
    return HttpResponseNotFound("Not a host of this portal.\n", content_type="text/plain")
