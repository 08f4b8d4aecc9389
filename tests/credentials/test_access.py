"""tokens_for / get_token_for: every persona reaches the tokens of exactly its subtree."""

from __future__ import annotations

import pytest
from django.http import Http404

from tenants import access
from tenants.models import Role, Token
from tenants.services import issue_token
from tests.factories import World, make_world

pytestmark = pytest.mark.django_db

TOKEN_HOLDERS = ("partner_a", "a_child", "a_grandchild", "a_sibling", "partner_b", "b_child")
A_TREE = ("partner_a", "a_child", "a_grandchild", "a_sibling")
READS = {
    "a_owner": A_TREE,
    "a_admin": A_TREE,
    "a_support": A_TREE,
    "a_viewer": A_TREE,
    "tenant_user": ("a_child", "a_grandchild"),
    "b_owner": ("partner_b", "b_child"),
    "outsider": (),
    "anonymous": (),
    "staff": TOKEN_HOLDERS,
}
# Changing a token (rotate, revoke) needs the admin role: get_token_for's default.
CHANGES = {
    **READS,
    "a_support": (),
    "a_viewer": (),
}


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def tokens(world: World) -> dict[str, Token]:
    """One token on each account of the world, named after it."""
    return {
        name: issue_token(getattr(world, name), name=name, scopes=["*"], actor=None).token
        for name in TOKEN_HOLDERS
    }


@pytest.mark.parametrize("persona", READS)
def test_tokens_for_lists_exactly_the_tokens_of_the_personas_subtree(world, tokens, persona):
    found = {token.name for token in access.tokens_for(getattr(world, persona))}
    assert found == set(READS[persona])


@pytest.mark.parametrize("persona", READS)
@pytest.mark.parametrize("holder", TOKEN_HOLDERS)
def test_get_token_for_shows_reachable_tokens_and_404s_the_rest(world, tokens, persona, holder):
    user, token = getattr(world, persona), tokens[holder]
    if holder in READS[persona]:
        assert access.get_token_for(user, token.token_id, min_role=Role.VIEWER) == token
    else:
        with pytest.raises(Http404):
            access.get_token_for(user, token.token_id, min_role=Role.VIEWER)


@pytest.mark.parametrize("persona", CHANGES)
@pytest.mark.parametrize("holder", TOKEN_HOLDERS)
def test_get_token_for_defaults_to_the_admin_role_that_may_change_it(
    world, tokens, persona, holder
):
    user, token = getattr(world, persona), tokens[holder]
    if holder in CHANGES[persona]:
        assert access.get_token_for(user, token.token_id) == token
    else:
        with pytest.raises(Http404):
            access.get_token_for(user, token.token_id)


def test_missing_and_not_yours_raise_the_same_404(world, tokens):
    with pytest.raises(Http404) as missing:
        access.get_token_for(world.b_owner, "0" * 16)
    with pytest.raises(Http404) as not_yours:
        access.get_token_for(world.b_owner, tokens["a_child"].token_id)
    assert str(missing.value) == str(not_yours.value)


def test_get_token_for_is_one_query(world, tokens, django_assert_num_queries):
    with django_assert_num_queries(1):
        token = access.get_token_for(world.a_owner, tokens["a_grandchild"].token_id)
        assert token.account.name == "A Grandchild"
