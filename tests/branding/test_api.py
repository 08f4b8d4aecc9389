"""``/api/v1/portal/accounts/{id}/branding/``: read, change (JSON or multipart with a logo) and
reset a partner's brand, for every persona and for tokens; errors as ``{message, code}``."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from tenants.models import AuditEvent, Brand, BrandLogo
from tests.api.conftest import PREFIX, client_for, error_of, token_client
from tests.branding.conftest import A_HOST, B_HOST, image

# persona: status of reading partner A's branding (changing it answers the same)
STATUSES = {
    "a_owner": 200,
    "a_admin": 200,
    "staff": 200,
    "a_support": 403,
    "a_viewer": 403,
    "tenant_user": 404,
    "b_owner": 404,
    "outsider": 404,
    "anonymous": 401,
}


def url_of(account) -> str:
    return f"{PREFIX}/accounts/{account.public_id}/branding/"


@pytest.mark.parametrize("persona", sorted(STATUSES))
def test_reading_and_changing_a_partners_brand_by_persona(branded, persona):
    client = client_for(branded.world, persona)
    expected = STATUSES[persona]
    read = client.get(url_of(branded.partner_a))
    changed = client.patch(url_of(branded.partner_a), {"footer_text": persona}, format="json")
    reset = client.delete(url_of(branded.partner_a))
    if expected == 200:
        assert read.status_code == 200
        assert read.json()["product_name"] == "Acme Cloud"
        assert changed.json()["footer_text"] == persona
        assert reset.status_code == 204
        assert not Brand.objects.filter(partner=branded.partner_a).exists()
    else:
        code = {401: "NOT_AUTHENTICATED", 403: "NOT_AUTHORIZED", 404: "NOT_FOUND"}[expected]
        for response in (read, changed, reset):
            assert error_of(response) == (expected, code)
        assert Brand.objects.get(partner=branded.partner_a).footer_text != persona


def test_partner_bs_owner_cannot_tell_partner_as_brand_from_a_missing_one(branded):
    client = client_for(branded.world, "b_owner")
    assert error_of(client.get(url_of(branded.partner_a))) == (404, "NOT_FOUND")
    assert error_of(client.get(f"{PREFIX}/accounts/prt_nope/branding/")) == (404, "NOT_FOUND")
    assert client.get(url_of(branded.partner_a)).json()["message"] == "No such partner."


def test_the_brand_is_read_with_its_logo_hosts_and_readable_text_colour(branded):
    body = client_for(branded.world, "a_owner").get(url_of(branded.partner_a)).json()
    assert body["partner"] == branded.partner_a.public_id
    assert body["custom"] is True
    assert body["hosts"] == [A_HOST]
    assert body["primary_color"] == "#0f766e"
    assert body["text_on_primary_color"] == "#ffffff"
    assert body["logo"]["content_type"] == "image/png"
    assert body["logo"]["url"] == branded.logo_url(branded.partner_a)
    assert (body["logo"]["width"], body["logo"]["height"]) == (40, 20)
    assert body["logo"]["size"] == len(branded.a_logo)


def test_a_partner_without_a_brand_reads_as_the_default_one(branded):
    client = client_for(branded.world, "staff")
    client.delete(url_of(branded.partner_a))
    body = client.get(url_of(branded.partner_a)).json()
    assert body["custom"] is False
    assert body["product_name"] == "Partner Portal"
    assert body["hosts"] == []
    assert body["logo"] is None


def test_a_tenant_has_no_branding_endpoint(branded):
    client = client_for(branded.world, "tenant_user")
    assert error_of(client.get(url_of(branded.a_child))) == (404, "NOT_FOUND")
    staff = client_for(branded.world, "staff")
    assert error_of(staff.get(url_of(branded.a_child))) == (404, "NOT_FOUND")


def test_a_partner_is_found_by_its_slug_too(branded):
    response = client_for(branded.world, "a_owner").get(
        f"{PREFIX}/accounts/{branded.partner_a.slug}/branding/"
    )
    assert response.json()["partner"] == branded.partner_a.public_id


def test_a_logo_is_uploaded_as_multipart_with_other_fields(branded):
    client = client_for(branded.world, "a_admin")
    logo = SimpleUploadedFile("logo.webp", image("WEBP", (64, 64)), content_type="image/webp")
    response = client.patch(
        url_of(branded.partner_a),
        {"logo": logo, "product_name": "Acme Next", "hosts": [A_HOST, "next.acme.example"]},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["product_name"] == "Acme Next"
    assert body["logo"]["content_type"] == "image/webp"
    assert body["hosts"] == [A_HOST, "next.acme.example"]
    event = AuditEvent.objects.get(action="brand.updated")
    assert set(event.changes) == {"logo", "product_name", "hosts"}


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "SVG logos"),
        (SimpleUploadedFile("x.png", b"<html>hello</html>"), "not a PNG, JPEG or WebP"),
        (SimpleUploadedFile("x.png", image("PNG", (2000, 1000))), "2000 x 1000 pixels"),
    ],
)
def test_a_bad_logo_is_a_400_and_changes_nothing(branded, upload, message):
    client = client_for(branded.world, "a_owner")
    response = client.patch(
        url_of(branded.partner_a), {"logo": upload, "product_name": "Nope"}, format="multipart"
    )
    status, code = error_of(response)
    assert (status, code) == (400, "BAD_REQUEST")
    assert message in response.json()["message"]
    assert Brand.objects.get(partner=branded.partner_a).product_name == "Acme Cloud"


def test_a_logo_cannot_be_sent_as_json(branded):
    response = client_for(branded.world, "a_owner").patch(
        url_of(branded.partner_a), {"logo": "iVBORw0KGgo="}, format="json"
    )
    assert error_of(response) == (400, "BAD_REQUEST")
    assert "logo:" in response.json()["message"]


@override_settings(PORTAL_BRAND_LOGO_MAX_BYTES=4096)
def test_an_oversized_multipart_body_is_refused_before_it_is_parsed(branded):
    upload = SimpleUploadedFile("x.png", b"\0" * (4096 + 70 * 1024))
    response = client_for(branded.world, "a_owner").patch(
        url_of(branded.partner_a), {"logo": upload}, format="multipart"
    )
    assert error_of(response) == (400, "BAD_REQUEST")
    assert "larger than" in response.json()["message"]


def test_removing_the_logo(branded):
    response = client_for(branded.world, "a_owner").patch(
        url_of(branded.partner_a), {"remove_logo": True}, format="json"
    )
    assert response.json()["logo"] is None
    assert not BrandLogo.objects.filter(brand__partner=branded.partner_a).exists()


def test_a_host_of_another_partner_is_a_409(branded):
    response = client_for(branded.world, "a_owner").patch(
        url_of(branded.partner_a), {"hosts": [B_HOST]}, format="json"
    )
    assert error_of(response) == (409, "CONFLICT")
    assert response.json()["message"] == f"{B_HOST} is already used by another partner."


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"primary_color": "#12"}, "#rrggbb"),
        ({"primary_color": 12}, "primary_color: Must be a string."),
        ({"hosts": "portal.acme.example"}, "hosts:"),
        ({"hosts": ["10.0.0.1"]}, "not an IP address"),
        ({"theme": "dark"}, "theme: Unknown field."),
        ({"support_email": "nope"}, "support_email: Must be an e-mail address."),
    ],
)
def test_invalid_bodies_are_400_with_a_readable_message(branded, body, fragment):
    response = client_for(branded.world, "a_owner").patch(
        url_of(branded.partner_a), body, format="json"
    )
    assert error_of(response) == (400, "BAD_REQUEST")
    assert fragment in response.json()["message"]


# -- tokens ------------------------------------------------------------------------------------


def test_a_partners_full_access_token_manages_its_brand(branded):
    client = token_client(branded.partner_a, "*")
    assert client.get(url_of(branded.partner_a)).json()["product_name"] == "Acme Cloud"
    changed = client.patch(url_of(branded.partner_a), {"accent_color": "#111111"}, format="json")
    assert changed.json()["accent_color"] == "#111111"
    event = AuditEvent.objects.get(action="brand.updated")
    assert event.actor_label.startswith("token ")


def test_tokens_without_the_full_scope_or_the_partners_reach_are_refused(branded):
    narrow = token_client(branded.partner_a, "user:*")
    assert error_of(narrow.get(url_of(branded.partner_a))) == (403, "NOT_AUTHORIZED")
    tenant = token_client(branded.a_child, "*")
    assert error_of(tenant.get(url_of(branded.partner_a))) == (404, "NOT_FOUND")
    other = token_client(branded.partner_b, "*")
    assert error_of(other.patch(url_of(branded.partner_a), {}, format="json")) == (
        404,
        "NOT_FOUND",
    )
