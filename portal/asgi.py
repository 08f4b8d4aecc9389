"""ASGI entry point: ``uvicorn portal.asgi:application``."""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

django_application = get_asgi_application()

from portal.env import env_bool  # noqa: E402  (after setup: settings must be configured)
from portal.upstream import aclose_all  # noqa: E402
from tenants import metering  # noqa: E402
from tenants.proxy import proxy_application  # noqa: E402

Scope = dict[str, Any]
Receive = Any
Send = Any


def _with_lifespan(app: Any) -> Any:
    """Answers the server's lifespan events, which Django's handler does not take.

    On shutdown the usage buffer is written out (tenants/metering/buffer.py), then the
    upstream connection pools of this worker are closed, so in-flight streams end cleanly and
    no "unclosed session" is left for the garbage collector.
    """

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Usage events still in this worker's buffer are written before it exits.
                await metering.shutdown()
                await aclose_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application


# Routing by path, before Django (ARCHITECTURE.md, "The hot path"). The upstream-compatible API
# goes to the lean proxy, which runs no Django middleware and no thread hop; the routes of that
# API which the portal answers itself (partner users, the widget stream) and everything else
# go to Django. `/api/v1/portal/...` is the management API.
_API = re.compile(r"^/(?:api/)?v1/")
_API_ANSWERED_BY_DJANGO = re.compile(
    r"^/(?:api/)?v1/(?:(?:partner/)?user(?:/|$)|chat/stream$)|^/api/v1/portal(?:/|$)"
)


def _with_proxy(django_app: Any) -> Any:
    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if _API.match(path) and not _API_ANSWERED_BY_DJANGO.match(path):
                await proxy_application(scope, receive, send)
                return
        await django_app(scope, receive, send)

    return application


_app: Any = django_application
# The embedded profile serves its own static files; production puts them behind a CDN or the
# load balancer (collectstatic into STATIC_ROOT) and sets PORTAL_SERVE_STATIC=false.
if env_bool("PORTAL_SERVE_STATIC", True):
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    _app = ASGIStaticFilesHandler(django_application)

application = _with_lifespan(_with_proxy(_app))
