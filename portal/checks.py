"""System checks for a production deployment (``manage.py check --deploy``).

The embedded profile generates its secrets under ``var/`` so that ``make run`` works on a fresh
machine; these checks make sure no production deployment runs on such generated values.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_production_configuration(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if not settings.SECRET_KEY_CONFIGURED:
        problems.append(
            Error(
                "DJANGO_SECRET_KEY is not set; the portal is using a key generated under var/.",
                hint="Set DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) to a long random value.",
                id="portal.E001",
            )
        )
    if "*" in settings.PORTAL_OPERATOR_HOSTS or not settings.PORTAL_OPERATOR_HOSTS:
        problems.append(
            Error(
                "DJANGO_ALLOWED_HOSTS accepts any host name.",
                hint="List the host names the portal is served on, comma-separated.",
                id="portal.E002",
            )
        )
    if not settings.ENCRYPTION_KEYS_CONFIGURED:
        problems.append(
            Error(
                "PORTAL_ENCRYPTION_KEYS is not set; upstream secrets are encrypted with a key "
                "generated under var/.",
                hint="Generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'` and keep it with your other secrets.",
                id="portal.E003",
            )
        )
    if not settings.TOKEN_PEPPER_CONFIGURED:
        problems.append(
            Error(
                "PORTAL_TOKEN_PEPPER is not set; portal tokens are hashed with a generated pepper.",
                hint="Set PORTAL_TOKEN_PEPPER to a long random value; changing it later revokes "
                "every token.",
                id="portal.E004",
            )
        )
    if settings.DEBUG:
        problems.append(
            Error("DJANGO_DEBUG is true.", hint="Unset it in production.", id="portal.E005")
        )
    if not settings.DATABASE_URL:
        problems.append(
            Warning(
                "DATABASE_URL is not set; the portal runs on SQLite.",
                hint="Use PostgreSQL for more than one worker process.",
                id="portal.W001",
            )
        )
    if not settings.REDIS_URL:
        problems.append(
            Warning(
                "REDIS_URL is not set; counters, cache and channels use the database.",
                id="portal.W002",
            )
        )
    if not settings.PORTAL_HTTPS:
        problems.append(
            Warning(
                "PORTAL_HTTPS is false: cookies are not marked secure and HSTS is off.",
                id="portal.W003",
            )
        )
    return problems


HOST_CHECK_MIDDLEWARE = "tenants.branding.middleware.HostCheckMiddleware"


@register(Tags.security)
def check_host_header_is_checked(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Settings leave Django's ALLOWED_HOSTS open for partners' custom hosts; that is only safe
    while the middleware that checks every Host runs first (tenants/branding/middleware.py)."""
    middleware = list(settings.MIDDLEWARE)
    if "*" in settings.ALLOWED_HOSTS and (not middleware or middleware[0] != HOST_CHECK_MIDDLEWARE):
        return [
            Error(
                "ALLOWED_HOSTS accepts any host, but the Host check middleware is not the first "
                "middleware.",
                hint=f"Put {HOST_CHECK_MIDDLEWARE!r} first in MIDDLEWARE.",
                id="portal.E006",
            )
        ]
    return []
