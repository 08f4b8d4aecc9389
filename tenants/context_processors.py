"""What every template needs to know about who is looking: acting as a tenant, operator or not."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants import access


def acting(request: HttpRequest) -> dict[str, Any]:
    """``impersonation`` (the support session the page is seen under, for the banner) and
    ``is_operator`` (staff acting as a tenant see the tenant's pages, not the operator's)."""
    user = getattr(request, "user", None)
    return {
        "impersonation": getattr(request, "impersonation", None),
        "is_operator": user is not None and access.is_operator(user),
    }
