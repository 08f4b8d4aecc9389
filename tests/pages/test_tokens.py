"""The token pages: the list, the scope picker, the show-once dialog, rotating and revoking.

Who may reach each page is in ``test_permissions.py`` with every other page; here is what the
pages do, and that a token's value is shown exactly once and kept nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenants.credentials import CredentialError, authenticate_sync, catalogue, clear_local_cache
from tenants.credentials import authentication as credential_authentication
from tenants.models import Account, AuditEvent, Token
from tenants.services import issue_token, revoke_token, rotate_token
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db

# A stand-in for every page that may not hold a value: what a token looks like inside HTML.
TOKEN_PREFIX = "ppk_"


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    """Each test starts as a fresh worker: no token record cached in this process."""
    clear_local_cache()
    credential_authentication.clear_last_used_notes()
    yield
    clear_local_cache()


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Run a request (or a service) and its on-commit work (republishing the token's record
    for the hot path), as happens outside a test's wrapping transaction."""

    def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return call


def tokens_url(account: Account) -> str:
    return f"/accounts/{account.public_id}/tokens/"


def new_url(account: Account) -> str:
    return f"/accounts/{account.public_id}/tokens/new/"


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Production backend",
        "description": "",
        "scopes": ["conversation:*", "bot:list"],
        "extra_scopes": "",
        "bot_ids": "",
        "expires_in_days": "",
    }
    data.update(changes)
    return data


def value_in(body: str) -> str:
    """The token value the show-once dialog holds (its copyable box)."""
    start = body.index('id="token-value"')
    value = body[start:].split('value="', 1)[1].split('"', 1)[0]
    assert value.startswith(TOKEN_PREFIX)
    return value


def assert_shown_once(response: Any) -> str:
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    value = value_in(body)
    assert body.count(value) == 1
    assert "it will not be shown again" in body
    assert 'hx-history="false"' in body
    return value


def issued(account: Account, *scopes: str, **fields: Any) -> Any:
    return issue_token(
        account, name=fields.pop("name", "api"), scopes=list(scopes), actor=None, **fields
    )


# -- the list ----------------------------------------------------------------------------------


def test_the_list_shows_each_token_with_its_scopes_explained_and_its_status(
    pages, client_for, committed
):
    child = pages.a_child
    active = issued(child, "conversation:complete", name="Chat backend", bot_ids=["bot_1"]).token
    expiring = issued(child, "*:list", name="Soon gone", expires_in=3 * 24 * 3600).token
    rotated = committed(
        rotate_token, issued(child, "*", name="Rotated").token, grace_seconds=600, actor=None
    ).token
    revoked = issued(child, "bot:*", name="Old one").token
    revoke_token(revoked, actor=None)
    expired = issued(child, "usage:fetch", name="Expired one").token
    Token.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))

    body = client_for("a_viewer").get(tokens_url(child)).content.decode()
    live, _, ended = body.partition('class="card flush ended-tokens"')
    for token, status in (
        (active, "Active"),
        (expiring, "Expiring"),
        (rotated, "In rotation grace"),
    ):
        row = live[live.index(f'id="token-{token.token_id}"') :].split("</tr>")[0]
        assert token.display in row
        assert status in row
    assert "Send messages and get replies" in live  # conversation:complete explained
    assert "List on every resource." in live  # *:list
    assert "Everything the account can do" in live  # *
    assert "bot_1" in live
    assert "API token" in live
    # Revoked and expired ones are listed apart, collapsed.
    assert "<details" in body.split('id="token-' + revoked.token_id)[0].rsplit("<section", 1)[-1]
    for token, status in ((revoked, "Revoked"), (expired, "Expired")):
        assert token.token_id not in live
        row = ended[ended.index(f'id="token-{token.token_id}"') :].split("</tr>")[0]
        assert status in row
    assert TOKEN_PREFIX + active.token_id not in body  # the display form only, never a value


def test_a_viewer_reads_the_list_but_gets_no_controls(pages, client_for):
    token = issued(pages.a_child, "*").token
    body = client_for("a_viewer").get(tokens_url(pages.a_child)).content.decode()
    assert token.display in body
    assert "/tokens/new/" not in body
    assert f"/tokens/{token.token_id}/rotate/" not in body
    assert f"/tokens/{token.token_id}/revoke/" not in body


def test_an_admin_gets_the_controls_and_the_tab_is_current(pages, client_for):
    token = issued(pages.a_child, "*").token
    body = client_for("a_admin").get(tokens_url(pages.a_child)).content.decode()
    assert f'href="{new_url(pages.a_child)}"' in body
    assert f"/tokens/{token.token_id}/rotate/" in body
    assert f"/tokens/{token.token_id}/revoke/" in body
    assert f'href="{tokens_url(pages.a_child)}" aria-current="page">Tokens</a>' in body


def test_the_account_page_has_a_tokens_tab(pages, client_for):
    body = client_for("a_viewer").get(f"/accounts/{pages.a_child.public_id}/").content.decode()
    assert f'href="{tokens_url(pages.a_child)}">Tokens</a>' in body


def test_a_suspended_account_offers_no_new_token(pages, client_for):
    Account.objects.filter(pk=pages.a_child.pk).update(status=Account.Status.SUSPENDED)
    body = client_for("a_admin").get(tokens_url(pages.a_child)).content.decode()
    assert "/tokens/new/" not in body


def test_the_list_shows_only_that_accounts_tokens_and_counts_session_tokens(pages, client_for):
    issued(pages.partner_a, "*", name="Partner's own")
    issued(pages.a_grandchild, "*", name="Grandchild's")
    Token.objects.create(
        account=pages.a_child,
        token_id="tok_session1",
        kind=Token.Kind.SESSION,
        name="Session",
        scopes=["*"],
        secret_hash="0" * 64,
        last4="abcd",
        expires_at=timezone.now() + timedelta(minutes=15),
    )
    body = client_for("a_owner").get(tokens_url(pages.a_child)).content.decode()
    assert "Partner&#x27;s own" not in body
    assert "Grandchild" not in body
    assert "tok_session1" not in body
    assert "Also 1 short-lived session token" in body


def test_the_list_makes_the_same_number_of_queries_for_few_and_many_tokens(pages, client_for):
    client = client_for("a_admin")
    url = tokens_url(pages.a_child)
    issued(pages.a_child, "*")
    revoke_token(issued(pages.a_child, "*").token, actor=None)
    client.get(url)  # warm the session and the user
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for number in range(15):
        token = issued(pages.a_child, "bot:list", "conversation:*", name=f"t{number}").token
        if number % 3 == 0:
            revoke_token(token, actor=None)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
    assert len(few) <= 10


# -- creating: the picker and the show-once dialog ---------------------------------------------


def test_the_form_offers_every_scope_of_the_catalogue_with_its_explanation(pages, client_for):
    body = client_for("a_admin").get(new_url(pages.a_child)).content.decode()
    for resource in catalogue():
        assert f'value="{resource["resource"]}:*"' in body
        for action in resource["actions"]:  # type: ignore[attr-defined]
            assert f'value="{action["scope"]}"' in body
    assert 'value="*"' in body
    assert "Full access" in body
    assert "Send messages and get replies" in body
    assert 'name="bot_ids"' in body
    assert 'name="expires_in_days"' in body


def test_creating_a_token_shows_its_value_once_and_never_again(pages, client_for, committed):
    client = client_for("a_admin")
    response = committed(
        client.post,
        new_url(pages.a_child),
        form_data(bot_ids="bot_a, bot_b", expires_in_days="30", description="for prod"),
    )
    value = assert_shown_once(response)
    assert "Location" not in response
    assert value not in response.cookies.output()

    token = Token.objects.get(account=pages.a_child)
    assert (token.name, token.description) == ("Production backend", "for prod")
    assert token.scopes == ["conversation:*", "bot:list"]
    assert token.bot_ids == ["bot_a", "bot_b"]
    assert token.expires_at is not None
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert token.created_by == pages.a_admin
    record = authenticate_sync(value)
    assert (record.token_id, record.account_id) == (token.token_id, pages.a_child.pk)

    # Nowhere else: not the list, not the audit log, not the session or a message.
    listing = client.get(tokens_url(pages.a_child)).content.decode()
    assert value not in listing
    assert token.display in listing
    assert value not in client.get(f"/audit/?account={pages.a_child.public_id}").content.decode()
    for event in AuditEvent.objects.all():
        assert value not in json.dumps(event.changes)
        assert value[-20:] not in json.dumps(event.changes)
    assert value not in str(dict(client.session.items()))
    assert value not in client.get("/").content.decode()


def test_creating_with_htmx_swaps_in_the_dialog(pages, client_for):
    response = client_for("a_owner").post(new_url(pages.a_child), form_data(), headers=HTMX)
    value = assert_shown_once(response)
    body = response.content.decode().strip()
    assert body.startswith('<dialog open id="show-once"')
    assert "<html" not in body
    assert "HX-Redirect" not in response
    assert value


def test_full_access_and_whole_resources_absorb_the_boxes_they_cover(pages, client_for):
    client = client_for("a_admin")
    client.post(
        new_url(pages.a_child), form_data(name="one", scopes=["bot:*", "bot:list", "usage:fetch"])
    )
    client.post(new_url(pages.a_child), form_data(name="two", scopes=["bot:list", "*"]))
    assert Token.objects.get(name="one").scopes == ["bot:*", "usage:fetch"]
    assert Token.objects.get(name="two").scopes == ["*"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scopes": ["bogus:list"]}, "there is no resource &#x27;bogus&#x27;"),
        ({"scopes": ["bot:fly"]}, "bot has no action &#x27;fly&#x27;"),
        (
            {"scopes": [], "extra_scopes": "*:teleport"},
            "no resource has an action &#x27;teleport&#x27;",
        ),
        ({"scopes": [], "extra_scopes": "conversation"}, "is not a scope: write resource:action"),
        ({"scopes": []}, "Pick at least one scope, or full access (*)."),
        ({"name": ""}, "This field is required."),
        ({"expires_in_days": "0"}, "greater than or equal to 1"),
        ({"bot_ids": "x" * 65}, "A bot id has at most 64 characters."),
    ],
)
def test_bad_input_comes_back_with_a_readable_message_and_makes_nothing(
    pages, client_for, changes, message
):
    response = client_for("a_admin").post(
        new_url(pages.a_child), form_data(**changes), headers=HTMX
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert message in body
    assert body.strip().startswith('<section id="token-form"')
    assert "no-store" not in response.get("Cache-Control", "")
    assert not Token.objects.exists()
    assert not AuditEvent.objects.filter(action="token.issued").exists()


def test_what_was_picked_stays_picked_after_an_error(pages, client_for):
    response = client_for("a_admin").post(
        new_url(pages.a_child), form_data(name="", scopes=["usage:fetch"])
    )
    body = response.content.decode()
    assert 'value="usage:fetch" checked' in body
    assert 'value="bot:list" checked' not in body


def test_a_suspended_account_gets_no_new_token_and_says_why(pages, client_for):
    Account.objects.filter(pk=pages.a_child.pk).update(status=Account.Status.SUSPENDED)
    response = client_for("a_admin").post(new_url(pages.a_child), form_data())
    assert response.status_code == 422
    assert "A Child is suspended: it cannot get new tokens." in response.content.decode()
    assert not Token.objects.exists()


# -- rotating ----------------------------------------------------------------------------------


def test_rotating_keeps_the_id_shows_the_new_value_once_and_the_old_one_works_for_the_grace(
    pages, client_for, committed
):
    first = committed(issued, pages.a_child, "*")
    page = client_for("a_admin").get(f"/tokens/{first.token.token_id}/rotate/").content.decode()
    assert 'name="grace_seconds"' in page
    assert first.plaintext not in page

    response = committed(
        client_for("a_admin").post,
        f"/tokens/{first.token.token_id}/rotate/",
        {"grace_seconds": "3600"},
    )
    new_value = assert_shown_once(response)
    assert first.plaintext not in response.content.decode()
    assert new_value != first.plaintext
    assert "The old value keeps working until" in response.content.decode()
    token = Token.objects.get()
    assert token.token_id == first.token.token_id
    assert token.in_rotation_grace
    assert authenticate_sync(new_value).token_id == token.token_id
    assert authenticate_sync(first.plaintext).token_id == token.token_id
    event = AuditEvent.objects.get(action="token.rotated")
    assert new_value not in json.dumps(event.changes)
    assert event.changes["grace_seconds"] == 3600


def test_rotating_without_grace_ends_the_old_value_at_once(pages, client_for, committed):
    first = committed(issued, pages.a_child, "*")
    response = committed(
        client_for("a_owner").post,
        f"/tokens/{first.token.token_id}/rotate/",
        {"grace_seconds": "0"},
        headers=HTMX,
    )
    new_value = assert_shown_once(response)
    assert "The old value stopped working now." in response.content.decode()
    assert authenticate_sync(new_value)
    with pytest.raises(CredentialError):
        authenticate_sync(first.plaintext)


def test_a_grace_period_not_offered_is_refused(pages, client_for):
    token = issued(pages.a_child, "*").token
    response = client_for("a_admin").post(
        f"/tokens/{token.token_id}/rotate/", {"grace_seconds": "999999999"}
    )
    assert response.status_code == 422
    assert "Select a valid choice." in response.content.decode()
    assert not AuditEvent.objects.filter(action="token.rotated").exists()


def test_a_revoked_token_is_not_rotated(pages, client_for):
    token = revoke_token(issued(pages.a_child, "*").token, actor=None)
    page = client_for("a_admin").get(f"/tokens/{token.token_id}/rotate/").content.decode()
    assert "there is nothing to rotate" in page
    response = client_for("a_admin").post(
        f"/tokens/{token.token_id}/rotate/", {"grace_seconds": "0"}
    )
    assert response.status_code == 422
    assert "This token was revoked; issue a new one." in response.content.decode()
    assert 'id="token-value"' not in response.content.decode()


# -- revoking ----------------------------------------------------------------------------------


def test_revoking_asks_first_then_makes_the_token_fail_everywhere(pages, client_for, committed):
    first = committed(issued, pages.a_child, "*", name="Leaky")
    assert authenticate_sync(first.plaintext)
    client = client_for("a_admin")
    page = client.get(f"/tokens/{first.token.token_id}/revoke/").content.decode()
    assert "Revoke Leaky" in page
    assert "cannot be undone" in page
    assert Token.objects.get().revoked_at is None

    response = committed(
        client.post, f"/tokens/{first.token.token_id}/revoke/", {"reason": "leaked in a log"}
    )
    assert response.status_code == 303
    assert response["Location"] == tokens_url(pages.a_child)
    with pytest.raises(CredentialError):
        authenticate_sync(first.plaintext)
    event = AuditEvent.objects.get(action="token.revoked")
    assert (event.actor, event.changes["reason"]) == (pages.a_admin, "leaked in a log")
    listing = client.get(response["Location"]).content.decode()
    assert f"Leaky ({first.token.display}) is revoked" in listing
    ended = listing.split('class="card flush ended-tokens"')[1]
    assert f'id="token-{first.token.token_id}"' in ended


def test_revoking_with_htmx_redirects_the_browser_to_the_list(pages, client_for):
    token = issued(pages.a_child, "*").token
    response = client_for("a_admin").post(f"/tokens/{token.token_id}/revoke/", headers=HTMX)
    assert response["HX-Redirect"] == tokens_url(pages.a_child)
    assert Token.objects.get().is_revoked


def test_an_admin_changes_a_tokens_rate_and_every_worker_sees_it(pages, client_for, committed):
    first = committed(issued, pages.a_child, "*", name="Busy")
    client = client_for("a_admin")
    assert 'name="rpm"' in client.get(f"/tokens/{first.token.token_id}/rate/").content.decode()

    bad = client.post(f"/tokens/{first.token.token_id}/rate/", {"rpm": "-3"})
    assert bad.status_code == 422
    assert "greater than or equal to 0" in bad.content.decode()
    response = committed(client.post, f"/tokens/{first.token.token_id}/rate/", {"rpm": "7"})

    assert response.status_code == 303
    assert Token.objects.get().rpm == 7
    assert authenticate_sync(first.plaintext).rpm == 7  # the hot path's record, republished
    event = AuditEvent.objects.get(action="token.limits_changed")
    assert event.changes == {"rpm": {"before": None, "after": 7}}
    assert "now has 7 requests per minute" in client.get(response["Location"]).content.decode()
    committed(client.post, f"/tokens/{first.token.token_id}/rate/", {"rpm": ""})
    assert Token.objects.get().rpm is None


def test_a_viewer_cannot_change_a_tokens_rate(pages, client_for):
    token = issued(pages.a_child, "*").token
    response = client_for("a_viewer").post(f"/tokens/{token.token_id}/rate/", {"rpm": "1"})
    assert response.status_code == 403
    assert Token.objects.get().rpm is None


# -- reach -------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["rotate", "revoke", "rate"])
def test_another_partners_token_and_a_missing_one_are_the_same_404(pages, client_for, action):
    foreign = issued(pages.b_child, "*").token
    client = client_for("a_owner")
    for token_id in (foreign.token_id, "tok_missing"):
        assert client.get(f"/tokens/{token_id}/{action}/").status_code == 404
        assert (
            client.post(f"/tokens/{token_id}/{action}/", {"grace_seconds": "0"}).status_code == 404
        )
    foreign.refresh_from_db()
    assert not foreign.is_revoked
    assert (
        not AuditEvent.objects.filter(action__startswith="token.", account=pages.b_child)
        .exclude(action="token.issued")
        .exists()
    )


def test_a_tenant_user_manages_its_own_tokens_but_not_its_partners(pages, client_for):
    client = client_for("tenant_user")
    assert client.get(tokens_url(pages.a_child)).status_code == 200
    assert client.get(tokens_url(pages.a_grandchild)).status_code == 200
    assert client.get(tokens_url(pages.partner_a)).status_code == 404
    partner_token = issued(pages.partner_a, "*").token
    assert client.post(f"/tokens/{partner_token.token_id}/revoke/").status_code == 404
    assert client.post(new_url(pages.partner_a), form_data()).status_code == 404
    assert not Token.objects.filter(account=pages.partner_a).exclude(pk=partner_token.pk).exists()
