"""The support pages: who gets the start form, the banner on every page while acting, Stop,
and a session that ends by itself (time up, logout) putting the person back to themselves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tenants.branding import forget_brands
from tenants.models import SupportSession
from tenants.services import update_brand
from tests.support.conftest import HTMX, REASON, REASON_ON_PAGE, logged_in

pytestmark = pytest.mark.django_db

# On A's child: who may start (200), who sees the account but may not (403), the rest 404.
START_ALLOWED = {"a_owner", "a_admin", "a_support", "staff"}
START_VISIBLE = {"a_viewer", "tenant_user"}  # tenant_user owns the child itself: not "above" it


@pytest.mark.parametrize(
    "persona",
    ["a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "b_owner", "outsider", "staff"],
)
def test_the_start_page_is_for_support_above_the_tenant(world, persona):
    client = logged_in(getattr(world, persona))
    url = f"/accounts/{world.a_child.public_id}/support/start/"
    expected = 200 if persona in START_ALLOWED else 403 if persona in START_VISIBLE else 404
    assert client.get(url).status_code == expected
    posted = client.post(url, {"reason": REASON, "minutes": "15"})
    assert posted.status_code == (303 if expected == 200 else expected)
    assert SupportSession.objects.exists() == (expected == 200)


def test_anonymous_visitors_are_sent_to_log_in(world):
    response = Client().get(f"/accounts/{world.a_child.public_id}/support/start/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert Client().post("/support/stop/").status_code == 302


def test_allow_changes_is_offered_only_to_those_whose_role_permits_it(world):
    url = f"/accounts/{world.a_child.public_id}/support/start/"
    assert 'name="allow_changes"' in logged_in(world.a_admin).get(url).content.decode()
    support_form = logged_in(world.a_support).get(url).content.decode()
    assert 'name="allow_changes"' not in support_form
    assert "read-only sessions" in support_form


def test_a_forged_allow_changes_from_a_support_role_still_starts_read_only(world):
    url = f"/accounts/{world.a_child.public_id}/support/start/"
    logged_in(world.a_support).post(url, {"reason": REASON, "minutes": 5, "allow_changes": "on"})
    assert SupportSession.objects.get().allow_changes is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": "", "minutes": "30"}, "This field is required."),
        ({"reason": REASON, "minutes": "121"}, "less than or equal to 120"),
        ({"reason": REASON, "minutes": "0"}, "greater than or equal to 1"),
        ({"reason": REASON, "minutes": "30", "ticket": "T" * 101}, "at most 100"),
    ],
)
def test_a_bad_start_form_comes_back_with_its_errors_and_starts_nothing(world, data, message):
    client = logged_in(world.a_support)
    url = f"/accounts/{world.a_child.public_id}/support/start/"
    for headers in ({}, HTMX):
        response = client.post(url, data, headers=headers)
        assert response.status_code == 422
        assert message in response.content.decode()
    assert not SupportSession.objects.exists()
    assert "portal.support_session" not in client.session


def test_the_form_starts_with_the_configured_duration(world):
    page = logged_in(world.a_support).get(f"/accounts/{world.a_child.public_id}/support/start/")
    assert 'value="30"' in page.content.decode()
    assert 'max="120"' in page.content.decode()


def test_starting_with_htmx_navigates_to_the_tenant_as_a_whole_page(world):
    client = logged_in(world.a_admin)
    response = client.post(
        f"/accounts/{world.a_child.public_id}/support/start/",
        {"reason": REASON, "minutes": "10"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/accounts/{world.a_child.public_id}/"


def test_act_as_is_offered_where_the_person_may_act(world):
    child = world.a_child.public_id
    support_page = logged_in(world.a_support).get(f"/accounts/{child}/").content.decode()
    assert f"/accounts/{child}/support/start/" in support_page
    viewer_page = logged_in(world.a_viewer).get(f"/accounts/{child}/").content.decode()
    assert "/support/start/" not in viewer_page
    tenants = logged_in(world.tenant_user).get("/tenants/").content.decode()
    assert f"/accounts/{world.a_grandchild.public_id}/support/start/" in tenants
    assert f"/accounts/{child}/support/start/" not in tenants


def test_the_banner_says_who_acts_as_whom_with_the_time_left_and_a_stop_button(
    world, acting_client
):
    client = acting_client("a_support", world.a_child)
    for path in ("/", "/tenants/", f"/accounts/{world.a_grandchild.public_id}/usage/", "/audit/"):
        page = client.get(path).content.decode()
        assert 'id="support-banner"' in page, path
        assert "<strong>a_support</strong> is acting as <strong>A Child</strong>" in page
        assert "read-only" in page
        assert REASON_ON_PAGE[:60] in page
        assert "T-4711" in page
        assert 'data-countdown="' in page
        assert "30 min</span> left" in page
        assert 'action="/support/stop/"' in page


def test_no_banner_without_a_session(world):
    assert 'id="support-banner"' not in logged_in(world.a_support).get("/").content.decode()


def test_stop_puts_the_person_back_to_themselves(world, acting_client):
    client = acting_client("a_support", world.a_child)
    response = client.post("/support/stop/", follow=True)
    assert response.redirect_chain[-1][0] == f"/accounts/{world.a_child.public_id}/"
    page = response.content.decode()
    assert 'id="support-banner"' not in page
    assert "You stopped acting as A Child." in page
    assert "A Sibling" in client.get("/tenants/").content.decode()
    session = client.support_session
    session.refresh_from_db()
    assert session.end_reason == SupportSession.EndReason.STOPPED


def test_stop_without_a_session_says_so(world):
    response = logged_in(world.a_support).post("/support/stop/", follow=True)
    assert "You were not acting as anyone." in response.content.decode()


def _session_cookie(client: Client) -> str:
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def _browser_holding(session_cookie: str) -> Client:
    """Another browser replaying a session id captured from ``client`` earlier."""
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session_cookie
    return browser


def test_starting_to_act_rotates_the_session_key_and_the_person_stays_signed_in(world):
    client = logged_in(world.a_support)
    client.get("/")
    before = _session_cookie(client)

    started = client.post(
        f"/accounts/{world.a_child.public_id}/support/start/", {"reason": REASON, "minutes": "30"}
    )

    assert started.status_code == 303
    assert _session_cookie(client) != before
    page = client.get("/tenants/").content.decode()
    assert "<strong>a_support</strong> is acting as <strong>A Child</strong>" in page
    assert "A Sibling" not in page
    # The id from before acting is gone: it neither acts as the tenant nor signs anyone in.
    stale = _browser_holding(before).get("/tenants/")
    assert stale.status_code == 302
    assert "/login/" in stale["Location"]


def test_stopping_rotates_the_session_key_and_the_person_stays_signed_in(world, acting_client):
    client = acting_client("a_support", world.a_child)
    while_acting = _session_cookie(client)

    stopped = client.post("/support/stop/")

    assert stopped.status_code == 303
    assert _session_cookie(client) != while_acting
    page = client.get("/tenants/").content.decode()
    assert 'id="support-banner"' not in page
    assert "You stopped acting as A Child." in page
    assert "A Sibling" in page  # their own reach again
    stale = _browser_holding(while_acting).get("/tenants/")
    assert stale.status_code == 302
    assert "/login/" in stale["Location"]


def test_an_expired_session_ends_itself_and_says_so(world, acting_client):
    client = acting_client("a_support", world.a_child)
    SupportSession.objects.filter(pk=client.support_session.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page = client.get("/tenants/").content.decode()
    assert "Your support session as A Child has ended: its time was up." in page
    assert 'id="support-banner"' not in page
    assert "A Sibling" in page  # back to their own reach
    client.support_session.refresh_from_db()
    assert client.support_session.end_reason == SupportSession.EndReason.EXPIRED
    assert "has ended" not in client.get("/tenants/").content.decode()  # said once


def test_an_htmx_request_after_the_end_reloads_the_whole_page(world, acting_client):
    client = acting_client("a_support", world.a_child)
    SupportSession.objects.filter(pk=client.support_session.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/tenants/?q=A", headers=HTMX)
    assert response["HX-Refresh"] == "true"


def test_logging_out_ends_the_session(world, acting_client):
    client = acting_client("a_support", world.a_child)
    client.post("/logout/")
    client.support_session.refresh_from_db()
    assert client.support_session.end_reason == SupportSession.EndReason.LOGGED_OUT


def test_a_session_replaced_in_another_browser_ends_here_with_a_message(world, acting_client):
    first_browser = acting_client("a_admin", world.a_child)
    acting_client("a_admin", world.a_sibling)  # the same person, another browser
    page = first_browser.get("/").content.decode()
    assert "has ended: you started another one in another window." in page
    assert 'id="support-banner"' not in page


def test_the_support_tab_is_on_every_account_page(world):
    page = logged_in(world.tenant_user).get(f"/accounts/{world.a_child.public_id}/")
    assert f"/accounts/{world.a_child.public_id}/support/" in page.content.decode()
    empty = logged_in(world.tenant_user).get(f"/accounts/{world.a_child.public_id}/support/")
    assert "Nobody has acted as A Child yet." in empty.content.decode()


def test_acting_shows_the_tenants_brand_as_its_people_see_it(world, acting_client):
    update_brand(world.partner_b, changes={"product_name": "Bee Cloud"}, actor=None)
    forget_brands()  # the service forgets on commit; a test's transaction never commits
    client = acting_client("staff", world.b_child)
    assert '<span class="brand-name">Bee Cloud</span>' in client.get("/").content.decode()
    client.post("/support/stop/")
    assert '<span class="brand-name">Bee Cloud</span>' not in client.get("/").content.decode()
