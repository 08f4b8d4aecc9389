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

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Length
from django.db.models.lookups import StartsWith
from django.http import Http404

from tenants import access_tokens, acting
from tenants.acting import acting_role, read_only_message
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
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from django.db.models import QuerySet

    from tenants.alerts.models import WebhookDelivery, WebhookEndpoint
    from tenants.console.models import ConversationJob

    Caller = AbstractBaseUser | AnonymousUser


# Re-exported, so that every lookup is reached as ``access.<name>``: acting as a tenant
# (tenants/acting.py) and the lookups of callers holding a portal token (partner API,
# management API; tenants/access_tokens.py), whose reach is the token's account subtree.
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


def is_operator(user: Caller) -> bool:
    """Operator staff, acting as themselves (staff acting as a tenant see what it sees)."""
    return _is_operator(user)


def _is_operator(user: Caller) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and getattr(user, "is_staff", False)
        and acting_as(user) is None
    )


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
    acting = acting_as(user)
    if acting is not None:
        if not acting_role(acting).covers(min_role):
            return Account.objects.none()
        return Account.objects.subtree_of(acting.account)
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
    acting = acting_as(user)
    if acting is not None:
        inside = account.path.startswith(acting.account.path)
        return acting_role(acting) if inside else None
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
    if _reaches_nothing(user):
        return Account.objects.none()
    acting = acting_as(user)
    if acting is not None:
        return accounts_for(user, min_role=min_role).filter(pk=acting.account.pk)
    if _is_operator(user):
        return Account.objects.partners()
    return Account.objects.filter(
        pk__in=Membership.objects.filter(
            user_id=_pk(user), role__in=Role.at_least(min_role)
        ).values("account_id")
    )


def own_roles(user: Caller) -> dict[int, Role]:
    """The person's role on each account of their own memberships (account pk -> role); the
    tenant's role while acting as one; nothing for operators, who hold no membership."""
    if _reaches_nothing(user):
        return {}
    acting = acting_as(user)
    if acting is not None:
        return {acting.account.pk: acting_role(acting)}
    found = Membership.objects.filter(user_id=_pk(user)).values_list("account_id", "role")
    return {account_id: Role(role) for account_id, role in found}


# -- support impersonation: who may act as whom, and the trail ---------------------------------


@dataclass(frozen=True, slots=True)
class SupportGrant:
    """What lets a person act as a tenant: operator status, or a role on an account above it.

    Changes may be allowed only where the person could make them as themselves (operators, and
    owners or admins above the tenant): acting never lends more than one's own role. A support
    role acts read-only, with the tenant's support role (it reads, runs test conversations, and
    changes nothing).
    """

    role: Role | None  # None: operator staff

    @property
    def label(self) -> str:
        return "operator" if self.role is None else str(self.role.value)

    @property
    def may_allow_changes(self) -> bool:
        return self.role is None or self.role.covers(Role.ADMIN)


class SupportRefusal(Enum):
    """Why a person may not act as an account (``support_grant_or_refusal``), in the order they
    are checked; ``code`` is the refusal's ``AccountError`` code."""

    NOT_SIGNED_IN = "not_signed_in"
    ALREADY_ACTING = "already_acting"  # support sessions do not nest
    PARTNER = "partner"  # support acts as tenants, never as a partner itself
    CLOSED = "closed"
    NO_ROLE_ABOVE = "no_role_above"  # no support role (or more) strictly above the account

    @property
    def code(self) -> str:
        return _SUPPORT_REFUSAL_CODES[self]


_SUPPORT_REFUSAL_CODES = {
    SupportRefusal.NOT_SIGNED_IN: "NOT_AUTHENTICATED",
    SupportRefusal.ALREADY_ACTING: "CONFLICT",
    SupportRefusal.PARTNER: "NOT_AUTHORIZED",
    SupportRefusal.CLOSED: "CONFLICT",
    SupportRefusal.NO_ROLE_ABOVE: "NOT_AUTHORIZED",
}


def support_grant_or_refusal(
    user: Caller | None, account: Account
) -> SupportGrant | SupportRefusal:
    """Who may act as whom, for one account: what lets ``user`` act as ``account``, or why not.

    The one place the rule is written. ``support_grant`` reads it as a yes or no,
    ``tenants.services.impersonation.check_may_act_as`` words its refusals, and
    ``actable_accounts_for`` is the same rule as a query (kept in step by
    tests/support/test_rules.py). Operators may act as every open tenant; people as the open
    tenants strictly below an account where they hold the support role or more.
    """
    if user is None or not user.is_authenticated:
        return SupportRefusal.NOT_SIGNED_IN
    if acting_as(user) is not None:
        return SupportRefusal.ALREADY_ACTING
    if account.is_partner:
        return SupportRefusal.PARTNER
    if account.status == Account.Status.CLOSED:
        return SupportRefusal.CLOSED
    if _is_operator(user):
        return SupportGrant(role=None)
    if not user.is_active:  # an inactive person's memberships lend them nothing
        return SupportRefusal.NO_ROLE_ABOVE
    above = [pk for pk in account.lineage_pks if pk != account.pk]
    held = Role.strongest(
        Membership.objects.filter(user_id=_pk(user), account_id__in=above).values_list(
            "role", flat=True
        )
    )
    if held is None or not held.covers(Role.SUPPORT):
        return SupportRefusal.NO_ROLE_ABOVE
    return SupportGrant(role=held)


def support_grant(user: Caller, account: Account) -> SupportGrant | None:
    """What lets the person act as ``account``, or None (``support_grant_or_refusal``)."""
    found = support_grant_or_refusal(user, account)
    return found if isinstance(found, SupportGrant) else None


def actable_accounts_for(user: Caller) -> QuerySet[Account]:
    """The accounts ``support_grant_or_refusal`` grants ``user``, as one query (lists, and an
    ``Exists`` beside each row): the same checks in SQL, so a change to the rule there is made
    here too. Nothing while the person already acts as someone, never a partner nor a closed
    tenant; operators every other tenant; people those strictly below an account where they
    hold the support role or more."""
    if _reaches_nothing(user) or acting_as(user) is not None:
        return Account.objects.none()
    tenants = Account.objects.filter(parent__isnull=False).exclude(status=Account.Status.CLOSED)
    if _is_operator(user):
        return tenants
    from_above = Membership.objects.filter(
        StartsWith(OuterRef("path"), F("account__path")),
        user_id=_pk(user),
        role__in=Role.at_least(Role.SUPPORT),
    ).exclude(account_id=OuterRef("pk"))
    return tenants.filter(Exists(from_above))


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
