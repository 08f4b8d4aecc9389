"""Portal API tokens on the management API: the token's subtree, its scopes, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from tenants.credentials import authentication, clear_local_cache
from tenants.models import Account, AuditEvent, Membership, Role
from tenants.services import create_session_token, invite_member, issue_token, revoke_token
from tests.api.conftest import PREFIX, error_of, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    clear_local_cache()
    authentication.clear_last_used_notes()
    yield
    clear_local_cache()


def token_client(raw: str, scheme: str = "Bearer") -> APIClient:
    client = APIClient(enforce_csrf_checks=True)  # a token needs no CSRF token
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {raw}")
    return client


def issued(account: Account, *scopes: str) -> str:
    return issue_token(account, name="api", scopes=list(scopes), actor=None).plaintext


def listed_ids(client: APIClient, path: str = "accounts/") -> set[str]:
    response = client.get(f"{PREFIX}/{path}")
    assert response.status_code == 200, response.json()
    return {item["id"] for item in response.json()["results"]}


def test_a_partner_token_reaches_its_whole_tree_and_nothing_else(world):
    client = token_client(issued(world.partner_a, "*"))
    expected = {
        getattr(world, name).public_id
        for name in ("partner_a", "a_child", "a_grandchild", "a_sibling")
    }
    assert listed_ids(client) == expected
    assert error_of(client.get(f"{PREFIX}/accounts/{world.b_child.public_id}/")) == (
        404,
        "NOT_FOUND",
    )
    accounts = {item["account"] for item in client.get(f"{PREFIX}/audit-events/").json()["results"]}
    assert accounts == {world.partner_a.public_id}
    members = client.get(f"{PREFIX}/memberships/").json()["results"]
    assert {item["account"] for item in members} == {
        world.partner_a.public_id,
        world.a_child.public_id,
    }


def test_a_tenant_token_reaches_its_subtree_only(world):
    client = token_client(issued(world.a_child, "user:*"), scheme="Token")
    assert listed_ids(client) == {world.a_child.public_id, world.a_grandchild.public_id}
    for name in ("partner_a", "a_sibling", "b_child"):
        response = client.get(f"{PREFIX}/accounts/{getattr(world, name).public_id}/")
        assert error_of(response) == (404, "NOT_FOUND")
    # The same slug exists under partner B: the token finds its own.
    assert client.get(f"{PREFIX}/accounts/shared-slug/").json()["id"] == world.a_child.public_id


def test_each_action_needs_its_scope(world):
    client = token_client(issued(world.a_child, "user:list", "user:fetch"))
    assert client.get(f"{PREFIX}/accounts/{world.a_grandchild.public_id}/").status_code == 200
    response = client.post(f"{PREFIX}/accounts/{world.a_grandchild.public_id}/suspend/")
    assert error_of(response) == (403, "NOT_AUTHORIZED")
    assert "user:update" in response.json()["message"]
    assert error_of(client.get(f"{PREFIX}/audit-events/")) == (403, "NOT_AUTHORIZED")
    assert error_of(client.get(f"{PREFIX}/memberships/")) == (403, "NOT_AUTHORIZED")


def test_a_token_with_the_scope_changes_its_subtree_and_the_audit_names_the_token(world):
    issued_token = issue_token(world.a_child, name="api", scopes=["user:update"], actor=None)
    raw = issued_token.plaintext
    client = token_client(raw)
    response = client.post(f"{PREFIX}/accounts/{world.a_grandchild.public_id}/suspend/")
    assert response.json()["status"] == "suspended"
    event = AuditEvent.objects.get(account=world.a_grandchild, action="account.suspended")
    assert event.actor is None
    assert event.actor_label == f"token {issued_token.token.token_id}"  # its public id
    assert raw not in event.actor_label
    response = client.post(f"{PREFIX}/accounts/{world.a_sibling.public_id}/suspend/")
    assert error_of(response) == (404, "NOT_FOUND")


def test_a_token_onboards_under_its_own_account(live):
    client = token_client(issued(live.world.a_child, "user:create"))
    response = client.post(
        f"{PREFIX}/accounts/", {"parent": live.world.a_child.public_id, "name": "By token"}
    )
    assert response.status_code == 201
    assert Account.objects.get(public_id=response.json()["id"]).parent == live.world.a_child
    before = row_counts()
    outside = client.post(
        f"{PREFIX}/accounts/", {"parent": live.world.partner_a.public_id, "name": "Outside"}
    )
    assert error_of(outside) == (404, "NOT_FOUND")
    assert row_counts() == before


def test_a_token_cannot_change_people_even_with_every_scope(world):
    client = token_client(issued(world.partner_a, "*"))
    membership = Membership.objects.get(user=world.tenant_user)
    before = row_counts()
    response = client.patch(f"{PREFIX}/memberships/{membership.pk}/", {"role": "viewer"})
    assert error_of(response) == (403, "NOT_AUTHORIZED")
    response = client.post(
        f"{PREFIX}/invitations/",
        {"account": world.a_child.public_id, "email": "x@y.example", "role": "viewer"},
    )
    assert error_of(response) == (403, "NOT_AUTHORIZED")
    invitation, _link = invite_member(
        world.a_child, email="pending@y.example", role=Role.VIEWER, actor=None
    )
    before = row_counts()
    response = client.delete(f"{PREFIX}/invitations/{invitation.pk}/")
    assert error_of(response) == (403, "NOT_AUTHORIZED")
    assert row_counts() == before


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ppk_not_a_real_token",
        "Bearer sk-upstream-secret-1234",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_a_bad_token_is_401_with_a_challenge(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(f"{PREFIX}/accounts/")
    assert error_of(response) == (401, "NOT_AUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(world):
    issued_token = issue_token(world.partner_a, name="api", scopes=["*"], actor=None)
    revoke_token(issued_token.token, actor=None)
    clear_local_cache()
    response = token_client(issued_token.plaintext).get(f"{PREFIX}/accounts/")
    assert error_of(response) == (401, "NOT_AUTHENTICATED")


def test_a_session_token_is_not_an_api_token(world):
    raw = create_session_token(world.a_child, actor=None).plaintext
    response = token_client(raw).get(f"{PREFIX}/accounts/")
    assert response.status_code == 401
