"""Bad input of every kind: a readable ``{message, code}``, the right status, and no rows."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from portal.upstream import UpstreamTimeout, UpstreamUnavailable
from tenants.api.errors import describe
from tenants.api.parsers import MAX_BODY_BYTES
from tenants.services import AccountError
from tests.api.conftest import PREFIX, client_for, error_of, row_counts

pytestmark = pytest.mark.django_db


def post_raw(client, url: str, raw: bytes | str, content_type: str = "application/json"):
    return client.generic("POST", url, raw, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No parent"}, "parent"),
        ({"parent": "x"}, "name"),
        ({"parent": "x", "name": 42}, "name"),
        ({"parent": "x", "name": ["a"]}, "name"),
        ({"parent": "x", "name": "A", "email": "not-an-email"}, "email"),
        ({"parent": "x", "name": "A", "meta": "a string"}, "meta"),
        ({"parent": "x", "name": "A", "limits": [1, 2]}, "limits"),
        ({"parent": "x", "name": "A", "colour": "blue"}, "colour"),
        ({"parent": "x", "name": "A" * 201}, "name"),
        ({"parent": "x", "name": None}, "name"),
    ],
)
def test_a_bad_onboarding_body_is_400_naming_the_field_and_leaves_no_rows(world, body, field):
    body = {
        key: world.partner_a.public_id if value == "x" else value for key, value in body.items()
    }
    before = row_counts()
    response = client_for(world, "a_owner").post(f"{PREFIX}/accounts/", body, format="json")
    assert error_of(response) == (400, "BAD_REQUEST")
    assert f"{field}:" in response.json()["message"]
    assert row_counts() == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"limits": {"tokens": -1}}, "tokens"),
        ({"limits": {"tokens": "many"}}, "tokens"),
        ({"name": "   "}, "name"),
    ],
)
def test_a_value_the_service_refuses_is_400_with_its_reason(world, body, words):
    before = row_counts()
    response = client_for(world, "a_owner").post(
        f"{PREFIX}/accounts/", {"parent": world.partner_a.public_id, "name": "Ok", **body}
    )
    assert error_of(response) == (400, "BAD_REQUEST")
    assert words in response.json()["message"]
    assert row_counts() == before


@pytest.mark.parametrize(
    "raw",
    ["{", "not json", '{"name": NaN}', "[1, 2", '{"a": 1}}', b"\xff\xfe"],
)
def test_malformed_json_is_400_and_leaves_no_rows(world, raw):
    before = row_counts()
    response = post_raw(client_for(world, "a_owner"), f"{PREFIX}/accounts/", raw)
    assert error_of(response) == (400, "BAD_REQUEST")
    assert "JSON" in response.json()["message"] or "UTF-8" in response.json()["message"]
    assert row_counts() == before


@pytest.mark.parametrize("raw", ["[]", '"a string"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400(world, raw):
    response = post_raw(client_for(world, "a_owner"), f"{PREFIX}/accounts/", raw)
    assert error_of(response) == (400, "BAD_REQUEST")


def test_an_oversized_body_is_400_and_leaves_no_rows(world):
    before = row_counts()
    body = json.dumps(
        {"parent": world.partner_a.public_id, "name": "Big", "meta": {"x": "a" * MAX_BODY_BYTES}}
    )
    response = post_raw(client_for(world, "a_owner"), f"{PREFIX}/accounts/", body)
    assert error_of(response) == (400, "BAD_REQUEST")
    assert "larger than" in response.json()["message"]
    assert row_counts() == before


def test_a_form_body_is_415(world):
    response = client_for(world, "a_owner").post(
        f"{PREFIX}/accounts/", {"name": "x"}, format="multipart"
    )
    assert error_of(response) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_an_unknown_parent_and_a_foreign_parent_get_the_same_404(world):
    client = client_for(world, "a_owner")
    before = row_counts()
    missing = client.post(f"{PREFIX}/accounts/", {"parent": "usr_nobody", "name": "X"})
    foreign = client.post(f"{PREFIX}/accounts/", {"parent": world.partner_b.public_id, "name": "X"})
    assert error_of(missing) == error_of(foreign) == (404, "NOT_FOUND")
    assert missing.json() == foreign.json()
    assert row_counts() == before


def test_unknown_fields_on_an_update_are_refused(world):
    response = client_for(world, "a_owner").patch(
        f"{PREFIX}/accounts/{world.partner_a.public_id}/", {"status": "closed", "id": "x"}
    )
    assert error_of(response) == (400, "BAD_REQUEST")
    assert "id: Unknown field" in response.json()["message"]
    assert "status: Unknown field" in response.json()["message"]


@pytest.mark.parametrize(
    "query", ["take=0", "take=101", "take=abc", "cursor=%%%", "cursor=cD1hYmM%3D"]
)
def test_bad_paging_parameters_are_400(world, query):
    response = client_for(world, "a_owner").get(f"{PREFIX}/accounts/?{query}")
    assert error_of(response) == (400, "BAD_REQUEST")


def test_an_unknown_path_under_the_prefix_is_a_json_404(world):
    client = client_for(world, "a_owner")
    assert error_of(client.get(f"{PREFIX}/nothing-here/")) == (404, "NOT_FOUND")
    response = client.get(f"{PREFIX}/accounts")
    assert error_of(response) == (404, "NOT_FOUND")
    assert "slash" in response.json()["message"]


def test_a_non_numeric_id_is_the_same_404_as_a_missing_one(world):
    client = client_for(world, "a_owner")
    assert client.get(f"{PREFIX}/memberships/abc/").json() == (
        client.get(f"{PREFIX}/memberships/999999/").json()
    )


def test_a_session_write_without_the_csrf_token_is_403(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.a_owner)
    before = row_counts()
    response = client.post(f"{PREFIX}/accounts/{world.a_sibling.public_id}/suspend/")
    assert error_of(response) == (403, "NOT_AUTHORIZED")
    assert "CSRF" in response.json()["message"]
    assert row_counts() == before


def test_a_session_write_with_the_csrf_token_works(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.a_owner)
    client.get("/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"{PREFIX}/accounts/{world.a_sibling.public_id}/suspend/", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200


def test_an_inactive_user_is_401(world):
    client = client_for(world, "a_owner")
    world.a_owner.is_active = False
    world.a_owner.save()
    assert error_of(client.get(f"{PREFIX}/accounts/")) == (401, "NOT_AUTHENTICATED")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (AccountError("Nope.", "CONFLICT"), (409, "CONFLICT")),
        (AccountError("Nope."), (400, "BAD_REQUEST")),
        (AccountError("Nope.", "NOT_AUTHORIZED"), (403, "NOT_AUTHORIZED")),
        (AccountError("Upstream said so.", "NOT_AUTHENTICATED"), (502, "BAD_GATEWAY")),
        (AccountError("Slow.", "GATEWAY_TIMEOUT"), (504, "GATEWAY_TIMEOUT")),
        (UpstreamTimeout("slow"), (504, "GATEWAY_TIMEOUT")),
        (UpstreamUnavailable("down"), (502, "BAD_GATEWAY")),
        (RuntimeError("bug"), (500, "INTERNAL_SERVER_ERROR")),
    ],
)
def test_each_failure_maps_to_a_status_and_code(exc, expected):
    status, code, message = describe(exc)
    assert (status, code) == expected
    assert message
