"""In-process calls (tenants/proxy/internal.py): the portal's own faces through the same pipeline.

No HTTP server is involved: the calls run in this test's event loop, against the live sandbox,
and must be scoped, limited and metered exactly like a token's call through /v1.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections

from tenants.credentials import TokenRecord
from tenants.metering.buffer import default_buffer
from tenants.metering.models import UsageEvent
from tenants.models import Account, AuditEvent
from tenants.proxy.internal import on_support_trail, open_call, person_credential
from tenants.services.impersonation import (
    impersonation_of,
    start_impersonation,
    stop_impersonation,
)
from tests.factories import make_user
from tests.limits.live.helpers import limited_tenant


def _person(account: Account, label: str = "web:test") -> TokenRecord:
    return person_credential(
        account_id=account.pk,
        account_public_id=account.public_id,
        account_path=account.path,
        partner_id=account.partner_pk,
        label=label,
    )


async def _complete(credential, text: str = "hello", **call):
    async with open_call(
        credential,
        "POST",
        "/conversation/complete",
        body={"messages": [{"type": "user", "text": text}]},
        **call,
    ) as answer:
        if answer.status >= 400:
            return answer.status, [], await answer.json()
        return answer.status, [event async for event in answer.events()], None


def _run_and_flush[T](coroutine: Coroutine[Any, Any, T]) -> T:
    async def both() -> T:
        try:
            return await coroutine
        finally:
            await default_buffer().flush()
            # The pipeline's database reads ran on asgiref's thread: close its connection, or
            # PostgreSQL refuses to drop the test database at the end of the module.
            await sync_to_async(connections.close_all)()

    return asyncio.run(both())


def test_a_person_streams_a_completion_and_it_is_metered_as_the_account(world):
    credential = _person(world.a_child, "web:stream")

    status, events, _ = _run_and_flush(_complete(credential))

    assert status == 200
    kinds = [event["type"] for event in events]
    assert kinds.count("token") > 1
    assert kinds[-1] == "result"
    (event,) = UsageEvent.objects.filter(token_id="web:stream")
    assert (event.account_id, event.status, event.messages) == (world.a_child.pk, 200, 1)
    assert event.tokens == events[-1]["data"]["usage"]["token"]


def test_run_as_reaches_a_descendant_and_never_another_branch(world):
    credential = _person(world.a_child, "web:runas")

    ok, _, _ = _run_and_flush(_complete(credential, run_as=world.a_grandchild.public_id))
    refused, _, problem = _run_and_flush(_complete(credential, run_as=world.a_sibling.public_id))
    other, _, _ = _run_and_flush(_complete(credential, run_as=world.b_child.public_id))

    assert ok == 200
    assert refused in (401, 403, 404)
    assert problem["code"]
    assert other == refused  # another partner's tenant is refused the same way


def test_a_person_credential_only_reaches_conversations_and_bots(world):
    credential = _person(world.partner_a, "web:scopes")

    async def call(method: str, path: str):
        async with open_call(credential, method, path, accept="application/json") as answer:
            return answer.status, await answer.json()

    bots, _ = _run_and_flush(call("GET", "/bot/list"))
    secrets, problem = _run_and_flush(call("GET", "/secret/list"))

    assert bots == 200
    assert secrets == 403
    assert "scope" in problem["message"]


def test_a_quota_refusal_is_the_proxys_429_with_the_limit_and_reaches_no_upstream(world):
    tenant = limited_tenant(world, messages=0)

    status, _, problem = _run_and_flush(_complete(_person(tenant, "web:quota")))

    assert status == 429
    assert problem["code"] == "LIMITS_REACHED"
    assert problem["limit"]["name"] == "messages"
    assert problem["limit"]["account"] == tenant.public_id
    (event,) = UsageEvent.objects.filter(token_id="web:quota")
    assert (event.status, event.error_code, event.messages) == (429, "LIMITS_REACHED", 0)


def test_leaving_mid_stream_closes_the_call_and_keeps_the_partial_usage(world):
    world.sandbox.configure(tokenDelayMs=150)
    credential = _person(world.a_child, "web:leave")

    async def leave_after_two_tokens() -> int:
        seen = 0
        async with open_call(
            credential,
            "POST",
            "/conversation/complete",
            body={"messages": [{"type": "user", "text": "a long answer please"}]},
        ) as answer:
            async for event in answer.events():
                seen += event["type"] == "token"
                if seen == 2:
                    break
        return seen

    assert _run_and_flush(leave_after_two_tokens()) == 2
    (event,) = UsageEvent.objects.filter(token_id="web:leave")
    assert event.client_disconnected is True
    assert 2 <= event.tokens < 50


def test_a_credential_carrying_a_support_session_puts_each_call_on_its_trail(world):
    operator = make_user("internal-operator", staff=True)
    support = start_impersonation(operator, world.a_child, reason="Ticket 3: answers are empty")
    acting = impersonation_of(support, operator)
    # Copied as the widget's turn copies its key's record: the session stays on the copy.
    credential = dataclasses.replace(
        on_support_trail(_person(world.a_child, "web:trail"), acting), rpm=None
    )
    try:
        status, _, _ = _run_and_flush(_complete(credential))
        plain, _, _ = _run_and_flush(_complete(_person(world.a_child, "web:no-trail")))
    finally:
        stop_impersonation(support, actor=operator)

    assert (status, plain) == (200, 200)
    (call,) = AuditEvent.objects.filter(
        correlation_id=support.correlation_id, action="support.upstream_call"
    )
    assert call.changes["call"] == "POST /conversation/complete"
    assert (call.changes["account"], call.changes["status"]) == (world.a_child.public_id, 200)
    # A call made without a request id gets one: its trail entry and its usage name the same.
    (usage,) = UsageEvent.objects.filter(token_id="web:trail")
    assert call.changes["request_id"] == usage.request_id != ""
