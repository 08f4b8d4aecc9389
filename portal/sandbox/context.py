"""Shared types: the process-wide `Sandbox` state, the per-request `Ctx`, and `Route`.

Kept apart from `app.py` so that the route modules can import them without importing the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from portal.sandbox.auth import Caller
from portal.sandbox.errors import ApiError, bad_request, not_authorized, not_found
from portal.sandbox.pubsub import ChannelHub
from portal.sandbox.store import JsonObject, Record, Store

log = logging.getLogger("portal.sandbox")


@dataclass
class Config:
    token_delay_ms: int = 30
    # The upstream pings every 10 s during completions; tests shorten it to see pings quickly.
    ping_interval_ms: int = 10_000


@dataclass
class Fault:
    id: str
    route: str  # glob over the /v1/... path
    kind: str  # latency | slow_first_token | status | reset_mid_stream | stall
    params: JsonObject
    remaining: int | None  # None: every matching request


@dataclass
class Sandbox:
    """Everything one sandbox process knows. Lives at `app[SANDBOX]`."""

    store: Store = field(default_factory=Store)
    config: Config = field(default_factory=Config)
    startup_config: Config = field(default_factory=Config)
    faults: list[Fault] = field(default_factory=list)
    hub: ChannelHub = field(default_factory=ChannelHub)
    dev: bool = False
    state_file: Path | None = None
    stats: dict[str, int] = field(default_factory=dict)
    # Background dispatch runs; held here so they are not garbage-collected mid-run and can be
    # cancelled on shutdown or reset.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def count(self, name: str, delta: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + delta

    def restore_config(self) -> None:
        self.config = replace(self.startup_config)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


SANDBOX = web.AppKey("sandbox", Sandbox)


@dataclass
class Ctx:
    """One authenticated request, as handlers see it."""

    request: web.Request
    sandbox: Sandbox
    caller: Caller
    params: dict[str, str]
    body: JsonObject
    faults: list[Fault]

    @property
    def store(self) -> Store:
        return self.sandbox.store

    @property
    def query(self) -> Any:
        return self.request.query

    @property
    def wants(self) -> str:
        """The response form chosen by `Accept`: json, jsonl or sse."""
        accept = self.request.headers.get("Accept", "")
        if "application/jsonl" in accept:
            return "jsonl"
        if "text/event-stream" in accept:
            return "sse"
        return "json"

    def owned(self, kind: str, param: str, missing: str = "Not found") -> Record:
        """The record named by path parameter `param`, if it belongs to the caller.

        Upstream tells "unknown" (404) from "someone else's" (403) here; the portal's own
        tenancy layer hides that difference, the upstream does not.
        """
        record = self.store.get(kind, self.params[param])
        if record is None:
            raise not_found(missing)
        if record.owner_id != self.caller.user_id:
            raise not_authorized()
        return record


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "/v1/bot/{botId}/fetch"
    handler: Handler
    auth: str = "required"  # required | optional (public bots)


def json_ok(data: Any) -> web.Response:
    return web.json_response(data)


def require_accept(ctx: Ctx) -> None:
    accept = ctx.request.headers.get("Accept", "")
    known = ("application/json", "application/jsonl", "text/event-stream", "*/*", "application/*")
    if accept and not any(kind in accept for kind in known):
        raise bad_request()


__all__ = ["SANDBOX", "ApiError", "Config", "Ctx", "Fault", "Handler", "Route", "Sandbox", "log"]
