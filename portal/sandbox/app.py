"""The aiohttp application: one catch-all handler that applies the upstream's HTTP rules.

Order of checks for an API path: unknown path 404 -> HEAD/OPTIONS -> wrong verb 405 -> injected
faults -> `Accept` -> POST content type and body -> credentials -> handler. Both `/v1/...` and
`/api/v1/...` reach the same routes (UPSTREAM.md §1).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from portal.sandbox import bots, channels, completions, control, conversations, partner, usage
from portal.sandbox.auth import ANONYMOUS, authenticate, glob_to_regex
from portal.sandbox.context import SANDBOX, Ctx, Fault, Route, Sandbox, log, require_accept
from portal.sandbox.errors import ApiError, bad_request, not_found
from portal.sandbox.store import save_snapshot
from portal.sandbox.streaming import StreamAborted

ALL_ROUTES: list[Route] = [
    *partner.ROUTES,
    *bots.ROUTES,
    *conversations.ROUTES,
    *completions.ROUTES,
    *channels.ROUTES,
    *usage.ROUTES,
]
_PARAM = re.compile(r"\{(\w+)\}")
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET,POST",
    "Access-Control-Allow-Headers": (
        "X-Requested-With, Accept, Content-Length, Content-Type, Authorization"
    ),
}


def _compile(path: str) -> re.Pattern[str]:
    parts = _PARAM.split(path)
    # split() alternates literal text and parameter names.
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return re.compile(regex + "$")


_COMPILED = [(_compile(route.path), route) for route in ALL_ROUTES]


def match_routes(v1_path: str) -> list[tuple[Route, dict[str, str]]]:
    found = []
    for regex, route in _COMPILED:
        match = regex.match(v1_path)
        if match:
            found.append((route, match.groupdict()))
    return found


def _take_faults(sandbox: Sandbox, v1_path: str) -> list[Fault]:
    """Faults whose route glob matches; each hit uses up one of its `times`."""
    hits = []
    for fault in list(sandbox.faults):
        if glob_to_regex(fault.route).match(v1_path):
            hits.append(fault)
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    sandbox.faults.remove(fault)
    return hits


async def _apply_request_faults(faults: list[Fault]) -> None:
    for fault in faults:
        if fault.kind == "latency":
            await asyncio.sleep(float(fault.params.get("ms", 1000)) / 1000)
    for fault in faults:
        if fault.kind == "status":
            raise ApiError(
                int(fault.params["status"]), fault.params.get("message"), fault.params.get("code")
            )


async def _read_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise bad_request()
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request() from None
    if not isinstance(body, dict):
        raise bad_request('"value" must be of type object')
    return body


async def _dispatch_api(request: web.Request, sandbox: Sandbox, v1_path: str) -> web.StreamResponse:
    matches = match_routes(v1_path)
    if not matches:
        raise not_found()
    if request.method == "HEAD":
        return web.Response(status=200)
    if request.method == "OPTIONS":
        return web.json_response({})
    chosen = next(((r, p) for r, p in matches if r.method == request.method), None)
    if chosen is None:
        raise ApiError(405)
    route, params = chosen
    faults = _take_faults(sandbox, v1_path)
    await _apply_request_faults(faults)
    body = await _read_body(request) if request.method == "POST" else {}
    api_path = "/api" + v1_path
    if route.auth == "optional" and "Authorization" not in request.headers:
        caller = ANONYMOUS
    else:
        caller = authenticate(sandbox.store, request.headers, api_path)
    ctx = Ctx(request, sandbox, caller, params, body, faults)
    require_accept(ctx)
    return await route.handler(ctx)


async def dispatch(request: web.Request) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    path = request.path
    if path == "/healthz":
        return web.json_response({"status": "ok"})
    if path.startswith("/_sandbox/"):
        return await control.handle(request, sandbox)
    if path.startswith("/api/v1/"):
        v1_path = path[len("/api") :]
    elif path.startswith("/v1/"):
        v1_path = path
    else:
        return not_found().to_response()
    try:
        return await _dispatch_api(request, sandbox, v1_path)
    except ApiError as error:
        return error.to_response()
    except StreamAborted:
        # The connection was cut on purpose (a reset fault on a JSON request): nothing to send.
        return web.Response()


async def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(_CORS)


async def _stop_background_runs(app: web.Application) -> None:
    for task in list(app[SANDBOX].tasks):
        task.cancel()


async def _write_snapshot(app: web.Application) -> None:
    sandbox = app[SANDBOX]
    if sandbox.state_file is not None:
        save_snapshot(sandbox.store, sandbox.state_file)
        log.info("state saved to %s", sandbox.state_file)


def build_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[SANDBOX] = sandbox
    app.router.add_route("*", "/{tail:.*}", dispatch)
    app.on_response_prepare.append(_add_cors)
    app.on_shutdown.append(_stop_background_runs)
    app.on_cleanup.append(_write_snapshot)
    return app
