"""The tenancy chokepoint: every page, API endpoint and proxy lookup resolves objects here.

Each function scopes *inside the query* (a membership of the caller on the object's account or
one of its ancestors, found by materialized-path prefix), so an object outside the caller's
subtree is never loaded, and "does not exist" and "not yours" raise the same ``Http404``.

Rules:
- a role on an account applies to that account and its whole subtree;
- the strongest role along the account's ancestry wins (owner > admin > support > viewer);
- operator staff (``is_staff``, active) reach every account, as owner;
- anonymous and inactive users reach nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Length
from django.db.models.lookups import StartsWith
from django.http import Http404

from tenants.models import Account, AuditEvent, Invitation, Membership, Plan, Role, Token

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from django.db.models import QuerySet

    from tenants.alerts.models import WebhookDelivery, WebhookEndpoint
    from tenants.console.models import ConversationJob
    from tenants.credentials import TokenRecord

    Caller = AbstractBaseUser | AnonymousUser


def _is_operator(user: Caller) -> bool:
    return bool(user.is_authenticated and user.is_active and getattr(user, "is_staff", False))


def _reaches_nothing(user: Caller) -> bool:
    return not (user.is_authenticated and user.is_active)


def _pk(user: Caller) -> int:
    return cast("int", user.pk)


def _covering_memberships(user: Caller, min_role: Role) -> Exists:
    """EXISTS a membership of ``user`` (at least ``min_role``) on the outer account or an ancestor.

    Ancestry is a path prefix: the member's account path "/1/7/" is a prefix of "/1/7/42/".
    """
    return Exists(
        Membership.objects.filter(
            StartsWith(OuterRef("path"), F("account__path")),
            user_id=_pk(user),
            role__in=Role.at_least(min_role),
        )
    )


def accounts_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Account]:
    """The accounts the user reaches with ``min_role`` or more: their memberships' subtrees."""
    if _reaches_nothing(user):
        return Account.objects.none()
    if _is_operator(user):
        return Account.objects.all()
    return Account.objects.filter(_covering_memberships(user, min_role))


def get_account_for(
    user: Caller, public_id_or_slug: str, *, min_role: Role = Role.VIEWER
) -> Account:
    """The account with this public id (or slug) inside the user's reach, else ``Http404``.

    A public id is unique. A slug is unique only among siblings, so when several reachable
    accounts share it the shallowest wins (for staff, that is the partner of that slug).
    """
    match = accounts_for(user, min_role=min_role).filter(
        Q(public_id=public_id_or_slug) | Q(slug=public_id_or_slug)
    )
    account = (
        match.filter(public_id=public_id_or_slug).first()
        or match.order_by(Length("path"), "pk").first()
    )
    if account is None:
        raise Http404("No such account")
    return account


def get_account_by_pk_for(user: Caller, pk: int, *, min_role: Role = Role.VIEWER) -> Account:
    """Like ``get_account_for``, by primary key (for forms and tasks that carry pks)."""
    account = accounts_for(user, min_role=min_role).filter(pk=pk).first()
    if account is None:
        raise Http404("No such account")
    return account


def role_on(user: Caller, account: Account) -> Role | None:
    """The user's strongest role on ``account``, from memberships on it or any ancestor."""
    if _reaches_nothing(user):
        return None
    if _is_operator(user):
        return Role.OWNER
    roles = Membership.objects.filter(user_id=_pk(user), account_id__in=account.lineage_pks)
    return Role.strongest(roles.values_list("role", flat=True))


def require_role(user: Caller, account: Account, role: Role) -> Role:
    """The user's role on ``account`` if it covers ``role``.

    Raises ``Http404`` when the user has no role there at all (the account stays invisible),
    and ``PermissionDenied`` when they can see it but may not do this.
    """
    held = role_on(user, account)
    if held is None:
        raise Http404("No such account")
    if not held.covers(role):
        raise PermissionDenied(f"This needs the {role.label.lower()} role on {account.name}.")
    return held


def memberships_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Membership]:
    """Memberships on the accounts the user reaches (who else has a role there)."""
    return Membership.objects.filter(account__in=accounts_for(user, min_role=min_role))


def get_membership_for(user: Caller, pk: int, *, min_role: Role = Role.ADMIN) -> Membership:
    membership = memberships_for(user, min_role=min_role).select_related("account", "user")
    found = membership.filter(pk=pk).first()
    if found is None:
        raise Http404("No such member")
    return found


def invitations_for(user: Caller, *, min_role: Role = Role.ADMIN) -> QuerySet[Invitation]:
    return Invitation.objects.filter(account__in=accounts_for(user, min_role=min_role))


def get_invitation_for(user: Caller, pk: int, *, min_role: Role = Role.ADMIN) -> Invitation:
    found = invitations_for(user, min_role=min_role).select_related("account").filter(pk=pk).first()
    if found is None:
        raise Http404("No such invitation")
    return found


def webhooks_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[WebhookEndpoint]:
    """Webhook endpoints of the accounts the user reaches (their secrets are never readable)."""
    from tenants.alerts.models import WebhookEndpoint

    return WebhookEndpoint.objects.filter(account__in=accounts_for(user, min_role=min_role))


def get_webhook_for(user: Caller, pk: int, *, min_role: Role = Role.VIEWER) -> WebhookEndpoint:
    found = webhooks_for(user, min_role=min_role).select_related("account").filter(pk=pk).first()
    if found is None:
        raise Http404("No such webhook")
    return found


def webhook_deliveries_for(
    user: Caller, *, min_role: Role = Role.VIEWER
) -> QuerySet[WebhookDelivery]:
    from tenants.alerts.models import WebhookDelivery

    return WebhookDelivery.objects.filter(account__in=accounts_for(user, min_role=min_role))


def audit_events_for(user: Caller) -> QuerySet[AuditEvent]:
    """Audit events of every account the user reaches: a tenant reads its own trail."""
    return AuditEvent.objects.filter(account__in=accounts_for(user))


def tokens_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Token]:
    """Tokens of every account the user reaches (metadata only: no token value is stored)."""
    return Token.objects.filter(account__in=accounts_for(user, min_role=min_role))


def get_token_for(user: Caller, token_id: str, *, min_role: Role = Role.ADMIN) -> Token:
    """The token with this public id on an account the user reaches, else ``Http404``.

    Defaults to the admin role, the one that may rotate or revoke; pass ``Role.VIEWER`` to
    show one.
    """
    found = (
        tokens_for(user, min_role=min_role)
        .select_related("account", "created_by")
        .filter(token_id=token_id)
        .first()
    )
    if found is None:
        raise Http404("No such token")
    return found


def widget_keys_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Token]:
    """Widget keys of every account the user reaches."""
    return tokens_for(user, min_role=min_role).filter(kind=Token.Kind.WIDGET)


def get_widget_key_for(user: Caller, token_id: str, *, min_role: Role = Role.VIEWER) -> Token:
    """The widget key with this public id on an account the user reaches, else ``Http404``
    (an API token's id is no widget key either)."""
    found = (
        widget_keys_for(user, min_role=min_role)
        .select_related("account", "created_by")
        .prefetch_related("widget_origins")
        .filter(token_id=token_id)
        .first()
    )
    if found is None:
        raise Http404("No such widget key")
    return found


def conversation_jobs_for(
    user: Caller, *, min_role: Role = Role.SUPPORT
) -> QuerySet[ConversationJob]:
    """Background conversations of the accounts the user reaches with ``min_role``.

    Support and up by default, as for the console that starts them (``tenants.console.acting``):
    a job holds a conversation's text, which viewers do not read. A tenant's own people see the
    jobs that its partner's support ran as the tenant.
    """
    from tenants.console.models import ConversationJob

    return ConversationJob.objects.filter(account__in=accounts_for(user, min_role=min_role))


def get_conversation_job_for(
    user: Caller, public_id: str, *, min_role: Role = Role.SUPPORT
) -> ConversationJob:
    found = (
        conversation_jobs_for(user, min_role=min_role)
        .select_related("account")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404("No such job")
    return found


# -- lookups for callers holding a portal token (partner API, management API) ----------------


def plans_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Plan]:
    """Plans of the partners the user reaches with ``min_role`` (a role on the partner itself:
    a tenant's people never see, nor pick, their partner's plans). Global plans are the
    operator's, managed in the admin."""
    return Plan.objects.filter(partner__in=accounts_for(user, min_role=min_role))


def plans_for_token(record: TokenRecord) -> QuerySet[Plan]:
    return Plan.objects.filter(partner__in=accounts_for_token(record))


def get_token_account(record: TokenRecord) -> Account:
    """The token's own account; ``Http404`` once it is gone."""
    account = Account.objects.filter(pk=record.account_id, path=record.account_path).first()
    if account is None:
        raise Http404("No such account")
    return account


def find_run_as_target(
    record: TokenRecord, *, user_id: str = "", child_email: str = ""
) -> Account | None:
    """The account a run-as header names, if it is the token's account or a descendant.

    ``None`` for anything else (a sibling, a parent, another partner's tenant, an unknown id):
    the caller answers all of those alike, as the upstream answers a bad target.
    """
    inside = Account.objects.filter(path__startswith=record.account_path).exclude(
        status=Account.Status.CLOSED
    )
    if user_id:
        return inside.filter(public_id=user_id).first()
    if child_email:
        return inside.filter(email__iexact=child_email).order_by("path").first()
    return None


def descendants_of(account: Account) -> QuerySet[Account]:
    """The open accounts strictly below ``account``."""
    return (
        Account.objects.filter(path__startswith=account.path)
        .exclude(pk=account.pk)
        .exclude(status=Account.Status.CLOSED)
    )


def get_descendant_of(account: Account, public_id_or_alias: str) -> Account:
    """A descendant by public id or slug (the upstream's ``alias``); ``Http404`` otherwise."""
    below = descendants_of(account)
    found = below.filter(public_id=public_id_or_alias).first() or (
        below.filter(slug=public_id_or_alias).order_by(Length("path"), "pk").first()
    )
    if found is None:
        raise Http404("No such account")
    return found


def accounts_for_token(record: TokenRecord) -> QuerySet[Account]:
    """What a token reaches: its account and that subtree (paths end in "/", so "/1/7/" is
    no prefix of "/1/70/")."""
    return Account.objects.filter(path__startswith=record.account_path)


def memberships_for_token(record: TokenRecord) -> QuerySet[Membership]:
    return Membership.objects.filter(account__path__startswith=record.account_path)


def invitations_for_token(record: TokenRecord) -> QuerySet[Invitation]:
    return Invitation.objects.filter(account__path__startswith=record.account_path)


def webhooks_for_token(record: TokenRecord) -> QuerySet[WebhookEndpoint]:
    from tenants.alerts.models import WebhookEndpoint

    return WebhookEndpoint.objects.filter(account__path__startswith=record.account_path)


def webhook_deliveries_for_token(record: TokenRecord) -> QuerySet[WebhookDelivery]:
    from tenants.alerts.models import WebhookDelivery

    return WebhookDelivery.objects.filter(account__path__startswith=record.account_path)


def audit_events_for_token(record: TokenRecord) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(account__path__startswith=record.account_path)


def get_account_in_token_reach(record: TokenRecord, public_id_or_slug: str) -> Account:
    """Like ``get_account_for``, for a token: by public id, else the shallowest of that slug."""
    match = accounts_for_token(record).filter(
        Q(public_id=public_id_or_slug) | Q(slug=public_id_or_slug)
    )
    account = (
        match.filter(public_id=public_id_or_slug).first()
        or match.order_by(Length("path"), "pk").first()
    )
    if account is None:
        raise Http404("No such account")
    return account
