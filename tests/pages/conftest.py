"""Personas across two partners, logged-in clients, and small helpers for the page tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from tenants.models import Membership, Role
from tests.factories import World, make_member, make_user, make_world

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

HTMX = {"HX-Request": "true"}


@dataclass
class PageWorld:
    world: World
    # A viewer on A's child: the membership the role/remove actions act on.
    child_viewer_membership: Membership

    def __getattr__(self, name: str):  # personas and accounts read straight from the world
        return getattr(self.world, name)


@pytest.fixture
def pages(db) -> PageWorld:
    world = make_world()
    child_viewer = make_user("child_viewer")
    membership = make_member(child_viewer, world.a_child, Role.VIEWER)
    return PageWorld(world=world, child_viewer_membership=membership)


@pytest.fixture
def client_for(pages: PageWorld) -> Callable[..., Client]:
    """``client_for("a_owner")``: a test client logged in as that persona (anonymous: not)."""

    def make(persona: str, **kwargs: object) -> Client:
        client = Client(**kwargs)  # type: ignore[arg-type]
        if persona != "anonymous":
            client.force_login(getattr(pages, persona))
        return client

    return make
