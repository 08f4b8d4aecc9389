"""In-process calls through the proxy pipeline, for the portal's own faces.

The streaming console, background conversations and the widget stream call the upstream
exactly as a token's call through ``/v1`` would: the same route table, scopes, bot
restrictions, limits (admission, ``RateLimit-*``, 429 bodies), forwarding, stream relay and
metering. They differ only in who vouches for the caller: a person the page already checked
through ``tenants/access.py``, or a widget key the widget endpoint authenticated. So instead of
a second way to reach the upstream, this module runs ``app.handle`` in a task of the current
event loop with a synthetic ASGI request, and hands back the answer as it streams::

    async with open_call(credential, "POST", f"/conversation/{cid}/complete",
                         body={"text": "hi"}) as answer:
        if answer.status >= 400:
            problem = await answer.json()        # {"message", "code", ...} as the proxy sends it
        async for event in answer.events():      # the upstream's JSONL events, one dict each
            ...

Leaving the block before the answer ended is the client leaving: the pipeline sees a
disconnect, closes the upstream request and records the partial usage, as for a real client.

A person acting as a tenant (support impersonation) calls with a credential that carries the
support session (``on_support_trail``; ``person_credential(impersonation=...)``). Every call
made with one is written to the session's audit trail here, once the call has ended: the
console's turns, the widget key page's bot picker and the widget preview's turns alike, whatever
the caller does with the credential on the way (the widget's turn copies it per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tenants.credentials import TokenRecord
from tenants.limits import Rate
from tenants.proxy.app import handle
from tenants.proxy.wire import Message
from tenants.services.impersonation import aaudit_upstream_call

if TYPE_CHECKING:
    from tenants.models import Impersonation

# Ids of the upstream's records as they may appear in a path (cuids, aliases): nothing that
# could change the path a call goes to. Every id put into a path of an in-process call (console,
# widget, widget keys) is held to it, whoever supplied it: a person, a store, the upstream.
UPSTREAM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The kind of a credential made here for a person (TokenRecord.kind); never stored.
PERSON_KIND = "person"
# What a person may do through the console: conversations and reading bots, nothing else.
CONSOLE_SCOPES = ("conversation:*", "bot:list", "bot:fetch")


@dataclass(frozen=True, slots=True)
class ActingCredential(TokenRecord):
    """A credential used by a person acting as a tenant: ``open_call`` puts each of its calls on
    the support session's trail. A subclass rather than an argument of ``open_call`` so that
    code which only passes a credential along (``tenants.widget.turn``, through
    ``dataclasses.replace``) keeps the session without knowing about it."""

    impersonation: Impersonation = field(kw_only=True)


def on_support_trail(credential: TokenRecord, impersonation: Impersonation | None) -> TokenRecord:
    """``credential``, carrying ``impersonation`` when the person acts under one."""
    if impersonation is None:
        return credential
    values = {item.name: getattr(credential, item.name) for item in fields(TokenRecord)}
    return ActingCredential(**values, impersonation=impersonation)


def support_trail_of(credential: TokenRecord) -> Impersonation | None:
    """The support session whose trail ``credential``'s calls go to, if any."""
    return credential.impersonation if isinstance(credential, ActingCredential) else None


def person_credential(
    *,
    account_id: int,
    account_public_id: str,
    account_path: str,
    partner_id: int,
    label: str,
    scopes: tuple[str, ...] = CONSOLE_SCOPES,
    impersonation: Impersonation | None = None,
) -> TokenRecord:
    """A credential for a person acting as an account they were checked to reach.

    ``label`` names it in usage and logs (e.g. ``web:42`` for user 42): a call made from a page
    is metered against the account like any other, under that label instead of a token id.
    ``impersonation``: the support session the person acts under, whose trail gets each call.
    """
    record = TokenRecord(
        token_id=label[:32],
        kind=PERSON_KIND,
        account_id=account_id,
        account_public_id=account_public_id,
        account_path=account_path,
        partner_id=partner_id,
        scopes=scopes,
        bot_ids=None,
        allowed_routes=None,
        expires_at=None,
        revoked_at=None,
        secret_hash="",
    )
    return on_support_trail(record, impersonation)


@dataclass(slots=True)
class Answer:
    """The pipeline's answer: status and headers at once, the body as it arrives."""

    status: int
    headers: dict[str, str]
    _messages: asyncio.Queue[Message | None] = field(repr=False)
    _finished: bool = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks as the pipeline sends them (each JSONL chunk ends at a line end)."""
        while not self._finished:
            message = await self._messages.get()
            if message is None:  # the pipeline ended without finishing the body
                self._finished = True
                return
            chunk = bytes(message.get("body", b""))
            if not message.get("more_body", False):
                self._finished = True
            if chunk:
                yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def json(self) -> Any:
        body = await self.read()
        return json.loads(body) if body else None

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The JSONL events of a streamed answer, each line parsed (blank lines skipped)."""
        pending = b""
        async for chunk in self.chunks():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield _event(line)
        if pending.strip():
            yield _event(pending)


def _event(line: bytes) -> dict[str, Any]:
    value = json.loads(line)
    return value if isinstance(value, dict) else {"type": "unknown", "data": value}


@contextlib.asynccontextmanager
async def open_call(
    credential: TokenRecord,
    method: str,
    path: str,
    *,
    body: Mapping[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
    run_as: str | None = None,
    accept: str = "application/jsonl",
    request_id: str = "",
    rates: Sequence[Rate] = (),
    follow_up: bool = False,
) -> AsyncIterator[Answer]:
    """Run one call through the proxy pipeline as ``credential``; see the module docstring.

    ``rates``: more requests-per-minute limits, admitted atomically with the call's own (a
    widget key's chat session). ``follow_up``: a later call of a request already admitted (see
    ``handle``). A call on a support session's trail without a ``request_id`` gets one, so
    that its trail entry and its usage record name the same call.
    """
    trail = support_trail_of(credential)
    if trail is not None and not request_id:
        request_id = f"support-{secrets.token_hex(8)}"
    payload = json.dumps(dict(body), separators=(",", ":")).encode() if body is not None else b""
    headers: list[tuple[bytes, bytes]] = [(b"accept", accept.encode())]
    if method == "POST":
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(payload)).encode()))
    if run_as:
        headers.append((b"x-runas-userid", run_as.encode()))
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    full_path = "/v1" + path
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": full_path,
        "raw_path": full_path.encode(),
        "query_string": urlencode(dict(query)).encode() if query else b"",
        "root_path": "",
        "headers": headers,
        "client": None,
        "server": None,
    }
    messages: asyncio.Queue[Message | None] = asyncio.Queue()
    left = asyncio.Event()
    request_sent = False

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if not left.is_set():
            messages.put_nowait(message)

    async def run() -> None:
        try:
            await handle(scope, receive, send, caller=credential, rates=rates, follow_up=follow_up)
        finally:
            messages.put_nowait(None)

    task = asyncio.get_running_loop().create_task(run())
    answer: Answer | None = None
    try:
        start = await messages.get()
        if start is None or start["type"] != "http.response.start":
            await task  # the pipeline failed before answering: let its exception out
            raise RuntimeError("the proxy pipeline ended without an answer")
        answer = Answer(
            status=int(start["status"]),
            headers={
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in start.get("headers", ())
            },
            _messages=messages,
        )
        yield answer
    finally:
        # The caller is done: if the answer had not ended, that is a client leaving.
        left.set()
        try:
            await asyncio.shield(task)
        finally:
            # Once the pipeline has ended, so that the upstream stream is not held open while
            # the trail is written. A pipeline that failed before answering raised above.
            if trail is not None and answer is not None:
                details: dict[str, Any] = {
                    "account": credential.account_public_id,
                    "status": answer.status,
                    "request_id": request_id,
                }
                if run_as:
                    details["run_as"] = run_as
                await aaudit_upstream_call(trail, action=f"{method} {path}", details=details)
