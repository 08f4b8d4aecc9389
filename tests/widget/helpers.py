"""Helpers of the widget tests: bots made upstream, widget keys, one turn, its lines."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx

from tenants.models import Account
from tenants.services.widget_keys import issue_widget_key
from tests.proxy.conftest import World

SITE = "https://shop.example"
STREAM = "/v1/chat/stream"


def parent_of(world: World, account: Account):
    return world.parent_b if account.partner_pk == world.partner_b.pk else world.parent_a


def make_bot(world: World, account: Account, name: str = "Helper") -> str:
    """A bot of ``account``, created upstream as its child (straight to the sandbox)."""
    run_as = None if account.is_partner else account.public_id
    with world.upstream(parent_of(world, account), run_as) as upstream:
        response = upstream.post(
            "/v1/bot/create", json={"name": name, "backstory": f"You are {name}."}
        )
    response.raise_for_status()
    return str(response.json()["id"])


def widget_key(
    world: World,
    account: Account,
    bot_id: str | None = None,
    *,
    origins: list[str] | None = None,
    rpm: int | None = None,
    session_rpm: int | None = None,
) -> str:
    issued = issue_widget_key(
        account,
        bot_id=bot_id or make_bot(world, account),
        origins=origins or [SITE],
        rpm=rpm,
        session_rpm=session_rpm,
        actor=None,
    )
    return issued.plaintext


def session() -> str:
    return "visitor-" + secrets.token_hex(6)


def chat(
    client: httpx.Client,
    key: str,
    message: str = "Hello there",
    *,
    session_id: str | None = None,
    path: str = STREAM,
    header: str = "x-api-key",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One turn, read whole (the seed's loops read it line by line: see test_seed_clients)."""
    return client.post(
        path,
        json={"sessionId": session_id or session(), "message": message},
        headers={header: key, **(headers or {})},
    )


def events(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "application/x-ndjson", response.text
    return [json.loads(line) for line in response.text.splitlines()]
