"""Which token lookup of ``tenants.access`` answers for each person lookup a viewset declares.

A viewset names the ``tenants.access`` function that scopes its objects for people; for a caller
holding a portal token, ``TOKEN_SCOPES`` gives the function of the same rule for tokens (its
account and that subtree). A viewset whose function has no counterpart refuses tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from tenants import access
from tenants.credentials import TokenRecord

TOKEN_SCOPES: dict[Callable[..., Any], Callable[[TokenRecord], QuerySet[Any]]] = {
    access.accounts_for: access.accounts_for_token,
    access.memberships_for: access.memberships_for_token,
    access.invitations_for: access.invitations_for_token,
    access.audit_events_for: access.audit_events_for_token,
    access.plans_for: access.plans_for_token,
    access.webhooks_for: access.webhooks_for_token,
    access.webhook_deliveries_for: access.webhook_deliveries_for_token,
}
