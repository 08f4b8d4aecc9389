from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # The management API: a prefix no upstream route can have (ChatBotKit has no "portal").
    path("api/v1/portal/", include("tenants.api.urls")),
    # The partner API in the upstream's shapes (portal/asgi.py routes these paths to Django).
    path("", include("tenants.partner_api.urls")),
    path("", include("tenants.views.urls")),
]
