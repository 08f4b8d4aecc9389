"""Support impersonation: who may act as whom.

``support_grant_or_refusal`` is the rule for one account; ``actable_accounts_for`` is the same
rule as one query. Both are reached as ``tenants.access.<name>`` (re-exported there), like every
tenancy lookup; the sessions themselves and their trail are looked up in ``tenants.access``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from django.db.models import Exists, F, OuterRef
from django.db.models.lookups import StartsWith

from tenants.acting import acting_as
from tenants.callers import is_operator, reaches_nothing, user_pk
from tenants.models import Account, Membership, Role

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.callers import Caller


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
    if is_operator(user):
        return SupportGrant(role=None)
    if not user.is_active:  # an inactive person's memberships lend them nothing
        return SupportRefusal.NO_ROLE_ABOVE
    above = [pk for pk in account.lineage_pks if pk != account.pk]
    held = Role.strongest(
        Membership.objects.filter(user_id=user_pk(user), account_id__in=above).values_list(
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
    if reaches_nothing(user) or acting_as(user) is not None:
        return Account.objects.none()
    tenants = Account.objects.filter(parent__isnull=False).exclude(status=Account.Status.CLOSED)
    if is_operator(user):
        return tenants
    from_above = Membership.objects.filter(
        StartsWith(OuterRef("path"), F("account__path")),
        user_id=user_pk(user),
        role__in=Role.at_least(Role.SUPPORT),
    ).exclude(account_id=OuterRef("pk"))
    return tenants.filter(Exists(from_above))
