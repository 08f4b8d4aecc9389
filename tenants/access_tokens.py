"""The tenancy chokepoint for callers holding a portal token (partner API, management API).

A token reaches its own account and that account's subtree: every lookup here is a prefix
match on the token's account path (paths end in "/", so "/1/7/" is no prefix of "/1/70/").
``tenants.access`` re-exports these; ``tenants.api.token_access`` pairs each with the person
lookup it stands in for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q
from django.db.models.functions import Length
from django.http import Http404

from tenants.models import Account, AuditEvent, Invitation, Membership, Plan

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.alerts.models import WebhookDelivery, WebhookEndpoint
    from tenants.credentials import TokenRecord


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
