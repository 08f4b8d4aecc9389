"""``GET /healthz``: the state of each part the portal depends on.

Answers 200 while the portal can serve (database and cache up) and 503 otherwise, so a load
balancer takes a broken worker out; the broker, the Celery worker and the upstreams are
reported but only degrade the status, since pages and the proxy keep working without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.tasks import HEARTBEAT_KEY
from portal.upstream import (
    Timeouts,
    UpstreamClient,
    UpstreamConnection,
    UpstreamError,
    run_sync,
)

CRITICAL = ("database", "cache")
# Beat sends the heartbeat every 60 s; three missed beats means no worker is consuming.
WORKER_STALE_AFTER = 180


def _timed(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # every failure is reported, never raised: this page must answer
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"backend": connection.vendor}


def _cache() -> dict[str, Any]:
    key = "portal:healthz"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written was not read back")
    return {"backend": "redis" if settings.REDIS_URL else "database"}


def _broker() -> dict[str, Any]:
    from portal.celery import app

    scheme = urlsplit(settings.CELERY_BROKER_URL).scheme or "filesystem"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    last_beat = cache.get(HEARTBEAT_KEY)
    worker: dict[str, Any] = {"last_heartbeat_age_s": None, "alive": False}
    if last_beat is not None:
        age = time.time() - float(last_beat)
        worker = {"last_heartbeat_age_s": round(age, 1), "alive": age < WORKER_STALE_AFTER}
    return {"transport": scheme, "worker": worker}


# A health probe must answer quickly even when an upstream hangs.
PROBE_TIMEOUTS = Timeouts(connect=2.0, read=2.0, write=2.0, pool=2.0)


async def _probe(connections: list[UpstreamConnection], client: UpstreamClient) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for upstream in connections:
        try:
            # HEAD answers 200 on a ChatBotKit-compatible server before any credential check.
            async with client.open(
                upstream, "HEAD", "/v1/usage/fetch", timeouts=PROBE_TIMEOUTS
            ) as response:
                states[upstream.base_url] = {
                    "ok": response.status_code < 500,
                    "status": response.status_code,
                }
        except UpstreamError as exc:
            states[upstream.base_url] = {"ok": False, "error": exc.code}
    return states


def _upstreams() -> dict[str, Any]:
    from tenants.models import Account

    # One active partner per distinct upstream, using its stored connection (never a URL from
    # the request).
    connections: dict[str, UpstreamConnection] = {}
    partners = (
        Account.objects.partners()
        .filter(status=Account.Status.ACTIVE)
        .exclude(upstream_base_url="")
        .order_by("pk")
    )
    for partner in partners[:50]:
        if partner.upstream_base_url not in connections and len(connections) < 10:
            connections[partner.upstream_base_url] = partner.upstream_connection()
    states = run_sync(lambda client: _probe(list(connections.values()), client))
    if any(not state["ok"] for state in states.values()):
        raise RuntimeError(
            "unreachable: " + ", ".join(url for url, s in states.items() if not s["ok"])
        )
    return {"upstreams": states}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _timed(_database),
        "cache": _timed(_cache),
        "broker": _timed(_broker),
        "upstream": _timed(_upstreams),
    }
    critical_ok = all(checks[name]["ok"] for name in CRITICAL)
    everything_ok = all(check["ok"] for check in checks.values())
    status = "ok" if everything_ok else ("degraded" if critical_ok else "down")
    return JsonResponse({"status": status, "checks": checks}, status=200 if critical_ok else 503)
