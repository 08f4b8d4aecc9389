"""The tenancy chokepoint: every page, API endpoint and proxy lookup resolves objects here.

Each function scopes *inside the query* (a membership of the caller on the object's account or
one of its ancestors, found by materialized-path prefix), so an object outside the caller's
subtree is never loaded, and "does not exist" and "not yours" raise the same ``Http404``.

Rules:
- a role on an account applies to that account and its whole subtree;
- the strongest role along the account's ancestry wins (owner > admin > support > viewer);
- operator staff (``is_staff``, active) reach every account, as owner;
- anonymous and inactive users reach nothing;
- a person acting as a tenant (support impersonation, ``act_as``) reaches that tenant's subtree
  and nothing else, with the tenant's admin role when the session allows changes and its
  support role when it is read-only; staff status does not follow them in. Read-only sessions
  are refused every change here (``require_role``) and again when it would be written
  (``refuse_read_only_change``, called by ``tenants.audit.record``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Length
from django.db.models.lookups import StartsWith
from django.http import Http404

from tenants import access_support, access_tokens, acting
from tenants.acting import acting_role, read_only_message
from tenants.callers import is_operator as is_operator  # re-exported: access.is_operator
from tenants.callers import reaches_nothing, user_pk
from tenants.models import (
    Account,
    AuditEvent,
    Invitation,
    Membership,
    Plan,
    Role,
    SupportSession,
    SupportSessionQuerySet,
    Token,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.alerts.models import WebhookDelivery, WebhookEndpoint
    from tenants.callers import Caller
    from tenants.console.models import ConversationJob


# Re-exported, so that every lookup is reached as ``access.<name>``: acting as a tenant
# (tenants/acting.py), who may act as whom (tenants/access_support.py), the lookups of callers
# holding a portal token (partner API, management API; tenants/access_tokens.py), whose reach
# is the token's account subtree, and who is an operator (tenants/callers.py).
SupportGrant = access_support.SupportGrant
SupportRefusal = access_support.SupportRefusal
support_grant_or_refusal = access_support.support_grant_or_refusal
support_grant = access_support.support_grant
actable_accounts_for = access_support.actable_accounts_for
ReadOnlySupportSession = acting.ReadOnlySupportSession
act_as = acting.act_as
acting_as = acting.acting_as
stop_acting = acting.stop_acting
refuse_read_only_change = acting.refuse_read_only_change
accounts_for_token = access_tokens.accounts_for_token
audit_events_for_token = access_tokens.audit_events_for_token
descendants_of = access_tokens.descendants_of
find_run_as_target = access_tokens.find_run_as_target
get_account_in_token_reach = access_tokens.get_account_in_token_reach
get_descendant_of = access_tokens.get_descendant_of
get_token_account = access_tokens.get_token_account
invitations_for_token = access_tokens.invitations_for_token
memberships_for_token = access_tokens.memberships_for_token
plans_for_token = access_tokens.plans_for_token
webhook_deliveries_for_token = access_tokens.webhook_deliveries_for_token
webhooks_for_token = access_tokens.webhooks_for_token


def _covering_memberships(user: Caller, min_role: Role) -> Exists:
    """EXISTS a membership of ``user`` (at least ``min_role``) on the outer account or an ancestor.

    Ancestry is a path prefix: the member's account path "/1/7/" is a prefix of "/1/7/42/".
    """
    return Exists(
        Membership.objects.filter(
            StartsWith(OuterRef("path"), F("account__path")),
            user_id=user_pk(user),
            role__in=Role.at_least(min_role),
        )
    )


def accounts_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Account]:
    """The accounts the user reaches with ``min_role`` or more: their memberships' subtrees."""
    if reaches_nothing(user):
        return Account.objects.none()
    acting = acting_as(user)
    if acting is not None:
        if not acting_role(acting).covers(min_role):
            return Account.objects.none()
        return Account.objects.subtree_of(acting.account)
    if is_operator(user):
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
    if reaches_nothing(user):
        return None
    acting = acting_as(user)
    if acting is not None:
        inside = account.path.startswith(acting.account.path)
        return acting_role(acting) if inside else None
    if is_operator(user):
        return Role.OWNER
    roles = Membership.objects.filter(user_id=user_pk(user), account_id__in=account.lineage_pks)
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
        acting = acting_as(user)
        if acting is not None and not acting.allow_changes:
            raise ReadOnlySupportSession(read_only_message(acting))
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


def top_accounts_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Account]:
    """Where the person's reach starts: every partner for operators, the tenant while acting as
    one, else the accounts of their own memberships with ``min_role`` or more."""
    if reaches_nothing(user):
        return Account.objects.none()
    acting = acting_as(user)
    if acting is not None:
        return accounts_for(user, min_role=min_role).filter(pk=acting.account.pk)
    if is_operator(user):
        return Account.objects.partners()
    return Account.objects.filter(
        pk__in=Membership.objects.filter(
            user_id=user_pk(user), role__in=Role.at_least(min_role)
        ).values("account_id")
    )


def own_roles(user: Caller) -> dict[int, Role]:
    """The person's role on each account of their own memberships (account pk -> role); the
    tenant's role while acting as one; nothing for operators, who hold no membership."""
    if reaches_nothing(user):
        return {}
    acting = acting_as(user)
    if acting is not None:
        return {acting.account.pk: acting_role(acting)}
    found = Membership.objects.filter(user_id=user_pk(user)).values_list("account_id", "role")
    return {account_id: Role(role) for account_id, role in found}


# -- support impersonation: the sessions and their trail ---------------------------------------
# (Who may act as whom is ``tenants.access_support``, re-exported above.)


def support_sessions_for(user: Caller) -> SupportSessionQuerySet:
    """Support sessions on the accounts the person reaches: a tenant's people read who acted
    as their account; a partner's people and operators read every session below them."""
    return SupportSession.objects.filter(account__in=accounts_for(user))


def get_support_session_for(user: Caller, correlation_id: str) -> SupportSession:
    found = (
        support_sessions_for(user)
        .select_related("account", "actor")
        .filter(correlation_id=correlation_id)
        .first()
    )
    if found is None:
        raise Http404("No such support session")
    return found


def support_events_for(user: Caller, correlation_id: str) -> QuerySet[AuditEvent]:
    """The audit events of one support session, of the accounts the person reaches."""
    return audit_events_for(user).filter(correlation_id=correlation_id)


def plans_for(user: Caller, *, min_role: Role = Role.VIEWER) -> QuerySet[Plan]:
    """Plans of the partners the user reaches with ``min_role`` (a role on the partner itself:
    a tenant's people never see, nor pick, their partner's plans). Global plans are the
    operator's, managed in the admin."""
    return Plan.objects.filter(partner__in=accounts_for(user, min_role=min_role))
