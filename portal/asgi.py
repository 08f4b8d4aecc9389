"""ASGI entry point: ``uvicorn portal.asgi:application``."""

from __future__ import annotations

import gc
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
from tenants.widget.app import widget_application  # noqa: E402

Scope = dict[str, Any]
Receive = Any
Send = Any


def freeze_startup_heap() -> None:
    """Move what start-up made (Django, the apps, their modules) out of the garbage collector's
    reach before the first request.

    The collector's older generations walk every tracked object, and a started portal holds a
    few hundred thousand that live as long as the process. Measured with bench/gateway's stream
    ladder (portal pinned to one core): collections of the middle generation took up to 43 ms
    and of the oldest 79 ms, and the proxy's time to first byte at 150-300 new streams/s had a
    p99 of 9-95 ms; frozen, the oldest took 21 ms at most, the middle 8.5, the p99 was 5.3-7.8
    ms, and the CPU for 300 streams/s fell from 7.0 to 4.2 s per 8 s. (The collector's own
    advice for servers: ``gc.freeze`` after start-up.)

    What the first calls would import lazily (the limiter's Redis client, the cache backend:
    some 70 modules, 10,000 objects) is imported first, so that it is frozen too.
    """
    from django.core.cache import caches

    from tenants.limits.counters import backend

    caches["default"]  # loads the cache backend's modules
    backend()
    gc.collect()
    gc.freeze()


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
                freeze_startup_heap()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Usage events still in this worker's buffer are written before it exits.
                await metering.shutdown()
                await aclose_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application


# Routing by path, before Django (ARCHITECTURE.md, "The hot path"). The widget stream (seed
# 001: /v1/chat/stream, /api/v1/chat/stream and the widget's default /chat, exactly) goes to its
# own lean handler; the rest of the upstream-compatible API to the lean proxy. Neither runs
# Django middleware or a thread hop. The routes of that API which the portal answers in Django
# (partner users) and everything else go to Django. `/api/v1/portal/...` is the management API.
WIDGET_STREAM = re.compile(r"^/(?:(?:api/)?v1/chat/stream|chat)$")
_API = re.compile(r"^/(?:api/)?v1/")
_API_ANSWERED_BY_DJANGO = re.compile(
    r"^/(?:api/)?v1/(?:partner/)?user(?:/|$)|^/api/v1/portal(?:/|$)"
)


def route_for(path: str) -> str:
    """Which application serves ``path``: ``widget``, ``proxy`` or ``django``."""
    if WIDGET_STREAM.match(path):
        return "widget"
    if _API.match(path) and not _API_ANSWERED_BY_DJANGO.match(path):
        return "proxy"
    return "django"


def _with_proxy(django_app: Any) -> Any:
    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = route_for(scope["path"])
            if route == "widget":
                await widget_application(scope, receive, send)
                return
            if route == "proxy":
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
