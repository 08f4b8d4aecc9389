"""Forms of the pages, by area; everything is importable from ``tenants.forms``."""

from __future__ import annotations

from tenants.forms.accounts import (
    PERIOD_LIMITS,
    AccountProfileForm,
    AuditFilterForm,
    CloseForm,
    InvitationSignupForm,
    InviteForm,
    OnboardForm,
    RoleForm,
    SuspendForm,
    TenantFilterForm,
    time_zone_choices,
)
from tenants.forms.limits import AccountLimitsForm, PlanForm
from tenants.forms.support import SupportStartForm
from tenants.forms.tokens import RevokeTokenForm, RotateTokenForm, TokenForm

__all__ = [
    "PERIOD_LIMITS",
    "AccountLimitsForm",
    "AccountProfileForm",
    "AuditFilterForm",
    "CloseForm",
    "InvitationSignupForm",
    "InviteForm",
    "OnboardForm",
    "PlanForm",
    "RevokeTokenForm",
    "RoleForm",
    "RotateTokenForm",
    "SupportStartForm",
    "SuspendForm",
    "TenantFilterForm",
    "TokenForm",
    "time_zone_choices",
]
