"""Driving the console over HTTP as a browser would: a session, the turn form, its SSE stream."""

from __future__ import annotations

import html
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connections
from django.utils.module_loading import import_string

from tenants.limits.periods import period_at
from tenants.metering.usage import period_totals
from tenants.models import Account
from tests.proxy.conftest import World


def session_cookie(user) -> str:
    store: Any = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return str(store.session_key)


@contextmanager
def logged_in(url: str, user) -> Iterator[httpx.Client]:
    """An HTTP client with ``user``'s session and a CSRF token, as the pages would have."""
    with httpx.Client(base_url=url, timeout=30) as http:
        http.cookies.set(settings.SESSION_COOKIE_NAME, session_cookie(user))
        http.get("/console/")  # sets the CSRF cookie
        http.headers["X-CSRFToken"] = http.cookies.get(settings.CSRF_COOKIE_NAME) or ""
        http.headers["HX-Request"] = "true"
        yield http


@dataclass
class Message:
    event: str
    data: str
    id: str | None
    at: float  # seconds since the stream was opened


@dataclass
class Stream:
    status: int
    messages: list[Message] = field(default_factory=list)

    def of(self, event: str) -> list[Message]:
        return [message for message in self.messages if message.event == event]

    @property
    def text(self) -> str:
        return "".join(html.unescape(message.data) for message in self.of("token"))

    @property
    def end(self) -> str:
        (end,) = self.of("turn-end")
        return end.data


def parse_sse(lines: Iterator[str], started: float) -> Iterator[Message]:
    event, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Message(event, "\n".join(data), event_id, time.monotonic() - started)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


def stream_url(markup: str) -> str:
    found = re.search(r'sse-connect="([^"]+)"', markup)
    assert found, markup
    return html.unescape(found.group(1))


def stop_url(markup: str) -> str:
    found = re.search(r'hx-post="([^"]+/(?:stop|cancel)/)"', markup)
    assert found, markup
    return found.group(1)


def read_stream(http: httpx.Client, url: str, *, until: str = "turn-end", **kwargs) -> Stream:
    started = time.monotonic()
    with http.stream("GET", url, **kwargs) as response:
        stream = Stream(response.status_code)
        if response.status_code != 200:
            response.read()
            return stream
        lines = response.iter_lines()
        for message in parse_sse(lines, started):
            stream.messages.append(message)
            if message.event == until:
                break
    return stream


def send(http: httpx.Client, account: Account, message: str, **fields: str) -> httpx.Response:
    return http.post(
        "/console/turns/", data={"account": account.public_id, "message": message, **fields}
    )


def turn(http: httpx.Client, account: Account, message: str, **fields: str) -> Stream:
    """Send a message and read its stream to the end."""
    sent = send(http, account, message, **fields)
    assert sent.status_code == 200, sent.text
    return read_stream(http, stream_url(sent.text))


def conversation_of(end_markup: str) -> str:
    found = re.search(r'name="conversation" value="([^"]*)"', end_markup)
    assert found, end_markup
    return found.group(1)


def make_bot(world: World, account: Account, name: str = "") -> str:
    """A bot of ``account``, made upstream as it (the console lists the account's bots)."""
    parent = world.parent_a if account.partner_pk == world.partner_a.pk else world.parent_b
    run_as = None if account.is_partner else account.public_id
    with world.upstream(parent, run_as) as upstream:
        made = upstream.post(
            "/v1/bot/create",
            json={"name": name or f"Bot {secrets.token_hex(2)}", "backstory": "Be brief."},
        )
    made.raise_for_status()
    return str(made.json()["id"])


def used_this_period(account: Account) -> dict[str, int]:
    period = period_at(account.timezone)
    return period_totals(account, period.start, period.end)


def new_job(account: Account, person, message: str = "hello", **fields: Any):
    """A queued job row (nothing runs it until a test does)."""
    from tenants.console.models import ConversationJob

    return ConversationJob.objects.create(
        account=account,
        person=person,
        person_label=person.get_username(),
        message=message,
        **fields,
    )


def run_in_thread(job) -> threading.Thread:
    """Run ``job`` as a worker would, in a thread of this process (the same code: the Celery
    task only calls it), so the test can watch and act while it runs."""
    from tenants.console.runner import run_job

    def work() -> None:
        try:
            run_job(job.pk)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    return worker
