"""Every page and every POST action, for every persona: the right people get it, others a 404
(a 403 when they can see the account but their role does not allow the action), anonymous
visitors the login page. The same matrix for every endpoint, as healthchecks does it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tenants.models import Invitation, Role, Token
from tenants.services import invite_member, issue_token
from tests.factories import make_widget_key
from tests.pages.conftest import PERSONAS, PageWorld

pytestmark = pytest.mark.django_db

A_READERS = {"a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "staff"}
A_ADMINS = {"a_owner", "a_admin", "tenant_user", "staff"}  # tenant_user owns a_child
A_OWNERS = {"a_owner", "tenant_user", "staff"}
A_SUPPORTERS = {"a_owner", "a_admin", "a_support", "tenant_user", "staff"}
# The console and its jobs: support and up (tenants/console/acting.py), not viewers.
A_CONSOLE = A_SUPPORTERS
EVERYONE = set(PERSONAS) - {"anonymous"}
A_SUPPORT_ABOVE = {"a_owner", "a_admin", "a_support", "staff"}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: Callable[[PageWorld], str]
    allowed: set[str]
    ok_status: int = 200
    # Who can see the account but may not do this: 403. Everyone else (logged in): 404.
    visible: set[str] = frozenset()  # type: ignore[assignment]
    data: Callable[[PageWorld], dict[str, Any]] = lambda pages: {}


def child(pages: PageWorld) -> str:
    return pages.world.a_child.public_id


def child_token(pages: PageWorld) -> str:
    """A token of A's child (made on first use, so only these cases pay for it)."""
    token = Token.objects.filter(account=pages.world.a_child).first()
    if token is None:
        token = issue_token(pages.world.a_child, name="ci", scopes=["*"], actor=None).token
    return token.token_id


def child_widget_key(pages: PageWorld) -> str:
    """A widget key of A's child (made on first use, without the upstream's bot check)."""
    key = Token.objects.filter(account=pages.world.a_child, kind=Token.Kind.WIDGET).first()
    return (key or make_widget_key(pages.world.a_child)).token_id


def child_invitation(pages: PageWorld) -> int:
    invitation = Invitation.objects.filter(account=pages.world.a_child).first()
    if invitation is None:
        invitation, _ = invite_member(
            pages.world.a_child, email="invited@x.example", role=Role.VIEWER, actor=None
        )
    return invitation.pk


NEW_TOKEN = {"name": "ci", "scopes": ["conversation:*"]}


def child_job(pages: PageWorld) -> str:
    """A background job of A's child (made on first use; never run: no worker here)."""
    from tenants.console.models import ConversationJob

    job = ConversationJob.objects.filter(account=pages.world.a_child).first()
    if job is None:
        job = ConversationJob.objects.create(
            account=pages.world.a_child,
            person=pages.world.a_support,
            person_label="a_support",
            message="hello",
        )
    return job.public_id


CONSOLE_TURN = {"message": "hello there"}


CASES = [
    Case("dashboard", "GET", lambda p: "/", EVERYONE),
    Case("tenant list", "GET", lambda p: "/tenants/", EVERYONE),
    Case("audit log", "GET", lambda p: "/audit/", EVERYONE),
    Case("account page", "GET", lambda p: f"/accounts/{child(p)}/", A_READERS),
    Case("members page", "GET", lambda p: f"/accounts/{child(p)}/members/", A_READERS),
    Case(
        "edit form",
        "GET",
        lambda p: f"/accounts/{child(p)}/edit/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "edit (time zone only: no upstream call)",
        "POST",
        lambda p: f"/accounts/{child(p)}/edit/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
        data=lambda p: {"name": p.a_child.name, "email": "", "timezone": "Europe/Paris"},
    ),
    Case(
        "suspend page",
        "GET",
        lambda p: f"/accounts/{child(p)}/suspend/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "suspend",
        "POST",
        lambda p: f"/accounts/{child(p)}/suspend/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
        data=lambda p: {"reason": "unpaid"},
    ),
    Case(
        "reactivate",
        "POST",
        lambda p: f"/accounts/{child(p)}/reactivate/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
    ),
    Case(
        "close page",
        "GET",
        lambda p: f"/accounts/{child(p)}/close/",
        A_OWNERS,
        visible=A_READERS,
    ),
    Case(
        "close with a wrong confirmation (no upstream call)",
        "POST",
        lambda p: f"/accounts/{child(p)}/close/",
        A_OWNERS,
        ok_status=422,
        visible=A_READERS,
        data=lambda p: {"confirmation": "not-the-slug"},
    ),
    Case(
        "onboarding under A's child",
        "GET",
        lambda p: f"/tenants/new/?parent={child(p)}",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "onboarding step 3",
        "GET",
        lambda p: f"/accounts/{child(p)}/onboarded/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "onboarding token step",
        "GET",
        lambda p: f"/accounts/{child(p)}/onboarded/token/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "onboarding token step: issue",
        "POST",
        lambda p: f"/accounts/{child(p)}/onboarded/token/",
        A_ADMINS,
        visible=A_READERS,
        data=lambda p: NEW_TOKEN,
    ),
    Case("token list", "GET", lambda p: f"/accounts/{child(p)}/tokens/", A_READERS),
    Case(
        "new token form",
        "GET",
        lambda p: f"/accounts/{child(p)}/tokens/new/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "issue a token",
        "POST",
        lambda p: f"/accounts/{child(p)}/tokens/new/",
        A_ADMINS,
        visible=A_READERS,
        data=lambda p: NEW_TOKEN,
    ),
    Case(
        "rotate page",
        "GET",
        lambda p: f"/tokens/{child_token(p)}/rotate/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "rotate a token",
        "POST",
        lambda p: f"/tokens/{child_token(p)}/rotate/",
        A_ADMINS,
        visible=A_READERS,
        data=lambda p: {"grace_seconds": "0"},
    ),
    Case(
        "token rate page",
        "GET",
        lambda p: f"/tokens/{child_token(p)}/rate/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "change a token's rate",
        "POST",
        lambda p: f"/tokens/{child_token(p)}/rate/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
        data=lambda p: {"rpm": "5"},
    ),
    Case(
        "revoke page",
        "GET",
        lambda p: f"/tokens/{child_token(p)}/revoke/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "revoke a token",
        "POST",
        lambda p: f"/tokens/{child_token(p)}/revoke/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
    ),
    Case("widget key list", "GET", lambda p: f"/accounts/{child(p)}/widget/", A_READERS),
    Case(
        "new widget key form (its upstream is unreachable: the bot id is typed)",
        "GET",
        lambda p: f"/accounts/{child(p)}/widget/new/",
        A_ADMINS,
        visible=A_READERS,
    ),
    Case(
        "issue a widget key with a bad origin (refused before any upstream call)",
        "POST",
        lambda p: f"/accounts/{child(p)}/widget/new/",
        A_ADMINS,
        ok_status=422,
        visible=A_READERS,
        data=lambda p: {"bot_id": "bot_1", "origins": "ftp://x", "rpm": 5, "session_rpm": 1},
    ),
    Case(
        "widget key page",
        "GET",
        lambda p: f"/widget-keys/{child_widget_key(p)}/",
        A_READERS,
    ),
    Case(
        "change a widget key's origins",
        "POST",
        lambda p: f"/widget-keys/{child_widget_key(p)}/",
        A_ADMINS,
        visible=A_READERS,
        data=lambda p: {"origins": "https://shop.example\nhttps://blog.example"},
    ),
    Case(
        "preview a widget key (its upstream is unreachable: 502)",
        "POST",
        lambda p: f"/widget-keys/{child_widget_key(p)}/preview/",
        A_SUPPORTERS,
        ok_status=502,
        visible=A_READERS,
        data=lambda p: {"sessionId": "preview-1", "message": "hi"},
    ),
    Case(
        "rotate a widget key",
        "POST",
        lambda p: f"/tokens/{child_widget_key(p)}/rotate/",
        A_ADMINS,
        visible=A_READERS,
        data=lambda p: {"grace_seconds": "0"},
    ),
    Case(
        "revoke a widget key",
        "POST",
        lambda p: f"/tokens/{child_widget_key(p)}/revoke/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
    ),
    Case(
        "revoke an invitation",
        "POST",
        lambda p: f"/invitations/{child_invitation(p)}/revoke/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
    ),
    Case(
        "invite",
        "POST",
        lambda p: f"/accounts/{child(p)}/members/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
        data=lambda p: {"email": "new@person.example", "role": "viewer"},
    ),
    Case(
        "change a role",
        "POST",
        lambda p: f"/members/{p.child_viewer_membership.pk}/role/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
        data=lambda p: {"role": "support"},
    ),
    Case("console: pick an account", "GET", lambda p: "/console/", EVERYONE),
    Case("console: background jobs", "GET", lambda p: "/console/jobs/", EVERYONE),
    # The upstream of these local partners is unreachable: the page says the bots could not
    # be listed, and still works.
    Case(
        "console as A's child",
        "GET",
        lambda p: f"/console/?account={child(p)}",
        A_CONSOLE,
        visible=A_READERS,
    ),
    Case(
        "console meter",
        "GET",
        lambda p: f"/console/meter/?account={child(p)}",
        A_CONSOLE,
        visible=A_READERS,
    ),
    Case(
        "console: send a message",
        "POST",
        lambda p: "/console/turns/",
        A_CONSOLE,
        visible=A_READERS,
        data=lambda p: {**CONSOLE_TURN, "account": child(p)},
    ),
    Case(
        "console: run in background",
        "POST",
        lambda p: "/console/jobs/new/",
        A_CONSOLE,
        visible=A_READERS,
        data=lambda p: {**CONSOLE_TURN, "account": child(p)},
    ),
    Case("a background job", "GET", lambda p: f"/console/jobs/{child_job(p)}/", A_CONSOLE),
    Case(
        "cancel a background job",
        "POST",
        lambda p: f"/console/jobs/{child_job(p)}/cancel/",
        A_CONSOLE,
        ok_status=204,
    ),
    Case(
        "remove a member",
        "POST",
        lambda p: f"/members/{p.child_viewer_membership.pk}/remove/",
        A_ADMINS,
        ok_status=303,
        visible=A_READERS,
    ),
    Case("support access tab", "GET", lambda p: f"/accounts/{child(p)}/support/", A_READERS),
    Case("support sessions", "GET", lambda p: "/support/", EVERYONE),
    # Support above the child may act as it; its own owner (tenant_user) may not: not "above".
    Case(
        "act as form",
        "GET",
        lambda p: f"/accounts/{child(p)}/support/start/",
        A_SUPPORT_ABOVE,
        visible=A_READERS,
    ),
    Case(
        "start acting",
        "POST",
        lambda p: f"/accounts/{child(p)}/support/start/",
        A_SUPPORT_ABOVE,
        ok_status=303,
        visible=A_READERS,
        data=lambda p: {"reason": "ticket 1", "minutes": "5"},
    ),
]


def expected_status(case: Case, persona: str) -> int:
    if persona == "anonymous":
        return 302
    if persona in case.allowed:
        return case.ok_status
    if persona in case.visible:
        return 403
    return 404


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_page_and_action_answers_each_persona_as_its_role_allows(
    pages, client_for, case, persona
):
    client = client_for(persona)
    url = case.url(pages)
    if case.method == "GET":
        response = client.get(url)
    elif url.endswith("/preview/"):  # the widget's JSON body, as the script sends it
        response = client.post(url, case.data(pages), content_type="application/json")
    else:
        response = client.post(url, case.data(pages))
    assert response.status_code == expected_status(case, persona), response.content[:2000]
    if response.status_code == 302:
        assert response["Location"].startswith("/login/?next=")


def without_csrf(content: bytes) -> bytes:
    # CSRF tokens (<body hx-headers>, the logout form) differ per request; nothing else may.
    content = re.sub(rb'"X-CSRFToken": "[^"]*"', b"", content)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


@pytest.mark.parametrize("persona", ["b_owner", "outsider"])
def test_a_foreign_account_and_a_missing_one_give_the_same_404_page(pages, client_for, persona):
    client = client_for(persona)
    foreign = client.get(f"/accounts/{pages.a_child.public_id}/")
    missing = client.get("/accounts/usr_does_not_exist/")
    assert foreign.status_code == missing.status_code == 404
    assert without_csrf(foreign.content) == without_csrf(missing.content)
    assert b"A Child" not in foreign.content


def test_a_forced_action_shows_a_readable_403_page(pages, client_for):
    response = client_for("a_viewer").post(f"/accounts/{pages.a_child.public_id}/suspend/")
    assert response.status_code == 403
    assert b"needs the admin role" in response.content
    assert b"Traceback" not in response.content


def test_an_admin_cannot_force_granting_the_owner_role(pages, client_for):
    response = client_for("a_admin").post(
        f"/members/{pages.child_viewer_membership.pk}/role/", {"role": "owner"}
    )
    assert response.status_code == 403
    pages.child_viewer_membership.refresh_from_db()
    assert pages.child_viewer_membership.role == "viewer"


def test_an_admin_cannot_force_removing_an_owner(pages, client_for):
    owner_membership = pages.tenant_user.memberships.get()
    response = client_for("a_admin").post(f"/members/{owner_membership.pk}/remove/")
    assert response.status_code == 403
    assert pages.tenant_user.memberships.exists()
