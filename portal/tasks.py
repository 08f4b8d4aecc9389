from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "portal:worker-heartbeat"


@shared_task(name="portal.tasks.heartbeat")
def heartbeat() -> None:
    """Beat sends this every minute; /healthz reads when a worker last ran it."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)
