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
from tenants.forms.branding import BrandingForm
from tenants.forms.limits import AccountLimitsForm, PlanForm
from tenants.forms.support import SupportStartForm
from tenants.forms.tokens import RevokeTokenForm, RotateTokenForm, TokenForm, TokenRateForm
from tenants.forms.widget_keys import WidgetKeyForm, WidgetOriginsForm

__all__ = [
    "PERIOD_LIMITS",
    "AccountLimitsForm",
    "AccountProfileForm",
    "AuditFilterForm",
    "BrandingForm",
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
    "TokenRateForm",
    "WidgetKeyForm",
    "WidgetOriginsForm",
    "time_zone_choices",
]
