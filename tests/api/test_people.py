"""Memberships and invitations over the management API, for each persona."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tenants.models import AuditEvent, Invitation, Membership, Role
from tests.api.conftest import PREFIX, client_for, error_of, row_counts
from tests.factories import make_member, make_user

pytestmark = pytest.mark.django_db

ERROR_CODES = {401: "NOT_AUTHENTICATED", 403: "NOT_AUTHORIZED", 404: "NOT_FOUND"}


def assert_refused(response, status: int) -> None:
    assert error_of(response) == (status, ERROR_CODES[status])


@pytest.fixture
def sibling_member(world):
    """A viewer on A's sibling tenant: outside the tenant user's subtree."""
    return make_member(make_user("sibling_viewer"), world.a_sibling, Role.VIEWER)


# -- memberships -------------------------------------------------------------------------------

MEMBERS_SEEN = {
    "a_owner": {"a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "sibling_viewer"},
    "a_viewer": {"a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "sibling_viewer"},
    "tenant_user": {"tenant_user"},
    "b_owner": {"b_owner"},
    "outsider": set(),
}


@pytest.mark.parametrize(("persona", "seen"), MEMBERS_SEEN.items())
def test_the_member_list_holds_the_accounts_the_persona_reaches(
    world, sibling_member, persona, seen
):
    response = client_for(world, persona).get(f"{PREFIX}/memberships/")
    assert {item["user"]["username"] for item in response.json()["results"]} == seen


def test_the_member_list_filters_by_account_and_refuses_a_foreign_one(world, sibling_member):
    client = client_for(world, "a_owner")
    response = client.get(f"{PREFIX}/memberships/?account={world.a_sibling.public_id}")
    assert [item["id"] for item in response.json()["results"]] == [sibling_member.pk]
    assert_refused(client.get(f"{PREFIX}/memberships/?account={world.partner_b.public_id}"), 404)


def test_anonymous_callers_get_401_on_every_people_endpoint(world, sibling_member):
    client = client_for(world, "anonymous")
    for method, url in [
        ("get", f"{PREFIX}/memberships/"),
        ("get", f"{PREFIX}/memberships/{sibling_member.pk}/"),
        ("patch", f"{PREFIX}/memberships/{sibling_member.pk}/"),
        ("delete", f"{PREFIX}/memberships/{sibling_member.pk}/"),
        ("get", f"{PREFIX}/invitations/"),
        ("post", f"{PREFIX}/invitations/"),
        ("delete", f"{PREFIX}/invitations/1/"),
    ]:
        assert_refused(getattr(client, method)(url), 401)


FETCH_SIBLING_MEMBER = {
    "a_owner": 200,
    "a_admin": 200,
    "a_support": 200,
    "a_viewer": 200,
    "tenant_user": 404,
    "b_owner": 404,
    "outsider": 404,
    "staff": 200,
    "anonymous": 401,
}
CHANGE_SIBLING_MEMBER = {
    **FETCH_SIBLING_MEMBER,
    "a_support": 403,
    "a_viewer": 403,
}


@pytest.mark.parametrize(("persona", "status"), FETCH_SIBLING_MEMBER.items())
def test_fetching_a_membership_is_scoped(world, sibling_member, persona, status):
    response = client_for(world, persona).get(f"{PREFIX}/memberships/{sibling_member.pk}/")
    if status == 200:
        assert response.json()["account"] == world.a_sibling.public_id
        assert response.json()["role"] == "viewer"
    else:
        assert_refused(response, status)


@pytest.mark.parametrize(("persona", "status"), CHANGE_SIBLING_MEMBER.items())
def test_changing_a_role_needs_admin_in_reach(world, sibling_member, persona, status):
    response = client_for(world, persona).patch(
        f"{PREFIX}/memberships/{sibling_member.pk}/", {"role": "support"}
    )
    sibling_member.refresh_from_db()
    if status == 200:
        assert response.json()["role"] == "support"
        assert sibling_member.role == "support"
    else:
        assert_refused(response, status)
        assert sibling_member.role == "viewer"


@pytest.mark.parametrize(("persona", "status"), CHANGE_SIBLING_MEMBER.items())
def test_removing_a_member_needs_admin_in_reach(world, sibling_member, persona, status):
    response = client_for(world, persona).delete(f"{PREFIX}/memberships/{sibling_member.pk}/")
    exists = Membership.objects.filter(pk=sibling_member.pk).exists()
    if status == 200:
        assert response.status_code == 204
        assert not exists
    else:
        assert_refused(response, status)
        assert exists


def test_an_admin_cannot_grant_owner_403(world, sibling_member):
    response = client_for(world, "a_admin").patch(
        f"{PREFIX}/memberships/{sibling_member.pk}/", {"role": "owner"}
    )
    assert error_of(response) == (403, "NOT_AUTHORIZED")


def test_the_last_owner_of_a_partner_cannot_be_removed_409(world):
    owner = Membership.objects.get(user=world.a_owner, account=world.partner_a)
    response = client_for(world, "a_owner").delete(f"{PREFIX}/memberships/{owner.pk}/")
    assert error_of(response) == (409, "CONFLICT")


def test_an_unknown_role_is_400_naming_the_field(world, sibling_member):
    response = client_for(world, "a_owner").patch(
        f"{PREFIX}/memberships/{sibling_member.pk}/", {"role": "emperor"}
    )
    assert error_of(response) == (400, "BAD_REQUEST")
    assert response.json()["message"].startswith("role:")


# -- invitations -------------------------------------------------------------------------------

INVITE_ON_A_SIBLING = {
    "a_owner": 201,
    "a_admin": 201,
    "a_support": 403,
    "a_viewer": 403,
    "tenant_user": 404,
    "b_owner": 404,
    "outsider": 404,
    "staff": 201,
    "anonymous": 401,
}


@pytest.mark.parametrize(("persona", "status"), INVITE_ON_A_SIBLING.items())
def test_inviting_needs_admin_on_the_account(world, mailoutbox, persona, status):
    before = row_counts()
    response = client_for(world, persona).post(
        f"{PREFIX}/invitations/",
        {"account": world.a_sibling.public_id, "email": "New@Person.example", "role": "viewer"},
    )
    if status == 201:
        body = response.json()
        assert response.status_code == 201
        assert (body["email"], body["role"], body["state"]) == (
            "new@person.example",
            "viewer",
            "pending",
        )
        assert "token" not in body
        assert "link" not in body
        assert Invitation.objects.filter(account=world.a_sibling).count() == 1
    else:
        assert_refused(response, status)
        assert row_counts() == before


def test_a_tenant_user_invites_to_its_own_account(world):
    response = client_for(world, "tenant_user").post(
        f"{PREFIX}/invitations/",
        {"account": world.a_child.public_id, "email": "x@child.example", "role": "admin"},
    )
    assert response.status_code == 201


@pytest.fixture
def invitation(world):
    client = client_for(world, "a_owner")
    response = client.post(
        f"{PREFIX}/invitations/",
        {"account": world.a_sibling.public_id, "email": "inv@x.example", "role": "support"},
    )
    return Invitation.objects.get(pk=response.json()["id"])


READ_INVITATIONS = {
    "a_owner": 200,
    "a_admin": 200,
    "a_support": 404,
    "a_viewer": 404,
    "tenant_user": 404,
    "b_owner": 404,
    "outsider": 404,
    "staff": 200,
    "anonymous": 401,
}


@pytest.mark.parametrize(("persona", "status"), READ_INVITATIONS.items())
def test_invitations_are_visible_to_admins_only(world, invitation, persona, status):
    client = client_for(world, persona)
    one = client.get(f"{PREFIX}/invitations/{invitation.pk}/")
    listed = client.get(f"{PREFIX}/invitations/")
    if status == 200:
        assert one.json()["email"] == "inv@x.example"
        assert [item["id"] for item in listed.json()["results"]] == [invitation.pk]
    elif status == 401:
        assert_refused(one, 401)
        assert_refused(listed, 401)
    else:
        assert_refused(one, status)
        assert listed.json()["results"] == []


def test_invitation_input_is_checked_and_leaves_no_rows(world):
    client = client_for(world, "a_owner")
    before = row_counts()
    for body, field in [
        ({"account": world.a_sibling.public_id, "email": "nope", "role": "viewer"}, "email"),
        ({"account": world.a_sibling.public_id, "email": "a@b.example", "role": "god"}, "role"),
        ({"account": 42, "email": "a@b.example", "role": "viewer"}, "account"),
        ({"email": "a@b.example", "role": "viewer"}, "account"),
        (
            {
                "account": world.a_sibling.public_id,
                "email": "a@b.example",
                "role": "viewer",
                "x": 1,
            },
            "x",
        ),
    ]:
        response = client.post(f"{PREFIX}/invitations/", body)
        assert error_of(response) == (400, "BAD_REQUEST"), body
        assert field in response.json()["message"]
    assert row_counts() == before


def test_inviting_an_existing_member_is_409(world):
    response = client_for(world, "a_owner").post(
        f"{PREFIX}/invitations/",
        {"account": world.a_child.public_id, "email": world.tenant_user.email, "role": "viewer"},
    )
    assert error_of(response) == (409, "CONFLICT")


REVOKE_INVITATION = {**READ_INVITATIONS, "a_owner": 204, "a_admin": 204, "staff": 204}


@pytest.mark.parametrize(("persona", "status"), REVOKE_INVITATION.items())
def test_an_invitation_is_revoked_by_the_admins_who_see_it(world, invitation, persona, status):
    response = client_for(world, persona).delete(f"{PREFIX}/invitations/{invitation.pk}/")
    if status == 204:
        assert response.status_code == 204
        assert not Invitation.objects.filter(pk=invitation.pk).exists()
        event = AuditEvent.objects.get(action="member.invitation_revoked")
        assert (event.account, event.changes) == (
            world.a_sibling,
            {"email": "inv@x.example", "role": "support"},
        )
    else:
        assert_refused(response, status)
        assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_an_admin_cannot_revoke_an_invitation_to_the_owner_role(world):
    client = client_for(world, "a_owner")
    response = client.post(
        f"{PREFIX}/invitations/",
        {"account": world.a_sibling.public_id, "email": "boss@x.example", "role": "owner"},
    )
    pk = response.json()["id"]
    refused = client_for(world, "a_admin").delete(f"{PREFIX}/invitations/{pk}/")
    assert error_of(refused) == (403, "NOT_AUTHORIZED")
    assert Invitation.objects.filter(pk=pk).exists()


def test_an_accepted_invitation_cannot_be_revoked(world, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    response = client_for(world, "a_owner").delete(f"{PREFIX}/invitations/{invitation.pk}/")
    assert error_of(response) == (409, "CONFLICT")
    assert "remove the member instead" in response.json()["message"]
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_revoking_twice_is_a_404(world, invitation):
    client = client_for(world, "a_owner")
    assert client.delete(f"{PREFIX}/invitations/{invitation.pk}/").status_code == 204
    assert_refused(client.delete(f"{PREFIX}/invitations/{invitation.pk}/"), 404)
