"""Metering: every proxied call recorded off the request path, rolled up, and reconciled.

    hot path   UsageMeter (observer.py) wraps the call's ASGI send/receive and reads usage from
               what the client is sent; record_call (recording.py) queues one UsageRecord
    buffer     buffer.py: bounded, in-process, written in batches by a background task;
               flushed on the ASGI lifespan shutdown (portal/asgi.py)
    Celery     rollups.py: raw events ─► hourly/daily totals per account and token, retention;
               reconciliation.py: each child's period totals against the upstream's usage/fetch;
               tasks.py: the thin tasks beat runs (portal/settings.py, "# Metering")

The proxy imports ``observer`` and ``recording`` directly; neither imports the proxy at run
time, so either side may be imported first.
"""

from __future__ import annotations

from tenants.metering.buffer import UsageBuffer, UsageRecord, default_buffer
from tenants.metering.observer import Usage, UsageMeter
from tenants.metering.recording import record_call


async def shutdown() -> int:
    """Write every queued event; the ASGI lifespan shutdown calls it. Returns how many."""
    return await default_buffer().shutdown()


__all__ = [
    "Usage",
    "UsageBuffer",
    "UsageMeter",
    "UsageRecord",
    "default_buffer",
    "record_call",
    "shutdown",
]
