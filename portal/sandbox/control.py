"""The `/_sandbox/...` control surface, for demos and tests; only served with `--dev`.

No credentials: it exists to seed parents (whose secrets the portal stores), import children with
known ids after a restart, inject faults and tune the pace. Without `--dev` every path here is 404,
so a sandbox reachable by others cannot be reconfigured by them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from portal.sandbox.context import Fault, Sandbox, json_ok, log
from portal.sandbox.errors import ApiError, bad_request, conflict, not_found
from portal.sandbox.partner import ROOT, create_parent
from portal.sandbox.store import JsonObject, Store, new_id
from portal.sandbox.validation import NULLABLE_STRING, Field, validate

FAULT_KINDS = ("latency", "slow_first_token", "status", "reset_mid_stream", "stall")
PARENT_SCHEMA = {"name": NULLABLE_STRING, "secret": NULLABLE_STRING, "id": NULLABLE_STRING}
CHILD_SCHEMA = {
    "parentId": Field("string", required=True),
    "id": NULLABLE_STRING,
    "name": NULLABLE_STRING,
    "email": Field("email", nullable=True),
}
FAULT_SCHEMA = {
    "route": Field("string", required=True, allow_empty=False),
    "kind": Field("string", required=True, choices=FAULT_KINDS),
    "times": Field("integer", nullable=True, minimum=1),
    "ms": Field("number", minimum=0),
    "status": Field("integer", minimum=400, maximum=599),
    "code": Field("string"),
    "message": Field("string"),
    "afterTokens": Field("integer", minimum=0),
}
CONFIG_SCHEMA = {
    "tokenDelayMs": Field("integer", minimum=0, maximum=60_000),
    "pingIntervalMs": Field("integer", minimum=0, maximum=3_600_000),
}

ControlHandler = Callable[[Sandbox, JsonObject], Awaitable[web.StreamResponse]]


async def create_parent_account(sandbox: Sandbox, body: JsonObject) -> web.StreamResponse:
    body = validate(body, PARENT_SCHEMA)
    secret = body.get("secret")
    if secret is not None and not secret.startswith("sk-"):
        raise bad_request('"secret" must start with sk-')
    wanted = sandbox.store.get("user", body["id"]) if body.get("id") else None
    if wanted is not None and wanted.owner_id != ROOT:
        raise conflict("That id belongs to a child user")
    parent, secret = create_parent(
        sandbox.store, body.get("name") or "Parent", secret, body.get("id")
    )
    return json_ok({"id": parent.id, "secret": secret})


async def import_child(sandbox: Sandbox, body: JsonObject) -> web.StreamResponse:
    body = validate(body, CHILD_SCHEMA)
    store = sandbox.store
    parent = store.get("user", body["parentId"])
    if parent is None or parent.owner_id != ROOT:
        raise not_found("Parent not found")
    existing = store.get("user", body["id"]) if body.get("id") else None
    if existing is not None:
        if existing.owner_id != parent.id:
            raise conflict("That id belongs to another account")
        return json_ok({"id": existing.id})
    fields = {"name": body.get("name"), "email": body.get("email") or None}
    if fields["email"] and any(
        user.fields.get("email") == fields["email"] for user in store.owned("user", parent.id)
    ):
        raise conflict()
    child = store.add("user", parent.id, fields, record_id=body.get("id"))
    return json_ok({"id": child.id})


async def reset(sandbox: Sandbox, body: JsonObject) -> web.StreamResponse:
    for task in list(sandbox.tasks):
        task.cancel()
    sandbox.store = Store()
    sandbox.hub.clear()
    sandbox.faults.clear()
    sandbox.restore_config()
    log.info("sandbox state reset")
    return json_ok({})


async def create_fault(sandbox: Sandbox, body: JsonObject) -> web.StreamResponse:
    body = validate(body, FAULT_SCHEMA)
    route = body.pop("route")
    # Routes are globs over the /v1/... path; accept the /api/v1/... spelling too.
    route = route.removeprefix("/api")
    kind = body.pop("kind")
    times = body.pop("times", None)
    if kind == "status" and "status" not in body:
        raise bad_request('"status" is required')
    fault = Fault(new_id(), route, kind, body, times)
    sandbox.faults.append(fault)
    log.info("fault %s on %s %s", kind, route, body)
    return json_ok({"id": fault.id})


async def clear_faults(sandbox: Sandbox, body: JsonObject) -> web.StreamResponse:
    sandbox.faults.clear()
    return json_ok({})


async def configure(sandbox: Sandbox, body: JsonObject) -> web.StreamResponse:
    body = validate(body, CONFIG_SCHEMA)
    if "tokenDelayMs" in body:
        sandbox.config.token_delay_ms = int(body["tokenDelayMs"])
    if "pingIntervalMs" in body:
        sandbox.config.ping_interval_ms = int(body["pingIntervalMs"])
    return json_ok(_config_json(sandbox))


async def state(sandbox: Sandbox, body: JsonObject) -> web.StreamResponse:
    store = sandbox.store
    counts = store.counts()
    parents = len(store.owned("user", ROOT))
    return json_ok(
        {
            "parents": parents,
            "children": counts.get("user", 0) - parents,
            "tokens": counts.get("token", 0),
            "bots": counts.get("bot", 0),
            "conversations": counts.get("conversation", 0),
            "messages": counts.get("message", 0),
            "contexts": counts.get("context", 0),
            "channels": len(sandbox.hub.channels),
            "subscribers": sandbox.hub.subscriber_count(),
            "dispatchRuns": len(sandbox.tasks),
            "faults": [
                {"id": f.id, "route": f.route, "kind": f.kind, "remaining": f.remaining}
                for f in sandbox.faults
            ],
            "config": _config_json(sandbox),
            "streams": {
                name: sandbox.stats.get(name, 0)
                for name in (
                    "streamsStarted",
                    "streamsCompleted",
                    "streamsAborted",
                    "activeStreams",
                )
            },
        }
    )


def _config_json(sandbox: Sandbox) -> JsonObject:
    return {
        "tokenDelayMs": sandbox.config.token_delay_ms,
        "pingIntervalMs": sandbox.config.ping_interval_ms,
    }


ROUTES: dict[tuple[str, str], ControlHandler] = {
    ("POST", "/_sandbox/parent/create"): create_parent_account,
    ("POST", "/_sandbox/user/create"): import_child,
    ("POST", "/_sandbox/reset"): reset,
    ("POST", "/_sandbox/fault/create"): create_fault,
    ("POST", "/_sandbox/fault/clear"): clear_faults,
    ("POST", "/_sandbox/config"): configure,
    ("GET", "/_sandbox/state"): state,
}


async def handle(request: web.Request, sandbox: Sandbox) -> web.StreamResponse:
    if not sandbox.dev:
        return not_found().to_response()
    handler = ROUTES.get((request.method, request.path))
    if handler is None:
        known = any(path == request.path for _, path in ROUTES)
        return ApiError(405 if known else 404).to_response()
    try:
        raw = await request.read()
        body: Any = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return bad_request().to_response()
    try:
        return await handler(sandbox, body)
    except ApiError as error:
        return error.to_response()
