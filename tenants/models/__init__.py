"""Accounts (partners and their tenants, to any depth), the people on them, their tokens,
support sessions, the partners' brands, and the audit log.

One module per area; everything is importable from ``tenants.models``.
"""

from __future__ import annotations

from tenants.models.accounts import Account, AccountQuerySet, new_partner_public_id
from tenants.models.audit import AuditEvent, AuditEventQuerySet, AuditLogIsAppendOnly
from tenants.models.branding import Brand, BrandHost, BrandLogo
from tenants.models.limits import LimitCounter, Plan, RateHit
from tenants.models.people import (
    Invitation,
    InvitationQuerySet,
    Membership,
    Role,
    hash_invitation_token,
)
from tenants.models.support import (
    Impersonation,
    SupportSession,
    SupportSessionQuerySet,
    new_correlation_id,
)
from tenants.models.tokens import Token, TokenQuerySet, WidgetOrigin

__all__ = [
    "Account",
    "AccountQuerySet",
    "AuditEvent",
    "AuditEventQuerySet",
    "AuditLogIsAppendOnly",
    "Brand",
    "BrandHost",
    "BrandLogo",
    "Impersonation",
    "Invitation",
    "InvitationQuerySet",
    "LimitCounter",
    "Membership",
    "Plan",
    "RateHit",
    "Role",
    "SupportSession",
    "SupportSessionQuerySet",
    "Token",
    "TokenQuerySet",
    "WidgetOrigin",
    "hash_invitation_token",
    "new_correlation_id",
    "new_partner_public_id",
]
