"""The account page, its inline profile edit, and suspend / reactivate / close."""

from __future__ import annotations

import json

import pytest

from tenants import crypto
from tenants.models import Account, AuditEvent
from tests.factories import make_partner
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def detail(account: Account) -> str:
    return f"/accounts/{account.public_id}/"


def test_the_account_page_shows_profile_subtree_members_and_activity(pages, client_for):
    Account.objects.filter(pk=pages.a_child.pk).update(
        meta={"plan": "gold"}, limits={"messages": 500, "portalRate": 5}
    )
    body = client_for("a_owner").get(detail(pages.a_child)).content.decode()
    assert pages.a_child.public_id in body
    assert "A Grandchild" in body  # the subtree, with a link
    assert f'href="/accounts/{pages.a_grandchild.public_id}/"' in body
    assert "tenant_user" in body
    assert "child_viewer" in body
    assert "gold" in body
    assert "500" in body
    assert "portalRate" in body
    assert "Recent activity" in body
    assert 'href="/accounts/' + pages.partner_a.public_id in body  # breadcrumb to the partner


def test_a_tenant_user_sees_no_breadcrumb_to_its_partner(pages, client_for):
    body = client_for("tenant_user").get(detail(pages.a_child)).content.decode()
    assert "Partner A" not in body


def test_a_viewer_sees_no_edit_suspend_or_close_controls(pages, client_for):
    body = client_for("a_viewer").get(detail(pages.a_child)).content.decode()
    for control in ("/edit/", "/suspend/", "/close/", "/tenants/new/"):
        assert control not in body


def test_an_admin_sees_edit_and_suspend_but_not_close(pages, client_for):
    body = client_for("a_admin").get(detail(pages.a_child)).content.decode()
    assert "/edit/" in body
    assert "/suspend/" in body
    assert "/close/" not in body


def test_the_partner_page_shows_the_upstream_secret_only_as_last4(pages, client_for):
    secret = crypto.decrypt(pages.partner_a.upstream_secret_encrypted)
    body = client_for("a_owner").get(detail(pages.partner_a)).content.decode()
    assert pages.partner_a.upstream_secret_display in body
    assert secret not in body
    # The profile shows the upstream to the partner's admins only (the activity log keeps the
    # sk-…last4 of the creation event for everyone who reads it).
    viewer_profile = client_for("a_viewer").get(
        detail(pages.partner_a), headers={**HTMX, "HX-Target": "profile"}
    )
    assert pages.partner_a.upstream_secret_display not in viewer_profile.content.decode()
    assert secret not in client_for("a_viewer").get(detail(pages.partner_a)).content.decode()


@pytest.mark.parametrize(
    ("target", "starts"),
    [
        ("profile", '<section id="profile"'),
        ("activity", '<section id="activity"'),
        ("account-title", '<h1 id="account-title"'),
    ],
)
def test_htmx_gets_the_part_of_the_account_page_it_targets(pages, client_for, target, starts):
    response = client_for("a_viewer").get(
        detail(pages.a_child), headers={**HTMX, "HX-Target": target}
    )
    body = response.content.decode().strip()
    assert body.startswith(starts)
    assert "<html" not in body


def test_an_unknown_htmx_target_gets_the_whole_page(pages, client_for):
    response = client_for("a_viewer").get(
        detail(pages.a_child), headers={**HTMX, "HX-Target": "../../secret"}
    )
    assert "<html" in response.content.decode()


# -- inline profile edit -----------------------------------------------------------------------


def edit_data(account: Account, **changes: str) -> dict[str, str]:
    data = {"name": account.name, "email": account.email, "timezone": account.timezone}
    data.update(changes)
    return data


def test_htmx_edit_form_is_the_form_fragment(pages, client_for):
    response = client_for("a_owner").get(f"{detail(pages.partner_a)}edit/", headers=HTMX)
    body = response.content.decode().strip()
    assert body.startswith('<section id="profile"')
    assert 'hx-post="/accounts/' in body
    assert "csrfmiddlewaretoken" in body


def test_a_valid_htmx_edit_swaps_in_the_profile_and_signals_the_page(pages, client_for):
    # Limits have their own page now (tests/pages/test_limits_pages.py); the profile form
    # carries none, so it changes none.
    response = client_for("a_owner").post(
        f"{detail(pages.partner_a)}edit/",
        edit_data(pages.partner_a, name="Partner A Renamed", meta='{"tier": 2}'),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"accountChanged": {}}
    body = response.content.decode().strip()
    assert body.startswith('<section id="profile"')
    assert "Saved." in body
    pages.partner_a.refresh_from_db()
    assert pages.partner_a.name == "Partner A Renamed"
    assert pages.partner_a.limits == {}
    assert pages.partner_a.meta == {"tier": 2}
    assert AuditEvent.objects.filter(account=pages.partner_a, action="account.updated").exists()


def test_edit_keeps_limits_the_form_does_not_show_and_removes_meta_keys_taken_out(
    pages, client_for
):
    Account.objects.filter(pk=pages.partner_a.pk).update(
        meta={"keep": 1, "drop": 2}, limits={"tokens": 9, "portalRate": 5}
    )
    # A blank quota on the limits page removes it and keeps the keys it does not show.
    client_for("staff").post(
        f"{detail(pages.partner_a)}limits/",
        {"plan": "", "rpm": "", "limit_tokens": ""},
    )
    pages.partner_a.refresh_from_db()
    assert pages.partner_a.limits == {"portalRate": 5}
    # The profile form leaves limits alone.
    client_for("a_owner").post(
        f"{detail(pages.partner_a)}edit/", edit_data(pages.partner_a, meta='{"keep": 1}')
    )
    pages.partner_a.refresh_from_db()
    assert pages.partner_a.limits == {"portalRate": 5}
    assert pages.partner_a.meta == {"keep": 1}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"timezone": "Mars/Olympus"}, "Select a valid choice."),
        ({"meta": "[1, 2]"}, "Meta must be a JSON object"),
        ({"meta": "{nope"}, "This is not valid JSON"),
    ],
)
def test_invalid_input_comes_back_as_the_form_with_its_errors_and_status_422(
    pages, client_for, changes, message
):
    response = client_for("a_owner").post(
        f"{detail(pages.partner_a)}edit/", edit_data(pages.partner_a, **changes), headers=HTMX
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert body.strip().startswith('<section id="profile"')
    assert message in body
    assert "HX-Trigger" not in response


def test_without_htmx_an_invalid_edit_is_the_whole_page_and_a_valid_one_redirects(
    pages, client_for
):
    client = client_for("a_owner")
    url = f"{detail(pages.partner_a)}edit/"
    invalid = client.post(url, edit_data(pages.partner_a, name=""))
    assert invalid.status_code == 422
    assert "<html" in invalid.content.decode()
    valid = client.post(url, edit_data(pages.partner_a, name="New name"))
    assert valid.status_code == 303
    assert valid["Location"] == detail(pages.partner_a)


def test_an_edit_the_upstream_cannot_take_says_so_and_changes_nothing(pages, client_for):
    # a_child's partner points at a port where nothing listens.
    response = client_for("a_owner").post(
        f"{detail(pages.a_child)}edit/", edit_data(pages.a_child, name="Renamed"), headers=HTMX
    )
    assert response.status_code == 502
    body = response.content.decode()
    assert "The upstream at 127.0.0.1:9 is unreachable; nothing was changed." in body
    assert "Traceback" not in body
    pages.a_child.refresh_from_db()
    assert pages.a_child.name == "A Child"
    assert not AuditEvent.objects.filter(account=pages.a_child).exists()


def test_a_duplicate_email_among_siblings_is_a_readable_error(pages, client_for):
    Account.objects.filter(pk=pages.a_sibling.pk).update(email="taken@x.example")
    response = client_for("a_owner").post(
        f"{detail(pages.a_child)}edit/", edit_data(pages.a_child, email="taken@x.example")
    )
    assert response.status_code == 422
    assert "uses taken@x.example" in response.content.decode()


# -- suspend, reactivate, close ----------------------------------------------------------------


def test_suspend_explains_itself_then_suspends_with_the_reason(pages, client_for):
    client = client_for("a_admin")
    page = client.get(f"{detail(pages.a_child)}suspend/").content.decode()
    assert "refuses every call" in page
    assert "Nothing is deleted" in page
    response = client.post(f"{detail(pages.a_child)}suspend/", {"reason": "unpaid"}, follow=True)
    assert "A Child is suspended." in response.content.decode()
    pages.a_child.refresh_from_db()
    assert pages.a_child.status == Account.Status.SUSPENDED
    event = AuditEvent.objects.get(account=pages.a_child, action="account.suspended")
    assert event.changes["reason"] == "unpaid"
    assert event.actor == pages.a_admin


def test_reactivate_brings_a_suspended_account_back(pages, client_for):
    Account.objects.filter(pk=pages.a_child.pk).update(status=Account.Status.SUSPENDED)
    response = client_for("a_admin").post(f"{detail(pages.a_child)}reactivate/", follow=True)
    assert "A Child is active again." in response.content.decode()
    pages.a_child.refresh_from_db()
    assert pages.a_child.status == Account.Status.ACTIVE


def test_the_close_page_explains_what_closing_deletes_and_keeps(pages, client_for):
    body = client_for("a_owner").get(f"{detail(pages.a_child)}close/").content.decode()
    assert "upstream account is deleted with all its data" in body
    assert "keeps the local record" in body
    assert pages.a_child.slug in body
    assert "1 open sub-tenant" in body


def test_closing_needs_the_slug_typed_exactly(pages, client_for):
    response = client_for("a_owner").post(
        f"{detail(pages.a_child)}close/", {"confirmation": "A Child"}
    )
    assert response.status_code == 422
    assert f"type {pages.a_child.slug} exactly" in response.content.decode()
    pages.a_child.refresh_from_db()
    assert pages.a_child.status == Account.Status.ACTIVE


def test_closing_when_the_upstream_is_down_says_so_readably(pages, client_for):
    response = client_for("a_owner").post(
        f"{detail(pages.a_grandchild)}close/", {"confirmation": pages.a_grandchild.slug}
    )
    assert response.status_code == 502
    body = response.content.decode()
    assert "The upstream at 127.0.0.1:9 is unreachable." in body
    assert "0 of 1 accounts were closed" in body
    pages.a_grandchild.refresh_from_db()
    assert pages.a_grandchild.status == Account.Status.ACTIVE


def test_closing_a_partner_deletes_nothing_upstream_for_itself_and_keeps_the_record(
    pages, client_for
):
    lonely = make_partner("Lonely Partner")
    client = client_for("staff")
    response = client.post(f"{detail(lonely)}close/", {"confirmation": lonely.slug}, follow=True)
    body = response.content.decode()
    assert "Lonely Partner is closed. Its record and history are kept." in body
    assert "Closed on" in body
    assert "/edit/" not in body  # nothing left to change
    lonely.refresh_from_db()
    assert lonely.status == Account.Status.CLOSED
