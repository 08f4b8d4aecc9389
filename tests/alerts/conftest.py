"""Alerts: a loopback webhook receiver, Celery in-process, accounts with quotas and usage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from portal.celery import app as celery_app
from tenants.metering.models import UsageEvent
from tenants.models import Account
from tests.metering.factories import usage_record


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next of ``statuses`` (then 200), and keeps what it got."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(Received(dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            payload = b'{"ok": true}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/portal"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _alerts_settings(settings: Any) -> Iterator[None]:
    # Tests post to 127.0.0.1: allowed here, whatever the profile's default.
    settings.PORTAL_WEBHOOK_ALLOW_PRIVATE = True
    settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS = 5
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    # Not propagated: an eager retry is itself an exception that apply() turns into the next
    # attempt, which propagation would cut short.
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


def set_quotas(account: Account, **quotas: int) -> None:
    Account.objects.filter(pk=account.pk).update(limits=quotas)
    account.refresh_from_db()


def use(account: Account, at: datetime, *, messages: int = 0, tokens: int = 0, conv: int = 0):
    """One metered call of ``account`` at ``at``: a metering record, stored as a raw event
    (the buffer's ``write_events`` closes connections, which a test transaction forbids)."""
    record = usage_record(
        account_id=account.pk,
        messages=messages,
        tokens=tokens,
        conversations=conv,
        created_at=at.timestamp(),
    )
    fields = {name: getattr(record, name) for name in record.__dataclass_fields__}
    fields["created_at"] = at
    UsageEvent.objects.create(**fields)
