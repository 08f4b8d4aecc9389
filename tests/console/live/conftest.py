"""The console through the live portal: the proxy's world (real sandbox children), and people.

    partner_a ─┬─ a_child ── a_grandchild      partner_b ── b_child
               └─ a_sibling

People: ``support`` (support on partner A), ``tenant_owner`` (owner of A's child),
``viewer`` (viewer on partner A), ``b_owner`` (owner of partner B).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from tenants.models import Role
from tests.factories import make_member, make_user
from tests.proxy.conftest import (  # noqa: F401  (fixtures, used by name)
    World,
    _db_and_clean_sandbox,
    client,
    portal,
)
from tests.proxy.conftest import world as world


@dataclass
class People:
    support: User
    tenant_owner: User
    viewer: User
    b_owner: User


@pytest.fixture(scope="module")
def people(world: World) -> People:
    found = People(
        support=make_user("console-support"),
        tenant_owner=make_user("console-tenant-owner"),
        viewer=make_user("console-viewer"),
        b_owner=make_user("console-b-owner"),
    )
    make_member(found.support, world.partner_a, Role.SUPPORT)
    make_member(found.tenant_owner, world.a_child, Role.OWNER)
    make_member(found.viewer, world.partner_a, Role.VIEWER)
    make_member(found.b_owner, world.partner_b, Role.OWNER)
    return found
