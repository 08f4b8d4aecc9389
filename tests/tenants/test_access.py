"""The tenancy chokepoint: every persona reaches exactly its subtree, and nothing else exists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from tenants import access
from tenants.models import Account, Role
from tests.factories import World, make_member, make_partner, make_user, make_world

pytestmark = pytest.mark.django_db

A_TREE = ("partner_a", "a_child", "a_grandchild", "a_sibling")
ALL = (*A_TREE, "partner_b", "b_child")
REACH = {
    "a_owner": A_TREE,
    "a_admin": A_TREE,
    "a_support": A_TREE,
    "a_viewer": A_TREE,
    "tenant_user": ("a_child", "a_grandchild"),
    "b_owner": ("partner_b", "b_child"),
    "outsider": (),
    "anonymous": (),
    "staff": ALL,
}
CASES = [(persona, name, name in reach) for persona, reach in REACH.items() for name in ALL]


@pytest.fixture
def world():
    return make_world()


def names(world: World, accounts: Iterable[Account]) -> set[str]:
    by_pk = {getattr(world, name).pk: name for name in ALL}
    return {by_pk[account.pk] for account in accounts}


@pytest.mark.parametrize("persona", REACH)
def test_accounts_for_is_exactly_the_subtrees_of_the_personas_memberships(world, persona):
    assert names(world, access.accounts_for(getattr(world, persona))) == set(REACH[persona])


@pytest.mark.parametrize(("persona", "name", "reachable"), CASES)
def test_get_account_for_finds_reachable_accounts_and_404s_the_rest(
    world, persona, name, reachable
):
    user, account = getattr(world, persona), getattr(world, name)
    if reachable:
        assert access.get_account_for(user, account.public_id) == account
    else:
        with pytest.raises(Http404):
            access.get_account_for(user, account.public_id)


def test_missing_and_not_yours_raise_the_same_404(world):
    with pytest.raises(Http404) as missing:
        access.get_account_for(world.b_owner, "usr_does_not_exist")
    with pytest.raises(Http404) as not_yours:
        access.get_account_for(world.b_owner, world.a_child.public_id)
    assert str(missing.value) == str(not_yours.value)


def test_a_tenant_user_reaches_its_grandchildren_but_not_its_sibling_or_parent(world):
    user = world.tenant_user
    assert access.get_account_for(user, world.a_grandchild.public_id) == world.a_grandchild
    for name in ("a_sibling", "partner_a"):
        with pytest.raises(Http404):
            access.get_account_for(user, getattr(world, name).public_id)


def test_a_membership_does_not_reach_an_account_whose_path_only_starts_with_the_same_digits():
    # Paths end in "/" so that "/7/" is not a prefix of "/70/".
    partner, lookalike = make_partner(), make_partner()
    Account.objects.filter(pk=lookalike.pk).update(path=f"/{partner.pk}0/")
    user = make_user()
    make_member(user, partner, Role.OWNER)
    assert set(access.accounts_for(user)) == {partner}


def test_min_role_narrows_what_is_reachable(world):
    with pytest.raises(Http404):
        access.get_account_for(world.a_viewer, world.a_child.public_id, min_role=Role.ADMIN)
    found = access.get_account_for(world.a_admin, world.a_child.public_id, min_role=Role.ADMIN)
    assert found == world.a_child
    assert set(access.accounts_for(world.a_support, min_role=Role.ADMIN)) == set()


def test_a_slug_finds_the_account_and_the_shallowest_wins_for_staff(world):
    assert access.get_account_for(world.a_owner, "shared-slug") == world.a_child
    assert access.get_account_for(world.b_owner, "shared-slug") == world.b_child
    assert access.get_account_for(world.staff, world.partner_a.slug) == world.partner_a
    with pytest.raises(Http404):
        access.get_account_for(world.outsider, "shared-slug")


def test_get_account_by_pk_for_scopes_like_the_public_id(world):
    assert access.get_account_by_pk_for(world.tenant_user, world.a_child.pk) == world.a_child
    with pytest.raises(Http404):
        access.get_account_by_pk_for(world.tenant_user, world.partner_a.pk)


def test_an_inactive_user_reaches_nothing_even_with_a_membership(world):
    world.a_owner.is_active = False
    world.a_owner.save()
    assert not access.accounts_for(world.a_owner).exists()
    assert access.role_on(world.a_owner, world.partner_a) is None


def test_an_inactive_staff_user_reaches_nothing():
    staff = make_user(staff=True, active=False)
    assert not access.accounts_for(staff).exists()


@pytest.mark.parametrize(
    ("persona", "name", "role"),
    [
        ("a_owner", "a_grandchild", Role.OWNER),
        ("a_admin", "a_sibling", Role.ADMIN),
        ("a_support", "a_child", Role.SUPPORT),
        ("a_viewer", "partner_a", Role.VIEWER),
        ("tenant_user", "a_grandchild", Role.OWNER),
        ("tenant_user", "partner_a", None),
        ("tenant_user", "a_sibling", None),
        ("b_owner", "a_child", None),
        ("outsider", "partner_a", None),
        ("anonymous", "partner_a", None),
        ("staff", "b_child", Role.OWNER),
    ],
)
def test_role_on_reads_the_role_inherited_down_the_tree(world, persona, name, role):
    assert access.role_on(getattr(world, persona), getattr(world, name)) == role


def test_the_strongest_role_along_the_ancestry_wins(world):
    make_member(world.a_viewer, world.a_child, Role.ADMIN)
    assert access.role_on(world.a_viewer, world.a_grandchild) == Role.ADMIN
    assert access.role_on(world.a_viewer, world.a_sibling) == Role.VIEWER
    # A weaker role lower down does not weaken a stronger one above.
    make_member(world.a_owner, world.a_child, Role.VIEWER)
    assert access.role_on(world.a_owner, world.a_grandchild) == Role.OWNER


def test_require_role_hides_unreachable_accounts_and_refuses_weak_roles(world):
    assert access.require_role(world.a_admin, world.a_child, Role.SUPPORT) == Role.ADMIN
    with pytest.raises(PermissionDenied):
        access.require_role(world.a_viewer, world.a_child, Role.ADMIN)
    with pytest.raises(Http404):
        access.require_role(world.b_owner, world.a_child, Role.VIEWER)


def test_role_ordering_is_owner_admin_support_viewer():
    assert Role.at_least(Role.SUPPORT) == [Role.OWNER, Role.ADMIN, Role.SUPPORT]
    assert Role.OWNER.covers(Role.ADMIN)
    assert not Role.SUPPORT.covers(Role.ADMIN)
    assert Role.strongest(["viewer", "admin", "support"]) == Role.ADMIN
    assert Role.strongest([]) is None


def test_accounts_for_scopes_in_one_query(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(list(access.accounts_for(world.tenant_user))) == 2


def test_get_account_for_never_loads_an_account_outside_the_subtree(world, monkeypatch):
    # Scoping is in the query: the lookup for a foreign id fetches no row at all.
    loaded: list[Account] = []
    original = Account.from_db

    def spy(cls: type[Account], /, *args: Any, **kwargs: Any) -> Account:
        instance = original(*args, **kwargs)
        loaded.append(instance)
        return instance

    monkeypatch.setattr(Account, "from_db", classmethod(spy))
    with pytest.raises(Http404):
        access.get_account_for(world.b_owner, world.a_child.public_id)
    assert loaded == []
    access.get_account_for(world.a_owner, world.a_child.public_id)
    assert loaded == [world.a_child]  # the spy does see rows that are loaded


def test_memberships_invitations_and_audit_are_scoped_to_the_subtree(world):
    b_members = access.memberships_for(world.b_owner)
    assert {m.user for m in b_members} == {world.b_owner}
    with pytest.raises(Http404):
        access.get_membership_for(world.b_owner, world.a_owner.memberships.get().pk)
    own = world.tenant_user.memberships.get()
    assert access.get_membership_for(world.tenant_user, own.pk) == own
    # Admins of A manage the tenant's members; the tenant user cannot reach A's.
    assert access.get_membership_for(world.a_admin, own.pk) == own
    with pytest.raises(Http404):
        access.get_membership_for(world.tenant_user, world.a_viewer.memberships.get().pk)
    with pytest.raises(Http404):
        access.get_membership_for(world.a_viewer, own.pk)  # viewers do not manage people
    events = access.audit_events_for(world.tenant_user)
    assert {event.account_id for event in events} <= {world.a_child.pk, world.a_grandchild.pk}
    assert access.audit_events_for(world.a_owner).filter(account=world.partner_a).exists()
    assert not access.audit_events_for(world.b_owner).filter(account=world.partner_a).exists()
