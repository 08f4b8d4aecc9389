"""ASGI entry point: ``uvicorn portal.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_asgi_application()

from django.conf import settings  # noqa: E402  (settings are only importable after setup)

from portal.env import env_bool  # noqa: E402

# The embedded profile serves its own static files; production puts them behind a CDN or the
# load balancer (collectstatic into STATIC_ROOT) and sets PORTAL_SERVE_STATIC=false.
if env_bool("PORTAL_SERVE_STATIC", True):
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)  # type: ignore[assignment]

__all__ = ["application", "settings"]
