"""The widget key pages against the live world: the bot picker (the account's bots, listed
through the proxy pipeline), the show-once snippet, the key's page, its origins, its preview.

Who may reach each page is in tests/pages/test_permissions.py with every other page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.test import Client
from django.utils.module_loading import import_string

from tenants.metering.models import UsageEvent
from tenants.middleware import SESSION_KEY as SUPPORT_SESSION_KEY
from tenants.models import AuditEvent, Role, SupportSession, Token
from tenants.services.impersonation import start_impersonation, stop_impersonation
from tests.factories import make_member, make_user
from tests.processes import wait_for
from tests.widget.helpers import SITE, chat, events, session, widget_key


@pytest.fixture(scope="module")
def admin(world):
    user = make_user("widget-admin")
    make_member(user, world.a_child, Role.ADMIN)
    return user


@pytest.fixture
def browser_client(admin) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def _new_key_url(world) -> str:
    return f"/accounts/{world.a_child.public_id}/widget/new/"


def _issue(client: Client, world, bot_id: str, **changes: object):
    data = {
        "bot_id": bot_id,
        "name": "Shop help",
        "origins": f"{SITE}\nhttps://Blog.Example:443/",
        "rpm": 100,
        "session_rpm": 5,
        **changes,
    }
    return client.post(_new_key_url(world), data)


def test_the_bot_picker_offers_the_accounts_bots_and_no_one_elses(world, bots, browser_client):
    page = browser_client.get(_new_key_url(world))

    assert page.status_code == 200
    html = page.content.decode()
    assert f'<option value="{bots.a_child}">A Helper ({bots.a_child})</option>' in html
    assert bots.a_child_other in html
    assert bots.b_child not in html


def test_issuing_shows_the_snippet_once_with_the_key_and_the_script(world, bots, browser_client):
    response = _issue(browser_client, world, bots.a_child)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = Token.objects.filter(kind=Token.Kind.WIDGET, account=world.a_child).latest("pk")
    html = response.content.decode()
    plaintext = html.split('data-key="', 1)[1].split('"', 1)[0]
    assert plaintext.startswith("ppw_")
    assert plaintext.endswith(token.last4)
    assert f"{settings.PORTAL_BASE_URL}/widget/chat.js" in html
    assert [o.origin for o in token.widget_origins.all()] == [
        "https://blog.example",
        "https://shop.example",
    ]
    assert (token.bot_ids, token.rpm, token.session_rpm, token.name) == (
        [bots.a_child],
        100,
        5,
        "Shop help",
    )
    event = AuditEvent.objects.get(action="widget_key.issued", target_id=token.token_id)
    assert event.changes["origins"] == ["https://shop.example", "https://blog.example"]
    assert plaintext not in json.dumps(event.changes)
    again = browser_client.get(f"/widget-keys/{token.token_id}/")
    assert plaintext not in again.content.decode()
    assert token.display in again.content.decode()


def test_a_bot_outside_the_picker_is_refused_beside_the_field(world, bots, browser_client):
    response = _issue(browser_client, world, bots.b_child)

    assert response.status_code == 422
    assert "Choose one of the account&#x27;s bots." in response.content.decode()


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        ("", "This field is required."),
        ("https://shop.example/path", "without a path"),
        ("*.shop.example", "wildcards are not allowed"),
        ("shop.example", "starts with https://"),
    ],
)
def test_bad_origins_are_refused_beside_the_field(world, bots, browser_client, origins, message):
    before = Token.objects.filter(kind=Token.Kind.WIDGET).count()

    response = _issue(browser_client, world, bots.a_child, origins=origins)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert Token.objects.filter(kind=Token.Kind.WIDGET).count() == before


def test_the_key_page_changes_origins_and_the_stream_follows(world, bots, browser_client, client):
    html = _issue(browser_client, world, bots.a_child).content.decode()
    plaintext = html.split('data-key="', 1)[1].split('"', 1)[0]
    token = Token.objects.filter(kind=Token.Kind.WIDGET, account=world.a_child).latest("pk")
    page = f"/widget-keys/{token.token_id}/"

    saved = browser_client.post(
        page, {"origins": "https://new-shop.example"}, HTTP_HX_REQUEST="true"
    )

    assert saved.status_code == 200
    assert "Saved: the key now works from 1 origin." in saved.content.decode()
    assert list(token.widget_origins.values_list("origin", flat=True)) == [
        "https://new-shop.example"
    ]
    assert AuditEvent.objects.filter(
        action="widget_key.origins_changed", target_id=token.token_id
    ).exists()
    moved = chat(client, plaintext, headers={"Origin": "https://new-shop.example"})
    assert moved.status_code == 200
    assert chat(client, plaintext, headers={"Origin": SITE}).status_code == 403


def test_the_token_list_leaves_widget_keys_to_their_own_tab(world, bots, browser_client):
    _issue(browser_client, world, bots.a_child)

    tokens = browser_client.get(f"/accounts/{world.a_child.public_id}/tokens/").content.decode()
    widget = browser_client.get(f"/accounts/{world.a_child.public_id}/widget/").content.decode()

    assert "ppw_" not in tokens
    assert "on the <a" in tokens
    assert "ppw_" in widget
    assert "Shop help" in widget


def test_rotating_a_widget_key_shows_its_new_snippet_and_comes_back_to_the_widget_tab(
    world, bots, browser_client
):
    _issue(browser_client, world, bots.a_child)
    token = Token.objects.filter(kind=Token.Kind.WIDGET, account=world.a_child).latest("pk")

    rotated = browser_client.post(f"/tokens/{token.token_id}/rotate/", {"grace_seconds": "0"})
    revoked = browser_client.post(f"/tokens/{token.token_id}/revoke/", {"reason": "moved"})

    html = rotated.content.decode()
    assert rotated.status_code == 200
    assert 'data-key="ppw_' in html
    assert f"/accounts/{world.a_child.public_id}/widget/" in html
    assert revoked.status_code == 303
    assert revoked["Location"] == f"/accounts/{world.a_child.public_id}/widget/"


# -- the live preview ------------------------------------------------------------------------


@contextmanager
def browser(portal, person, *, acting: SupportSession | None = None) -> Iterator[httpx.Client]:
    """An HTTP client of the live portal with ``person``'s session (acting under ``acting``)."""
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(person.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = person.get_session_auth_hash()
    if acting is not None:
        store[SUPPORT_SESSION_KEY] = acting.pk
    store.save()
    with httpx.Client(base_url=portal.url, timeout=15) as http:
        http.cookies.set(settings.SESSION_COOKIE_NAME, str(store.session_key))
        yield http


@pytest.fixture
def logged_in(portal, admin) -> Iterator[httpx.Client]:
    """An HTTP client of the live portal with the admin's session and CSRF cookie."""
    with browser(portal, admin) as http:
        yield http


def test_the_preview_streams_the_same_lines_through_the_persons_session(
    world, bots, browser_client, logged_in, client
):
    _issue(browser_client, world, bots.a_child)
    token = Token.objects.filter(kind=Token.Kind.WIDGET, account=world.a_child).latest("pk")
    page = logged_in.get(f"/widget-keys/{token.token_id}/")
    assert page.status_code == 200
    assert 'data-target="#widget-preview"' in page.text
    csrf = logged_in.cookies["csrftoken"]
    session_id = session()

    response = logged_in.post(
        f"/widget-keys/{token.token_id}/preview/",
        json={"sessionId": session_id, "message": "Is this the preview?"},
        headers={"X-CSRFToken": csrf},
    )
    without_csrf = logged_in.post(
        f"/widget-keys/{token.token_id}/preview/",
        json={"sessionId": session_id, "message": "hi"},
    )

    assert response.status_code == 200
    lines = events(response)
    assert [lines[0]["type"], lines[-1]["type"]] == ["start", "done"]
    assert "Is this the preview?" in lines[-1]["message"]
    assert without_csrf.status_code == 403
    # Metered as the key's account, under the key, like any widget turn.
    recorded = UsageEvent.objects.filter(token_id=token.token_id)
    wait_for(lambda: recorded.count() >= 2, 5, "the preview's usage events")
    assert {event.account_id for event in recorded} == {world.a_child.pk}


def test_the_preview_refuses_a_bad_payload_in_the_streams_shape(
    world, bots, browser_client, logged_in
):
    _issue(browser_client, world, bots.a_child)
    token = Token.objects.filter(kind=Token.Kind.WIDGET, account=world.a_child).latest("pk")
    logged_in.get(f"/widget-keys/{token.token_id}/")

    response = logged_in.post(
        f"/widget-keys/{token.token_id}/preview/",
        json={"sessionId": "bad id", "message": "hi"},
        headers={"X-CSRFToken": logged_in.cookies["csrftoken"]},
    )

    assert response.status_code == 400
    assert list(response.json()) == ["error"]


@pytest.fixture(scope="module")
def partner_support(world):
    """Support on Partner A: may preview A Child's keys as themselves, or act as A Child."""
    user = make_user("widget-partner-support")
    make_member(user, world.partner_a, Role.SUPPORT)
    return user


def _preview_turn(http: httpx.Client, token: Token, request_id: str) -> httpx.Response:
    http.get(f"/widget-keys/{token.token_id}/")  # sets the CSRF cookie
    return http.post(
        f"/widget-keys/{token.token_id}/preview/",
        json={"sessionId": session(), "message": "Does the widget answer?"},
        headers={"X-CSRFToken": http.cookies["csrftoken"], "X-Request-ID": request_id},
    )


def _support_upstream_calls(request_id: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action="support.upstream_call", changes__request_id=request_id
        ).order_by("pk")
    )


def test_a_preview_turn_made_while_acting_is_on_the_support_sessions_trail(
    world, bots, portal, partner_support
):
    widget_key(world, world.a_child, bots.a_child)
    token = Token.objects.filter(kind=Token.Kind.WIDGET, account=world.a_child).latest("pk")
    support = start_impersonation(partner_support, world.a_child, reason="Ticket 2: widget")
    try:
        with browser(portal, partner_support, acting=support) as http:
            response = _preview_turn(http, token, "preview-while-acting")
    finally:
        stop_impersonation(support, actor=partner_support)

    assert response.status_code == 200
    assert events(response)[-1]["type"] == "done"
    calls = _support_upstream_calls("preview-while-acting")
    assert len(calls) == 2
    assert calls[0].changes["call"] == "POST /conversation/create"
    assert re.fullmatch(r"POST /conversation/[\w-]+/complete", calls[1].changes["call"])
    assert {call.correlation_id for call in calls} == {support.correlation_id}
    assert {(call.actor_id, call.account_id) for call in calls} == {
        (partner_support.pk, world.a_child.pk)
    }
    assert {(call.changes["account"], call.changes["status"]) for call in calls} == {
        (world.a_child.public_id, 200)
    }


def test_a_preview_turn_made_as_oneself_is_on_no_support_trail(
    world, bots, portal, partner_support
):
    widget_key(world, world.a_child, bots.a_child)
    token = Token.objects.filter(kind=Token.Kind.WIDGET, account=world.a_child).latest("pk")

    with browser(portal, partner_support) as http:
        response = _preview_turn(http, token, "preview-as-oneself")

    assert response.status_code == 200
    assert events(response)[-1]["type"] == "done"
    assert _support_upstream_calls("preview-as-oneself") == []
    # The turn did reach the upstream, under the key, with the id it was given.
    recorded = UsageEvent.objects.filter(token_id=token.token_id, request_id="preview-as-oneself")
    wait_for(lambda: recorded.count() >= 2, 5, "the preview's usage events")


def test_the_script_is_served_at_a_stable_address_with_revalidation(client):
    response = client.get("/widget/chat.js")
    again = client.get("/widget/chat.js", headers={"If-None-Match": response.headers["etag"]})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "public" in response.headers["cache-control"]
    assert "getReader()" in response.text
    assert again.status_code == 304


def test_a_key_issued_on_the_page_chats_from_its_site(world, bots, browser_client, client):
    html = _issue(browser_client, world, bots.a_child).content.decode()
    plaintext = html.split('data-key="', 1)[1].split('"', 1)[0]

    response = chat(client, plaintext, headers={"Origin": "https://blog.example"})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://blog.example"


def test_an_operator_acting_as_the_tenant_lists_its_bots_on_the_support_trail(world, bots):
    # The picker's upstream call is one the person makes as the tenant: while acting, it is
    # written to the support session's audit trail like every console call.
    from tenants.models import SupportSession

    operator = make_user("widget-operator", staff=True)
    client = Client()
    client.force_login(operator)
    started = client.post(
        f"/accounts/{world.a_child.public_id}/support/start/",
        {"reason": "Ticket 1: widget setup", "minutes": "30", "allow_changes": "on"},
    )
    assert started.status_code == 303, started.content.decode()[:500]
    support = SupportSession.objects.get(actor=operator, ended_at__isnull=True)
    try:
        page = client.get(_new_key_url(world))
        assert page.status_code == 200
        assert bots.a_child in page.content.decode()
        calls = AuditEvent.objects.filter(
            correlation_id=support.correlation_id, action="support.upstream_call"
        )
        assert [(event.target_id, event.changes["status"]) for event in calls] == [
            ("GET /bot/list", 200)
        ]
    finally:
        client.post("/support/stop/")
