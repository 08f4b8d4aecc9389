"""``brand`` in every template's context (``portal/settings.py`` TEMPLATES)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from tenants.branding import brand_for_request


def brand(request: HttpRequest) -> dict[str, object]:
    """The page's brand, worked out only if the template shows it.

    Pages about one account override it with that account's partner's brand
    (``tenants.views.http.render_page``); this is the brand of everything else: the login
    page, error pages, and pages about no single account.
    """
    return {"brand": SimpleLazyObject(lambda: brand_for_request(request))}
