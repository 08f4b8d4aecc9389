"""The management API's URL space, mounted at ``/api/v1/portal/`` by ``portal/urls.py``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from tenants.api.accounts import AccountViewSet
from tenants.api.audit import AuditEventViewSet
from tenants.api.branding import BrandingViewSet
from tenants.api.errors import not_found
from tenants.api.limits import AccountLimitsViewSet, PlanViewSet
from tenants.api.people import InvitationViewSet, MembershipViewSet
from tenants.api.usage import AccountUsageViewSet
from tenants.api.webhooks import WebhookDeliveryViewSet, WebhookViewSet

app_name = "api"

router = SimpleRouter()
router.register("accounts", AccountViewSet, basename="account")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("plans", PlanViewSet, basename="plan")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path(
        "accounts/<str:id>/limits/",
        AccountLimitsViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="account-limits",
    ),
    path(
        "accounts/<str:id>/usage/",
        AccountUsageViewSet.as_view({"get": "retrieve"}),
        name="account-usage",
    ),
    path(
        "accounts/<str:id>/usage/daily/",
        AccountUsageViewSet.as_view({"get": "daily"}),
        name="account-usage-daily",
    ),
    path(
        "accounts/<str:id>/branding/",
        BrandingViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="account-branding",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from drf-spectacular-sidecar's static files (no CDN), its script served
    # separately so that no inline script is needed.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # Last: any other path under the prefix is a {message, code} 404, not an HTML page.
    re_path(r"^.*$", not_found, name="not-found"),
]
