"""The partner's Branding page: who reaches it, saving, readable errors that lose nothing, the
live preview's starting point, and going back to the default brand."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from tenants.branding.lookup import stored_brand
from tenants.models import AuditEvent, Brand, BrandHost, BrandLogo
from tests.branding.conftest import A_HOST, B_HOST, image

PERSONAS = {
    # persona: (GET status, POST status) on partner A's Branding page
    "a_owner": (200, 303),
    "a_admin": (200, 303),
    "staff": (200, 303),
    "a_support": (403, 403),  # sees partner A, may not brand it
    "a_viewer": (403, 403),
    "tenant_user": (404, 404),  # owns a tenant of A: partner A is out of reach
    "b_owner": (404, 404),
    "outsider": (404, 404),
}


def url_of(partner) -> str:
    return f"/accounts/{partner.public_id}/branding/"


def form_data(**overrides) -> dict[str, object]:
    data: dict[str, object] = {
        "product_name": "Acme Cloud 2",
        "primary_color": "#1d4ed8",
        "accent_color": "#f97316",
        "support_email": "care@acme.example",
        "footer_text": "Acme Inc.",
        "hosts": f"{A_HOST}\nhelp.acme.example",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_only_the_partners_owners_admins_and_operators_reach_its_branding(
    branded, client_for, persona
):
    get_status, post_status = PERSONAS[persona]
    client = client_for(persona)
    assert client.get(url_of(branded.partner_a)).status_code == get_status
    response = client.post(url_of(branded.partner_a), form_data(product_name=persona))
    assert response.status_code == post_status
    saved = Brand.objects.get(partner=branded.partner_a).product_name
    assert (saved == persona) == (post_status == 303)
    reset = client.post(f"{url_of(branded.partner_a)}reset/")
    assert reset.status_code == post_status


def test_anonymous_visitors_are_sent_to_log_in(branded, client_for):
    response = client_for("anonymous").get(url_of(branded.partner_a))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_tenant_has_no_branding_page_even_for_its_owner(branded, client_for):
    assert client_for("tenant_user").get(url_of(branded.a_child)).status_code == 404
    assert client_for("staff").get(url_of(branded.a_child)).status_code == 404


def test_the_tab_shows_for_those_who_may_brand_the_partner(branded, client_for):
    account_page = f"/accounts/{branded.partner_a.public_id}/"
    tab = f'href="{url_of(branded.partner_a)}"'
    assert tab in client_for("a_admin").get(account_page).content.decode()
    assert tab not in client_for("a_viewer").get(account_page).content.decode()
    child_page = f"/accounts/{branded.a_child.public_id}/"
    assert ">Branding</a>" not in client_for("tenant_user").get(child_page).content.decode()


def test_the_page_shows_the_saved_brand_and_a_preview_starting_from_it(branded, client_for):
    html = client_for("a_owner").get(url_of(branded.partner_a)).content.decode()
    assert 'value="Acme Cloud"' in html
    assert 'type="color"' in html
    assert 'value="#0f766e"' in html
    assert A_HOST in html
    assert "--pv-primary: #0f766e; --pv-on-primary: #ffffff" in html
    assert "data-brand-preview" in html
    assert "40 x 20 pixels" in html


def test_saving_the_form_changes_the_brand_in_one_audited_step(branded, client_for):
    logo = SimpleUploadedFile("logo.jpg", image("JPEG", (90, 30)), content_type="image/jpeg")
    client = client_for("a_admin")
    response = client.post(url_of(branded.partner_a), form_data(logo=logo))
    assert response.status_code == 303
    stored = stored_brand(branded.partner_a.pk)
    assert stored.brand.product_name == "Acme Cloud 2"
    assert stored.hosts == [A_HOST, "help.acme.example"]
    assert stored.logo is not None
    assert stored.logo.content_type == "image/jpeg"
    assert AuditEvent.objects.filter(action="brand.updated").count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "The brand of Partner A is saved." in page
    assert "<title>Branding of Partner A · Acme Cloud 2</title>" in page


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            "SVG logos are not accepted (an SVG can carry scripts): upload a PNG, JPEG or WebP",
        ),
        (SimpleUploadedFile("logo.png", b"not an image at all"), "The file is not a PNG"),
        (
            SimpleUploadedFile("big.png", image("PNG", (1100, 1000))),
            "The logo is 1100 x 1000 pixels (1,100,000); the limit is 1,048,576 pixels",
        ),
    ],
)
def test_a_bad_logo_is_refused_beside_its_field_and_nothing_is_saved(
    branded, client_for, upload, message
):
    response = client_for("a_owner").post(url_of(branded.partner_a), form_data(logo=upload))
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert 'value="Acme Cloud 2"' in html  # what was typed is kept
    assert Brand.objects.get(partner=branded.partner_a).product_name == "Acme Cloud"


@override_settings(PORTAL_BRAND_LOGO_MAX_BYTES=4096)
def test_an_oversized_logo_is_refused_by_its_size(branded, client_for):
    upload = SimpleUploadedFile("big.png", b"\x89PNG" + b"\0" * 5000, content_type="image/png")
    response = client_for("a_owner").post(url_of(branded.partner_a), form_data(logo=upload))
    assert response.status_code == 422
    assert "The logo is 5 KiB; the limit is 4 KiB." in response.content.decode()


def test_a_host_another_partner_holds_is_an_error_beside_the_hosts_field(branded, client_for):
    response = client_for("a_owner").post(
        url_of(branded.partner_a), form_data(hosts=f"{A_HOST}\n{B_HOST}")
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert f"{B_HOST} is already used by another partner." in html
    assert 'class="field has-error"' in html
    assert BrandHost.objects.get(host=B_HOST).brand.partner == branded.partner_b


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("primary_color", "red", "must be a colour written #rrggbb"),
        ("hosts", "10.1.2.3", "use a host name, not an IP address"),
        ("hosts", "testserver", "one of the portal&#x27;s own host names"),
        ("support_email", "nope", "Enter a valid email address."),
        ("product_name", "", "This field is required."),
    ],
)
def test_invalid_fields_come_back_with_a_readable_message(
    branded, client_for, field, value, message
):
    response = client_for("a_owner").post(url_of(branded.partner_a), form_data(**{field: value}))
    assert response.status_code == 422
    assert message in response.content.decode()


def test_removing_the_logo_from_the_page(branded, client_for):
    response = client_for("a_owner").post(url_of(branded.partner_a), form_data(remove_logo="on"))
    assert response.status_code == 303
    assert not BrandLogo.objects.filter(brand__partner=branded.partner_a).exists()


def test_going_back_to_the_default_brand(branded, client_for):
    client = client_for("a_owner")
    response = client.post(f"{url_of(branded.partner_a)}reset/")
    assert response.status_code == 303
    html = client.get(url_of(branded.partner_a)).content.decode()
    assert "Showing the default brand" in html
    assert "Partner A shows the default brand again." in html
    assert "Use the default brand" not in html


def test_a_page_rendered_with_htmx_is_saved_the_same_way(branded, client_for):
    client = client_for("a_owner")
    response = client.post(url_of(branded.partner_a), form_data(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == url_of(branded.partner_a)


def test_the_preview_script_matches_the_servers_colour_choice(branded):
    """The preview repeats tenants/branding/brand.py in JS: keep the constants together."""
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "static/js/portal.js").read_text()
    for constant in ("#111827", "4.5", "0.05", "0.2126", "0.7152", "0.0722", "0.04045"):
        assert constant in script
