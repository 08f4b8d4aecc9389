"""The proxy under test: the real portal ASGI app on uvicorn, the live sandbox behind it.

One world per test module (creating upstream children takes real HTTP round trips), committed
to the test database so that the portal's own threads and a second worker process see it, and
flushed when the module ends:

    partner_a ─┬─ a_child ── a_grandchild      partner_b ── b_child
               └─ a_sibling

Every account below a partner is a real child of that partner's sandbox parent, and tokens
are issued through the real token services.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tenants.models import Account
from tenants.services import create_partner, onboard_tenant
from tenants.services.tokens import create_session_token, issue_token
from tests.fixtures.live import PortalServer
from tests.fixtures.sandbox import Parent, Sandbox, free_port
from tests.processes import running, wait_for


@dataclass
class World:
    sandbox: Sandbox
    parent_a: Parent
    parent_b: Parent
    partner_a: Account
    a_child: Account
    a_grandchild: Account
    a_sibling: Account
    partner_b: Account
    b_child: Account
    tokens: dict[str, str] = field(default_factory=dict)

    def token(
        self,
        account: Account,
        scopes: list[str] | None = None,
        *,
        bot_ids: list[str] | None = None,
        expires_in: int | None = None,
    ) -> str:
        issued = issue_token(
            account,
            name="test",
            scopes=scopes or ["*"],
            bot_ids=bot_ids,
            expires_in=expires_in,
            actor=None,
        )
        return issued.plaintext

    def session(self, account: Account, allowed_routes: list[str] | None = None) -> str:
        issued = create_session_token(account, allowed_routes=allowed_routes, actor=None)
        return issued.plaintext

    def upstream(self, parent: Parent, run_as: str | None = None) -> httpx.Client:
        """A client straight to the sandbox as the partner (to check what the proxy did)."""
        headers = {"Authorization": f"Bearer {parent.secret}"}
        if run_as:
            headers["X-RunAs-User-ID"] = run_as
        return httpx.Client(base_url=self.sandbox.url, headers=headers, timeout=10)


def _build_world(sandbox: Sandbox) -> World:
    parent_a, parent_b = sandbox.create_parent("A"), sandbox.create_parent("B")
    partner_a = create_partner(
        name="Partner A", upstream_base_url=sandbox.url, upstream_secret=parent_a.secret
    )
    partner_b = create_partner(
        name="Partner B", upstream_base_url=sandbox.url, upstream_secret=parent_b.secret
    )
    a_child = onboard_tenant(parent=partner_a, name="A Child", email="child@a.example")
    a_grandchild = onboard_tenant(parent=a_child, name="A Grandchild", email="gc@a.example")
    a_sibling = onboard_tenant(parent=partner_a, name="A Sibling", email="sib@a.example")
    b_child = onboard_tenant(parent=partner_b, name="B Child", email="child@b.example")
    return World(
        sandbox, parent_a, parent_b, partner_a, a_child, a_grandchild, a_sibling, partner_b, b_child
    )


@pytest.fixture(scope="module")
def world(committed_db: None, sandbox: Sandbox) -> World:
    return _build_world(sandbox)


@pytest.fixture(scope="module")
def portal(live_portal: PortalServer) -> PortalServer:
    return live_portal


@pytest.fixture
def second_worker(world: World, portal: PortalServer) -> Iterator[str]:
    """Another portal worker: its own process (uvicorn) on the same test database and cache."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "portal.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    url = f"http://127.0.0.1:{port}"
    with running(argv) as process:

        def healthy() -> bool:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                return httpx.get(f"{url}/v1/bot/list", timeout=1).status_code == 401
            except httpx.TransportError:
                return False

        wait_for(healthy, 20, "the second portal worker")
        yield url


@pytest.fixture
def client(portal: PortalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, timeout=15) as http:
        yield http


@pytest.fixture(autouse=True)
def _db_and_clean_sandbox(
    committed_db: None, django_db_blocker: Any, sandbox: Sandbox
) -> Iterator[None]:
    """Each test may use the database (committed at once) and leaves no sandbox fault behind."""
    config = sandbox.state()["config"]
    with django_db_blocker.unblock():
        yield
    sandbox.clear_faults()
    sandbox.configure(**config)


def auth(token: str, scheme: str = "Bearer", **headers: str) -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}", **headers}


def complete_body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"type": "user", "text": text}], **extra}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
