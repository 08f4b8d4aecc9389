"""``{% may_set_brand account as can_brand %}``: whether to offer the Branding tab."""

from __future__ import annotations

from typing import Any

from django import template

from tenants import access
from tenants.models import Account, Role

register = template.Library()


@register.simple_tag(takes_context=True)
def may_set_brand(context: template.Context, account: Any) -> bool:
    """A partner's owners and admins (and operators) set its brand; the view checks again."""
    if not isinstance(account, Account) or not account.is_partner:
        return False
    role = context.get("role")
    if not isinstance(role, Role):
        request = context.get("request")
        role = access.role_on(request.user, account) if request is not None else None
    return role is not None and role.covers(Role.ADMIN)
