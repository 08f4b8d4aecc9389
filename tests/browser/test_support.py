"""Support impersonation in Debian's chromium: start acting as a tenant from its page, see the
banner and its countdown on every page, stop, and read the session's audit trail; a session
whose time runs out ends itself in the open page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tenants.models import AuditEvent, Role, SupportSession
from tests.factories import make_member, make_partner, make_tenant, make_user
from tests.fixtures.browser import login, screenshot

pytestmark = pytest.mark.browser

REASON = "Customer reports missing usage for November"


@pytest.fixture
def tenants(live_portal):
    """A partner with a support person, a tenant (with its own owner) and a sibling tenant."""
    partner = make_partner(f"Support Partner {timezone.now().timestamp()}")
    tenant = make_tenant(partner, "Globex Browser")
    sibling = make_tenant(partner, "Initech Browser")
    support = make_user(f"support-{tenant.pk}")
    make_member(support, partner, Role.SUPPORT)
    owner = make_user(f"globex-owner-{tenant.pk}")
    make_member(owner, tenant, Role.OWNER)
    return {"tenant": tenant, "sibling": sibling, "support": support, "owner": owner}


def start_acting(page, tenant, *, ticket: str = "T-1001") -> None:
    page.goto(f"/accounts/{tenant.public_id}/")
    page.get_by_role("link", name=f"Act as {tenant.name}…").click()
    page.get_by_label("Reason").fill(REASON)
    page.get_by_label("Ticket reference").fill(ticket)
    screenshot(page, f"support-start-form-{ticket}")
    page.get_by_role("button", name=f"Start acting as {tenant.name}").click()
    page.wait_for_url(f"**/accounts/{tenant.public_id}/")


def test_start_and_stop_acting_shows_the_banner_and_writes_the_trail(page, live_portal, tenants):
    tenant, support = tenants["tenant"], tenants["support"]
    login(page, live_portal, support)
    start_acting(page, tenant)

    banner = page.locator("#support-banner")
    expect(banner).to_contain_text(f"{support.username} is acting as {tenant.name}")
    expect(banner).to_contain_text("read-only")
    expect(banner).to_contain_text("T-1001")
    # The countdown runs in the page (30:00 -> 29:5x).
    expect(banner.locator("[data-countdown]")).to_have_text(re.compile(r"^(29:5\d|30:00)$"))
    screenshot(page, "support-acting-banner")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tenants").click()
    expect(page.locator("#support-banner")).to_be_visible()
    expect(page.get_by_role("link", name=tenant.name)).to_be_visible()
    expect(page.get_by_text(tenants["sibling"].name)).to_have_count(0)
    screenshot(page, "support-acting-tenants-list")

    page.locator("#support-banner").get_by_role("button", name="Stop").click()
    page.wait_for_url(f"**/accounts/{tenant.public_id}/")
    expect(page.locator("#support-banner")).to_have_count(0)
    expect(page.get_by_text(f"You stopped acting as {tenant.name}.")).to_be_visible()
    screenshot(page, "support-stopped")

    session = SupportSession.objects.get(account=tenant)
    assert session.end_reason == SupportSession.EndReason.STOPPED
    trail = list(
        AuditEvent.objects.filter(correlation_id=session.correlation_id)
        .order_by("pk")
        .values_list("action", "changes__path")
    )
    assert trail[0] == ("support.started", None)
    assert ("support.page_view", f"/accounts/{tenant.public_id}/") in trail
    assert ("support.page_view", "/tenants/") in trail
    assert trail[-1] == ("support.ended", None)

    # The trail, as the person (now themselves) reads it from the tenant's Support access tab.
    page.get_by_role("link", name="Support access").click()
    page.get_by_role("link", name="Details").first.click()
    table = page.locator("table.audit")
    expect(table).to_contain_text("support.started")
    expect(table).to_contain_text("support.page_view")
    expect(table).to_contain_text("/tenants/")
    expect(table).to_contain_text("support.ended")
    screenshot(page, "support-session-trail")


def test_the_tenants_owner_reads_who_acted_as_them_and_why(page, live_portal, tenants):
    tenant, support = tenants["tenant"], tenants["support"]
    login(page, live_portal, support)
    start_acting(page, tenant, ticket="T-2002")
    page.locator("#support-banner").get_by_role("button", name="Stop").click()
    page.wait_for_url(f"**/accounts/{tenant.public_id}/")
    page.context.clear_cookies()

    login(page, live_portal, tenants["owner"])
    page.goto(f"/accounts/{tenant.public_id}/support/")
    row = page.locator("table.support-sessions tbody tr").first
    expect(row).to_contain_text(support.username)
    expect(row).to_contain_text(REASON)
    expect(row).to_contain_text("T-2002")
    expect(row).to_contain_text("read-only")
    expect(row).to_contain_text(re.compile(r"[1-9]\d* pages? · 0 changes · 0 upstream calls"))
    screenshot(page, "support-access-as-the-tenant")


def test_a_session_whose_time_runs_out_ends_itself_in_the_open_page(page, live_portal, tenants):
    tenant, support = tenants["tenant"], tenants["support"]
    login(page, live_portal, support)
    start_acting(page, tenant)
    SupportSession.objects.filter(account=tenant, ended_at__isnull=True).update(
        expires_at=timezone.now() + timedelta(seconds=3)
    )
    page.reload()
    expect(page.locator("#support-banner [data-countdown]")).to_have_text(re.compile(r"^0:0\d$"))
    # At zero the page reloads itself; the server ends the session and says why.
    expect(page.get_by_text(f"Your support session as {tenant.name} has ended")).to_be_visible(
        timeout=15_000
    )
    expect(page.locator("#support-banner")).to_have_count(0)
    screenshot(page, "support-expired")
    session = SupportSession.objects.get(account=tenant)
    assert session.end_reason == SupportSession.EndReason.EXPIRED
