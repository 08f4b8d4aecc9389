"""A rate limit holds across worker processes: they share one window (Redis or the database)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.limits.live.helpers import limited_tenant
from tests.proxy.conftest import auth

RPM = 6


def test_requests_per_minute_hold_across_two_worker_processes(world, portal, second_worker):
    tenant = limited_tenant(world, rpm=RPM)
    headers = auth(world.token(tenant))
    urls = [portal.url, second_worker] * 10

    def call(url: str) -> int:
        return httpx.get(f"{url}/v1/bot/list", headers=headers, timeout=10).status_code

    # Twenty calls at once, half on each process.
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        statuses = list(pool.map(call, urls))

    # Per-process windows would admit up to twice the limit.
    assert statuses.count(200) == RPM
    assert statuses.count(429) == len(urls) - RPM
    for url in (portal.url, second_worker):
        assert call(url) == 429
