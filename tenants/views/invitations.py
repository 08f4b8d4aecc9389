"""The page behind an invitation link, ``/invitations/<token>/`` (tenants.services.people).

The token in the link is the capability: whoever holds it was sent the e-mail. It is looked up
by its keyed hash only, and nothing about the invitation is shown for an unknown token. Accepting
goes through ``accept_invitation``, which checks the signed-in person's e-mail against the
invited one, the expiry, and that the link was not used.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from tenants.branding import brand_for_account
from tenants.forms import InvitationSignupForm
from tenants.models import Invitation, hash_invitation_token
from tenants.services import AccountError, accept_invitation
from tenants.views.http import INVALID, HtmxHttpRequest, context_of, redirect_after_post

# The backend `login` records for a person who just chose their password here.
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _problem(request: HtmxHttpRequest, invitation: Invitation | None) -> HttpResponse | None:
    """A readable page for a link that cannot be used, else None."""
    if invitation is None or invitation.accepted_at is not None:
        message = "This invitation link is not valid, or it was already used."
        return render(request, "tenants/invitation.html", {"problem": message}, status=404)
    if invitation.expires_at <= timezone.now():
        message = (
            f"This invitation to {invitation.account.name} expired on "
            f"{invitation.expires_at:%d %B %Y}. Ask the person who invited you for a new one."
        )
        context = {"problem": message, "brand": brand_for_account(invitation.account)}
        return render(request, "tenants/invitation.html", context, status=410)
    return None


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HtmxHttpRequest, token: str) -> HttpResponse:
    invitation = (
        Invitation.objects.select_related("account", "invited_by")
        .filter(token_hash=hash_invitation_token(token))
        .first()
    )
    problem = _problem(request, invitation)
    if problem is not None or invitation is None:
        return problem or HttpResponse(status=404)

    user = request.user
    email_matches = (
        user.is_authenticated and str(getattr(user, "email", "")).lower() == invitation.email
    )
    has_login = (
        get_user_model().objects.filter(email__iexact=invitation.email).exists()
        or get_user_model().objects.filter(username__iexact=invitation.email).exists()
    )
    signup = InvitationSignupForm(email=invitation.email)
    error, status = "", 200
    action = request.POST.get("action")
    if request.method == "POST" and action == "logout":
        logout(request)
        return redirect_after_post(request, request.path)
    if request.method == "POST" and action == "accept" and user.is_authenticated:
        try:
            accept_invitation(token=token, user=user, context=context_of(request))
        except AccountError as exc:
            error, status = exc.message, INVALID
        else:
            return _joined(request, invitation)
    elif request.method == "POST" and action == "signup" and not user.is_authenticated:
        signup = InvitationSignupForm(request.POST, email=invitation.email)
        if has_login:
            error, status = f"{invitation.email} already has a login: sign in instead.", INVALID
        elif signup.is_valid():
            try:
                # The new login and the membership are made together, or neither is.
                with transaction.atomic():
                    new_user = signup.create_user()
                    accept_invitation(token=token, user=new_user, context=context_of(request))
            except AccountError as exc:
                error, status = exc.message, INVALID
            else:
                login(request, new_user, backend=_MODEL_BACKEND)
                return _joined(request, invitation)
        else:
            status = INVALID
    elif request.method == "POST":
        error, status = "Sign in first, or create your login below.", INVALID

    context = {
        "invitation": invitation,
        "email_matches": email_matches,
        "has_login": has_login,
        "signup": signup,
        "error": error,
        "login_url": f"{reverse('login')}?next={request.path}",
        # The inviting account's partner's brand, as in the e-mail that brought them here.
        "brand": brand_for_account(invitation.account),
    }
    return render(request, "tenants/invitation.html", context, status=status)


def _joined(request: HtmxHttpRequest, invitation: Invitation) -> HttpResponse:
    messages.success(
        request, f"Welcome to {invitation.account.name}: you joined as {invitation.role}."
    )
    return redirect_after_post(
        request, reverse("tenants:account-detail", args=[invitation.account.public_id])
    )
