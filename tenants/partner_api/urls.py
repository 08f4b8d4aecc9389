"""Partner API routes, under ``/v1`` and ``/api/v1``, ``partner/user/`` and ``user/`` alike.

portal/asgi.py sends these paths to Django (everything else under /v1 goes to the lean proxy);
they are matched here without a trailing slash, as the upstream's are.
"""

from __future__ import annotations

from django.urls import URLPattern, re_path

from tenants.partner_api import views

PREFIX = r"^(?:api/)?v1/(?:partner/)?user/"
ID = r"(?P<user_id>[A-Za-z0-9_.:-]{1,128})"
TOKEN_ID = r"(?P<token_id>[A-Za-z0-9_-]{1,64})"  # noqa: S105 (a pattern, not a secret)
CONTEXT_ID = r"(?P<context_id>[A-Za-z0-9_-]{1,64})"

urlpatterns: list[URLPattern] = [
    re_path(PREFIX + r"create$", views.create_user, name="partner-user-create"),
    re_path(PREFIX + r"list$", views.list_users, name="partner-user-list"),
    re_path(PREFIX + ID + r"/fetch$", views.fetch_user, name="partner-user-fetch"),
    re_path(PREFIX + ID + r"/update$", views.update_user, name="partner-user-update"),
    re_path(PREFIX + ID + r"/delete$", views.delete_user, name="partner-user-delete"),
    re_path(PREFIX + ID + r"/token/create$", views.create_token, name="partner-token-create"),
    re_path(PREFIX + ID + r"/token/list$", views.list_tokens, name="partner-token-list"),
    re_path(
        PREFIX + ID + "/token/" + TOKEN_ID + r"/update$",
        views.update_token_view,
        name="partner-token-update",
    ),
    re_path(
        PREFIX + ID + "/token/" + TOKEN_ID + r"/delete$",
        views.delete_token,
        name="partner-token-delete",
    ),
    re_path(PREFIX + ID + r"/session/create$", views.create_session, name="partner-session"),
    re_path(
        PREFIX + ID + r"/context/list$",
        views.context_endpoint("list", "GET"),
        name="partner-context-list",
    ),
    re_path(
        PREFIX + ID + r"/context/create$",
        views.context_endpoint("create", "POST"),
        name="partner-context-create",
    ),
    re_path(
        PREFIX + ID + "/context/" + CONTEXT_ID + r"/fetch$",
        views.context_endpoint("fetch", "GET"),
        name="partner-context-fetch",
    ),
    re_path(
        PREFIX + ID + "/context/" + CONTEXT_ID + r"/update$",
        views.context_endpoint("update", "POST"),
        name="partner-context-update",
    ),
    re_path(
        PREFIX + ID + "/context/" + CONTEXT_ID + r"/delete$",
        views.context_endpoint("delete", "POST"),
        name="partner-context-delete",
    ),
    # Anything else under the partner prefix answers in the upstream's shape, not Django's.
    re_path(PREFIX + r".*$", views.unknown_route, name="partner-unknown"),
]
