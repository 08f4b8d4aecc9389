"""A portal that stops normally writes every usage event it still held."""

from __future__ import annotations

import httpx

from tenants.metering import default_buffer
from tenants.metering.models import UsageEvent
from tests.fixtures.live import portal_server
from tests.metering.live.helpers import token_id
from tests.proxy.conftest import auth, complete_body


def test_events_still_buffered_are_written_when_the_portal_shuts_down(world, monkeypatch):
    # The flusher would wait an hour: only the shutdown can write these.
    monkeypatch.setattr(default_buffer(), "interval", 3600.0)
    token = world.token(world.a_child)
    events = UsageEvent.objects.filter(token_id=token_id(token))

    with portal_server() as server:
        for _ in range(3):
            answer = httpx.post(
                f"{server.url}/v1/conversation/complete",
                json=complete_body(),
                headers=auth(token),
                timeout=10,
            )
            assert answer.status_code == 200
        held = events.count()

    assert held == 0
    assert events.count() == 3
    assert default_buffer().stats()["pending"] == 0
