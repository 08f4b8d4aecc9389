"""The invitation link page: accept when signed in, sign in or create a login when not, and a
readable page for links that are unknown, used or expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tenants.models import Invitation, Membership, Role
from tenants.services import invite_member
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def invited(pages):
    invitation, token = invite_member(
        pages.a_child, email="newbie@people.example", role=Role.SUPPORT, actor=pages.a_admin
    )
    return invitation, f"/invitations/{token}/"


def test_a_signed_in_invitee_sees_the_offer_and_accepts_it(pages, invited):
    _invitation, url = invited
    user = make_user("newbie", email="newbie@people.example")
    client = Client()
    client.force_login(user)
    page = client.get(url).content.decode()
    assert "Join A Child" in page
    assert "a_admin invited" in page
    response = client.post(url, {"action": "accept"})
    assert response.status_code == 303
    assert response["Location"] == f"/accounts/{pages.a_child.public_id}/"
    assert Membership.objects.get(user=user, account=pages.a_child).role == "support"
    assert "you joined as support" in client.get(response["Location"]).content.decode()


def test_someone_signed_in_with_another_email_is_told_so_and_cannot_accept(pages, invited):
    _, url = invited
    client = Client()
    client.force_login(pages.outsider)
    page = client.get(url).content.decode()
    assert "but this invitation is for newbie@people.example" in page
    response = client.post(url, {"action": "accept"})
    assert response.status_code == 422
    assert "sent to another e-mail address" in response.content.decode()
    assert not Membership.objects.filter(user=pages.outsider).exists()


def test_signing_out_from_the_page_keeps_the_link(pages, invited):
    _, url = invited
    client = Client()
    client.force_login(pages.outsider)
    response = client.post(url, {"action": "logout"})
    assert response["Location"] == url
    assert "Create your login" in client.get(url).content.decode()


def test_a_new_person_creates_a_login_with_the_invited_email_and_joins(pages, invited):
    _, url = invited
    client = Client()
    page = client.get(url).content.decode()
    assert "Create your login" in page
    assert f"/login/?next={url}" in page
    response = client.post(
        url,
        {"action": "signup", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 303
    user = User.objects.get(email="newbie@people.example")
    assert user.username == "newbie@people.example"
    assert user.check_password("a-long-pass-phrase")
    assert Membership.objects.get(user=user).account == pages.a_child
    # Logged in straight away.
    assert client.get(response["Location"]).status_code == 200


def test_a_signup_with_bad_passwords_makes_no_login(pages, invited):
    _, url = invited
    response = Client().post(
        url, {"action": "signup", "password1": "a-long-pass-phrase", "password2": "different"}
    )
    assert response.status_code == 422
    assert "The two passwords differ." in response.content.decode()
    short = Client().post(url, {"action": "signup", "password1": "abc", "password2": "abc"})
    assert short.status_code == 422
    assert "too short" in short.content.decode()
    assert not User.objects.filter(email="newbie@people.example").exists()


def test_someone_with_a_login_is_asked_to_sign_in_not_to_sign_up(pages, invited):
    _, url = invited
    make_user("newbie", email="newbie@people.example")
    client = Client()
    page = client.get(url).content.decode()
    assert "Sign in to accept" in page
    assert "Create your login" not in page
    forced = client.post(url, {"action": "signup", "password1": "x" * 20, "password2": "x" * 20})
    assert forced.status_code == 422
    assert "already has a login" in forced.content.decode()
    assert User.objects.filter(email="newbie@people.example").count() == 1


def test_an_anonymous_accept_is_asked_to_sign_in_first(pages, invited):
    _, url = invited
    response = Client().post(url, {"action": "accept"})
    assert response.status_code == 422
    assert "Sign in first" in response.content.decode()


def test_a_used_link_shows_a_readable_message(pages, invited):
    invitation, url = invited
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    response = Client().get(url)
    assert response.status_code == 404
    assert "not valid, or it was already used" in response.content.decode()


def test_an_expired_link_shows_a_readable_message(pages, invited):
    invitation, url = invited
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    response = Client().get(url)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert "Ask the person who invited you" in response.content.decode()


def test_an_unknown_token_reveals_nothing(pages):
    response = Client().get("/invitations/not-a-real-token/")
    assert response.status_code == 404
    assert "A Child" not in response.content.decode()
