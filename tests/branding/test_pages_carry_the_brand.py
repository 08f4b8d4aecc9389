"""Which brand each page carries: per host (the login page before anyone logs in), per partner
(a tenant's pages everywhere carry its partner's brand), and never another partner's."""

from __future__ import annotations

import re

import pytest

from tenants.branding import brand_for_account, brand_for_request, forget_brands, operator_brand
from tenants.branding.brand import contrast
from tenants.models import Role
from tenants.services import invite_member, update_brand
from tests.branding.conftest import A_HOST, B_HOST
from tests.factories import make_member

ACME = {
    "Acme Cloud",
    "#0f766e",
    "#f59e0b",
    "help@acme.example",
    "Acme Cloud is a service of Acme Inc.",
}
GLOBEX = {"Globex AI", "#7c3aed", "#22c55e", "support@globex.example", "Globex AI, Springfield"}


def title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found is not None
    return found.group(1).strip()


def shows(html: str, marks: set[str]) -> bool:
    return all(mark in html for mark in marks)


def shows_any(html: str, marks: set[str]) -> bool:
    return any(mark in html for mark in marks)


def page(client, url: str) -> str:
    """The page's brand chrome: everything but ``<main>`` (whose content may name anything the
    person may see, such as another partner's audit events for an operator)."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return chrome(response.content.decode())


def chrome(html: str) -> str:
    return re.sub(r"<main id=\"main\">.*</main>", "", html, flags=re.S)


# -- per host ----------------------------------------------------------------------------------


def test_the_login_page_on_a_partners_host_carries_its_brand(branded, client_for):
    html = client_for("anonymous", host=A_HOST).get("/login/").content.decode()
    assert title(html) == "Log in · Acme Cloud"
    assert "Log in to Acme Cloud" in html
    assert shows(html, ACME)
    assert branded.logo_url(branded.partner_a) in html
    assert not shows_any(html, GLOBEX | {"Partner Portal"})


def test_the_login_page_on_the_operators_host_carries_the_operators_brand(branded, client_for):
    html = page(client_for("anonymous"), "/login/")
    assert title(html) == "Log in · Partner Portal"
    assert "--primary: #2b59c3" in html
    assert "/branding/logo/" not in html
    assert not shows_any(html, ACME | GLOBEX)


def test_each_partners_host_shows_its_own_brand(branded, client_for):
    html = page(client_for("anonymous", host=B_HOST), "/login/")
    assert shows(html, GLOBEX)
    assert not shows_any(html, ACME)


def test_an_error_page_on_a_partners_host_carries_its_brand(branded, client_for):
    response = client_for("a_owner", host=A_HOST).get("/accounts/nope/")
    assert response.status_code == 404
    assert shows(chrome(response.content.decode()), ACME)


# -- per partner -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["testserver", A_HOST, B_HOST])
def test_a_tenants_pages_carry_its_partners_brand_on_any_host(branded, client_for, host):
    staff = client_for("staff", host=host)
    for suffix in ("", "members/", "tokens/", "webhooks/", "limits/", "usage/"):
        a_html = page(staff, f"/accounts/{branded.a_grandchild.public_id}/{suffix}")
        assert shows(a_html, ACME), suffix
        assert not shows_any(a_html, GLOBEX), suffix
        b_html = page(staff, f"/accounts/{branded.b_child.public_id}/{suffix}")
        assert shows(b_html, GLOBEX), suffix
        assert not shows_any(b_html, ACME), suffix


def test_partner_as_logo_never_appears_on_partner_bs_pages(branded, client_for):
    a_logo = branded.logo_url(branded.partner_a)
    for persona, host in (("staff", A_HOST), ("b_owner", "testserver"), ("b_owner", B_HOST)):
        client = client_for(persona, host=host)
        for url in (
            f"/accounts/{branded.partner_b.public_id}/",
            f"/accounts/{branded.b_child.public_id}/",
            f"/accounts/{branded.partner_b.public_id}/branding/",
        ):
            response = client.get(url)
            html = response.content.decode()  # the whole page, <main> included
            assert response.status_code == 200
            assert a_logo not in html, (persona, host, url)
            assert branded.logo_url(branded.partner_b) in html


def test_a_tenants_people_see_their_partners_brand_on_pages_about_no_account(branded, client_for):
    for url in ("/", "/tenants/", "/usage/", "/audit/"):
        html = page(client_for("tenant_user"), url)
        assert shows(html, ACME), url
        assert not shows_any(html, GLOBEX), url


def test_partner_b_people_keep_their_brand_even_on_partner_as_host(branded, client_for):
    html = page(client_for("b_owner", host=A_HOST), "/")
    assert shows(html, GLOBEX)
    assert not shows_any(html, ACME)


def test_operator_pages_carry_the_operators_brand_unless_on_a_partners_host(branded, client_for):
    html = page(client_for("staff"), "/tenants/")
    assert title(html) == "Tenants · Partner Portal"
    assert not shows_any(html, ACME | GLOBEX)
    assert title(page(client_for("staff", host=A_HOST), "/tenants/")) == "Tenants · Acme Cloud"


def test_people_of_several_partners_see_the_operators_brand_on_pages_about_no_account(
    branded, client_for
):
    make_member(branded.a_viewer, branded.partner_b, Role.VIEWER)
    html = page(client_for("a_viewer"), "/")
    assert not shows_any(html, ACME | GLOBEX)


def test_a_page_someone_may_not_see_does_not_carry_that_partners_brand(branded, client_for):
    response = client_for("a_owner").get(f"/accounts/{branded.b_child.public_id}/")
    assert response.status_code == 404
    assert not shows_any(chrome(response.content.decode()), GLOBEX)
    assert branded.logo_url(branded.partner_b) not in response.content.decode()


def test_the_invitation_page_carries_the_inviting_partners_brand(branded, client_for):
    _invitation, token = invite_member(
        branded.b_child, email="joiner@globex.example", role=Role.VIEWER, actor=None
    )
    html = page(client_for("anonymous"), f"/invitations/{token}/")
    assert shows(html, GLOBEX)
    assert not shows_any(html, ACME)


def test_the_brand_of_a_request_follows_the_documented_order(branded, rf):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/", HTTP_HOST=A_HOST)
    request.user = AnonymousUser()
    assert brand_for_request(request).product_name == "Acme Cloud"
    assert brand_for_request(request, branded.b_child).product_name == "Globex AI"
    request = rf.get("/", HTTP_HOST=A_HOST)
    request.user = branded.b_owner  # all of their roles are under partner B
    assert brand_for_request(request).product_name == "Globex AI"
    request = rf.get("/")
    request.user = AnonymousUser()
    assert brand_for_request(request) == operator_brand()


def test_colours_stay_readable_whatever_the_partner_picks(branded):
    update_brand(branded.partner_a, changes={"primary_color": "#fde047"}, actor=None)  # yellow
    forget_brands()
    brand = brand_for_account(branded.a_child)
    assert brand.on_primary_color == "#111827"  # dark text on yellow
    assert brand.on_primary_contrast >= 4.5
    assert contrast(brand.link_color, "#ffffff") >= 4.5  # yellow links would not read on white
    assert brand_for_account(branded.b_child).on_primary_color == "#ffffff"  # white on violet
