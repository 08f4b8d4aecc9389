"""The management API's test world: the personas of ``make_world``, over HTTP with sessions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from tenants.models import Account, AuditEvent, Invitation, Membership
from tenants.services import issue_token, onboard_tenant
from tests.factories import World, make_world

PREFIX = "/api/v1/portal"
PERSONAS = (
    "a_owner",
    "a_admin",
    "a_support",
    "a_viewer",
    "tenant_user",
    "b_owner",
    "outsider",
    "staff",
    "anonymous",
)


def client_for(world: World, persona: str) -> APIClient:
    """A client logged in (session cookie) as the persona; ``anonymous`` is not logged in."""
    client = APIClient()
    if persona != "anonymous":
        client.force_login(getattr(world, persona))
    return client


def token_client(account: Account, *scopes: str) -> APIClient:
    """A client holding a new portal token of ``account`` with ``scopes``."""
    client = APIClient()
    raw = issue_token(account, name="api", scopes=list(scopes), actor=None).plaintext
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def row_counts() -> tuple[int, ...]:
    """What "leaves no rows" is checked against."""
    return tuple(model.objects.count() for model in (Account, AuditEvent, Membership, Invitation))


def error_of(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"message", "code"}, body
    assert isinstance(body["message"], str)
    assert body["message"]
    return response.status_code, body["code"]


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def as_persona(world: World) -> Callable[[str], APIClient]:
    return lambda persona: client_for(world, persona)


@dataclass
class Live:
    """Partner A linked to a real sandbox parent, with tenants that exist upstream."""

    world: World
    tenant: Account  # under partner A (not in the tenant user's subtree)
    sub: Account  # under A's child (in the tenant user's subtree)
    secret: str


@pytest.fixture
def live(world: World, sandbox: Any, sandbox_parent: Any) -> Live:
    partner = world.partner_a
    partner.upstream_base_url = sandbox.url
    partner.set_upstream_secret(sandbox_parent.secret)
    partner.save()
    tenant = onboard_tenant(parent=partner, name="Live Tenant", email="live@tenant.example")
    sub = onboard_tenant(parent=world.a_child, name="Live Sub", email="sub@tenant.example")
    return Live(world=world, tenant=tenant, sub=sub, secret=sandbox_parent.secret)
