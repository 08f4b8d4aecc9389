"""The browser harness itself: Debian's chromium logs in and renders real portal pages."""

from __future__ import annotations

import pytest

from tenants.models import Role
from tests.factories import make_member, make_partner, make_tenant, make_user
from tests.fixtures.browser import login, screenshot

pytestmark = pytest.mark.browser


def test_a_partner_admin_sees_their_tenants_and_not_the_other_partners(page, live_portal):
    partner = make_partner("Browser Partner A")
    make_tenant(partner, "Tenant Seen In Chromium")
    other = make_partner("Browser Partner B")
    make_tenant(other, "Tenant Of Another Partner")
    admin = make_user("browser-admin")
    make_member(admin, partner, Role.ADMIN)

    login(page, live_portal, admin)
    page.goto("/tenants/")

    assert page.get_by_text("Tenant Seen In Chromium").is_visible()
    assert page.get_by_text("Tenant Of Another Partner").count() == 0
    assert screenshot(page, "smoke-tenants").stat().st_size > 0


def test_an_anonymous_visitor_is_sent_to_the_login_form(page):
    page.goto("/tenants/")

    assert "/login" in page.url
    assert page.locator("input[name=password]").is_visible()
