"""Small factory functions for tests: one call, one object, sensible defaults, no fixture files."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from tenants.models import Account, Membership, Role, Token, WidgetOrigin
from tenants.services import create_partner
from tenants.services.tokens import issue_credential
from tenants.widget import origins as widget_origins

_numbers = itertools.count(1)
# Local-only partners point here: nothing listens, so a test that reaches the upstream by
# mistake fails loudly instead of talking to something.
UNREACHABLE_UPSTREAM = "http://127.0.0.1:9"


def make_user(
    username: str = "", *, email: str = "", staff: bool = False, active: bool = True
) -> User:
    username = username or f"user{next(_numbers)}"
    return User.objects.create_user(
        username=username,
        email=email or f"{username}@people.example",
        password=None,
        is_staff=staff,
        is_active=active,
    )


def make_partner(
    name: str = "", *, upstream_url: str = UNREACHABLE_UPSTREAM, secret: str = ""
) -> Account:
    """A partner through the real service (creating one makes no upstream call)."""
    return create_partner(
        name=name or f"Partner {next(_numbers)}",
        upstream_base_url=upstream_url,
        upstream_secret=secret or "sk-" + secrets.token_hex(16),
    )


def make_tenant(parent: Account, name: str = "", *, slug: str = "", email: str = "") -> Account:
    """A tenant row without an upstream child, for tests of access rules (no network)."""
    number = next(_numbers)
    tenant = Account.objects.create(
        public_id=f"usr_local{number}",
        parent=parent,
        slug=slug or f"tenant-{number}",
        name=name or f"Tenant {number}",
        email=email,
    )
    tenant.path = f"{parent.path}{tenant.pk}/"
    tenant.save(update_fields=["path"])
    return tenant


def make_member(user: User, account: Account, role: Role = Role.VIEWER) -> Membership:
    return Membership.objects.create(user=user, account=account, role=role)


@dataclass
class World:
    """Two partners and the people around them, the same in every access test.

    partner_a ─┬─ a_child ── a_grandchild      partner_b ── b_child
               └─ a_sibling
    """

    partner_a: Account
    a_child: Account
    a_grandchild: Account
    a_sibling: Account
    partner_b: Account
    b_child: Account
    a_owner: User
    a_admin: User
    a_support: User
    a_viewer: User
    tenant_user: User  # owner of a_child only
    b_owner: User
    outsider: User
    staff: User
    anonymous: AnonymousUser


def make_world() -> World:
    partner_a = make_partner("Partner A")
    a_child = make_tenant(partner_a, "A Child", slug="shared-slug")
    a_grandchild = make_tenant(a_child, "A Grandchild")
    a_sibling = make_tenant(partner_a, "A Sibling")
    partner_b = make_partner("Partner B")
    b_child = make_tenant(partner_b, "B Child", slug="shared-slug")
    world = World(
        partner_a=partner_a,
        a_child=a_child,
        a_grandchild=a_grandchild,
        a_sibling=a_sibling,
        partner_b=partner_b,
        b_child=b_child,
        a_owner=make_user("a_owner"),
        a_admin=make_user("a_admin"),
        a_support=make_user("a_support"),
        a_viewer=make_user("a_viewer"),
        tenant_user=make_user("tenant_user"),
        b_owner=make_user("b_owner"),
        outsider=make_user("outsider"),
        staff=make_user("operator", staff=True),
        anonymous=AnonymousUser(),
    )
    make_member(world.a_owner, partner_a, Role.OWNER)
    make_member(world.a_admin, partner_a, Role.ADMIN)
    make_member(world.a_support, partner_a, Role.SUPPORT)
    make_member(world.a_viewer, partner_a, Role.VIEWER)
    make_member(world.tenant_user, a_child, Role.OWNER)
    make_member(world.b_owner, partner_b, Role.OWNER)
    return world


def make_widget_key(
    account: Account,
    *,
    bot_id: str = "bot_local",
    origins: tuple[str, ...] = ("https://shop.example",),
) -> Token:
    """A widget key row without the upstream's bot check (for page and access tests that
    make no network call); live tests issue theirs through ``issue_widget_key``."""
    issued = issue_credential(
        account,
        "widget_key.issued",
        Token.Kind.WIDGET,
        actor=None,
        context=None,
        name="Site widget",
        scopes=["chat:stream"],
        bot_ids=[bot_id],
        rpm=60,
        session_rpm=10,
    )
    WidgetOrigin.objects.bulk_create(
        [WidgetOrigin(token=issued.token, origin=origin) for origin in origins]
    )
    # issue_credential announced the key when it committed, before these rows existed: announce
    # again, as the service does once a key's origins are saved, so preflights see them.
    transaction.on_commit(widget_origins.forget)
    return issued.token
