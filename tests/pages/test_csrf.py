"""Every form is protected by CSRF: without the token a POST is refused, with it (as the form
field, or as the header htmx sends from <body hx-headers>) it goes through."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tenants.models import Invitation, Role, Token
from tenants.services import invite_member, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict(pages) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(pages.a_owner)
    return client


def posts(pages) -> list[tuple[str, dict[str, str]]]:
    child = pages.a_child.public_id
    token = issue_token(pages.a_child, name="ci", scopes=["*"], actor=None).token.token_id
    invitation, _ = invite_member(
        pages.a_child, email="invited@x.example", role=Role.VIEWER, actor=None
    )
    return [
        (f"/accounts/{child}/tokens/new/", {"name": "X", "scopes": "*"}),
        (f"/accounts/{child}/onboarded/token/", {"name": "X", "scopes": "*"}),
        (f"/tokens/{token}/rotate/", {"grace_seconds": "0"}),
        (f"/tokens/{token}/revoke/", {}),
        (f"/invitations/{invitation.pk}/revoke/", {}),
        (f"/accounts/{child}/edit/", {"name": "X", "timezone": "UTC"}),
        (f"/accounts/{child}/suspend/", {}),
        (f"/accounts/{child}/reactivate/", {}),
        (f"/accounts/{child}/close/", {"confirmation": pages.a_child.slug}),
        (f"/accounts/{child}/members/", {"email": "x@y.example", "role": "viewer"}),
        (f"/accounts/{child}/onboarded/", {"email": "x@y.example", "role": "viewer"}),
        ("/tenants/new/", {"parent": pages.partner_a.public_id, "name": "X"}),
        (f"/members/{pages.child_viewer_membership.pk}/role/", {"role": "support"}),
        (f"/members/{pages.child_viewer_membership.pk}/remove/", {}),
        ("/invitations/some-token/", {"action": "accept"}),
    ]


def test_every_form_post_without_a_csrf_token_is_refused(pages, strict):
    for url, data in posts(pages):
        response = strict.post(url, data)
        assert response.status_code == 403, url
    pages.a_child.refresh_from_db()
    assert pages.a_child.status == "active"
    assert pages.child_viewer_membership.user.memberships.exists()
    assert Token.objects.get().is_usable  # neither rotated into a new one nor revoked
    assert Token.objects.get().previous_secret_hash == ""
    assert Invitation.objects.exists()


def test_every_page_form_carries_the_token(pages, strict):
    child = pages.a_child.public_id
    token = issue_token(pages.a_child, name="ci", scopes=["*"], actor=None).token.token_id
    for url in (
        f"/accounts/{child}/",
        f"/accounts/{child}/edit/",
        f"/accounts/{child}/suspend/",
        f"/accounts/{child}/close/",
        f"/accounts/{child}/members/",
        f"/accounts/{child}/tokens/new/",
        f"/accounts/{child}/onboarded/token/",
        f"/tokens/{token}/rotate/",
        f"/tokens/{token}/revoke/",
        "/tenants/new/",
    ):
        body = strict.get(url).content.decode()
        forms = re.findall(r'<form[^>]*method="post".*?</form>', body, flags=re.S)
        assert forms, url
        for form in forms:
            assert 'name="csrfmiddlewaretoken"' in form, (url, form[:200])


def test_the_htmx_header_from_the_body_tag_is_accepted(pages, strict):
    page = strict.get(f"/accounts/{pages.a_child.public_id}/").content.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert token is not None
    response = strict.post(
        f"/accounts/{pages.a_child.public_id}/suspend/",
        {"reason": "test"},
        headers={"HX-Request": "true", "X-CSRFToken": token.group(1)},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/accounts/{pages.a_child.public_id}/"
    pages.a_child.refresh_from_db()
    assert pages.a_child.status == "suspended"
