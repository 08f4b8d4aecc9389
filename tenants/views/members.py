"""People on an account: members, pending invitations, inviting, changing roles, removing."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from tenants import access
from tenants.forms import InviteForm, RoleForm
from tenants.models import Account, Invitation, Membership, Role
from tenants.services import (
    AccountError,
    change_role,
    invite_member,
    remove_member,
    revoke_invitation,
)
from tenants.views.accounts import account_capabilities, visible_lineage
from tenants.views.http import (
    INVALID,
    HtmxHttpRequest,
    context_of,
    failure_message,
    failure_status,
    redirect_after_post,
    render_page,
)

# Fired after any change to the people of an account; the members table and the invitations
# list re-fetch themselves on it (templates/tenants/members.html), so the view that handled the
# change does not need to know what else is on the page.
MEMBERS_CHANGED = "membersChanged"


def grantable_roles(held: Role | None) -> list[Role]:
    """The roles a person holding ``held`` may hand out, strongest first (the services agree)."""
    if held is None or not held.covers(Role.ADMIN):
        return []
    return [role for role in Role if held.covers(role)]


def _row(membership: Membership, held: Role | None, **extra: Any) -> dict[str, Any]:
    grantable = grantable_roles(held)
    manageable = (
        bool(grantable)
        and Role(membership.role) in grantable
        and membership.account.status != Account.Status.CLOSED
    )
    return {
        "membership": membership,
        "manageable": manageable,
        "role_form": RoleForm(initial={"role": membership.role}, grantable=grantable)
        if manageable
        else None,
        **extra,
    }


def _members_context(
    request: HtmxHttpRequest, account: Account, held: Role | None, form: InviteForm | None
) -> dict[str, Any]:
    capabilities = account_capabilities(held, account)
    memberships = account.memberships.select_related("user", "account").order_by("user__username")
    return {
        "account": account,
        "role": held,
        "lineage": visible_lineage(request, account),
        "rows": [_row(membership, held) for membership in memberships],
        # (invitation, whether this person may revoke it): nobody touches a stronger role.
        "invitations": (
            [
                (invitation, held is not None and held.covers(Role(invitation.role)))
                for invitation in Invitation.objects.pending()
                .filter(account=account)
                .order_by("-pk")
            ]
            if capabilities["can_manage_people"]
            else []
        ),
        "form": form,
        "tab": "members",
        **capabilities,
    }


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The people page; a POST invites someone."""
    account = access.get_account_for(request.user, public_id)
    held = access.role_on(request.user, account)
    can_invite = account_capabilities(held, account)["can_manage_people"]
    form = InviteForm(grantable=grantable_roles(held)) if can_invite else None
    status = 200
    if request.method == "POST":
        access.require_role(request.user, account, Role.ADMIN)
        form = InviteForm(request.POST, grantable=grantable_roles(held))
        if form.is_valid():
            try:
                invitation, _token = invite_member(
                    account,
                    email=form.cleaned_data["email"],
                    role=Role(form.cleaned_data["role"]),
                    actor=request.user,
                    context=context_of(request),
                )
            except AccountError as exc:
                if exc.code == "NOT_AUTHORIZED":
                    raise PermissionDenied(exc.message) from None
                form.add_error(None, failure_message(exc, account))
                status = failure_status(exc)
            else:
                email = invitation.email
                if not request.htmx:
                    messages.success(request, f"An invitation was e-mailed to {email}.")
                    return redirect_after_post(
                        request, reverse("tenants:members", args=[account.public_id])
                    )
                context = _members_context(
                    request, account, held, InviteForm(grantable=grantable_roles(held))
                )
                context["invited"] = email
                response = render_page(
                    request, "tenants/members.html", context, partial="invite-form"
                )
                return trigger_client_event(response, MEMBERS_CHANGED)
        else:
            status = INVALID
        context = _members_context(request, account, held, form)
        return render_page(
            request, "tenants/members.html", context, partial="invite-form", status=status
        )
    context = _members_context(request, account, held, form)
    partial = "people" if request.htmx and request.htmx.target == "people" else None
    return render_page(request, "tenants/members.html", context, partial=partial)


@login_required
@require_POST
def member_role(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    membership = access.get_membership_for(request.user, pk, min_role=Role.VIEWER)
    held = access.require_role(request.user, membership.account, Role.ADMIN)
    form = RoleForm(request.POST, grantable=grantable_roles(held))
    error, status = "", 200
    if not form.is_valid():
        raise PermissionDenied("You cannot grant that role here.")
    try:
        change_role(
            membership,
            role=Role(form.cleaned_data["role"]),
            actor=request.user,
            context=context_of(request),
        )
    except AccountError as exc:
        if exc.code == "NOT_AUTHORIZED":
            raise PermissionDenied(exc.message) from None
        membership.refresh_from_db(fields=["role"])
        error, status = failure_message(exc, membership.account), INVALID
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(
                request,
                f"{membership.user.get_username()} is now {membership.get_role_display()}.",
            )
        return redirect_after_post(
            request, reverse("tenants:members", args=[membership.account.public_id])
        )
    context = _row(membership, held, error=error, saved=not error)
    response = render_page(
        request,
        "tenants/members.html",
        {"row": context, "account": membership.account, "can_manage_people": True},
        partial="member-row",
        status=status,
    )
    return response if error else trigger_client_event(response, MEMBERS_CHANGED)


@login_required
@require_POST
def member_remove(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    membership = access.get_membership_for(request.user, pk, min_role=Role.VIEWER)
    account = membership.account
    held = access.require_role(request.user, account, Role.ADMIN)
    username = membership.user.get_username()
    try:
        remove_member(membership, actor=request.user, context=context_of(request))
    except AccountError as exc:
        if exc.code == "NOT_AUTHORIZED":
            raise PermissionDenied(exc.message) from None
        if request.htmx:
            context = _row(membership, held, error=failure_message(exc, account))
            return render_page(
                request,
                "tenants/members.html",
                {"row": context, "account": account, "can_manage_people": True},
                partial="member-row",
                status=INVALID,
            )
        messages.error(request, failure_message(exc, account))
    else:
        if access.role_on(request.user, account) is None:
            # They removed themselves and no longer see the account.
            messages.success(request, f"You left {account.name}.")
            return redirect_after_post(request, reverse("home"))
        if request.htmx:
            # An empty 200 swaps the row away; the event refreshes counts elsewhere.
            return trigger_client_event(HttpResponse(""), MEMBERS_CHANGED)
        messages.success(request, f"{username} was removed from {account.name}.")
    return redirect_after_post(request, reverse("tenants:members", args=[account.public_id]))


@login_required
@require_POST
def invitation_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Found among the invitations of accounts the person sees, so a viewer forcing it gets the
    # same 403 as for the other people actions, and an outsider a 404.
    invitation = access.get_invitation_for(request.user, pk, min_role=Role.VIEWER)
    account = invitation.account
    access.require_role(request.user, account, Role.ADMIN)
    email = invitation.email
    try:
        revoke_invitation(invitation, actor=request.user, context=context_of(request))
    except AccountError as exc:
        if exc.code == "NOT_AUTHORIZED":
            raise PermissionDenied(exc.message) from None
        if request.htmx:
            context = {
                "invitation": invitation,
                "revocable": True,
                "error": failure_message(exc, account),
                "account": account,
            }
            return render_page(
                request, "tenants/members.html", context, partial="invitation-row", status=INVALID
            )
        messages.error(request, failure_message(exc, account))
    else:
        if request.htmx:
            # An empty 200 swaps the row away; the event refreshes the rest of the section.
            return trigger_client_event(HttpResponse(""), MEMBERS_CHANGED)
        messages.success(
            request, f"The invitation to {email} is withdrawn; its link no longer works."
        )
    return redirect_after_post(request, reverse("tenants:members", args=[account.public_id]))
