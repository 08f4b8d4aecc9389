"""Who may change what an account was sold: a rule every entry point shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenants import access
from tenants.models import Account, Role
from tenants.services.errors import AccountError

if TYPE_CHECKING:
    from tenants.audit import Actor


def check_may_set_limits(actor: Actor, account: Account) -> None:
    """Limits are what a parent sells its child: only whoever administers the parent sets them.

    A tenant's own admins (or its own tokens) could otherwise raise the capacity they were sold.
    ``None`` is the system, or the partner API, which reaches only the caller's descendants.
    """
    if actor is None:
        return
    record = getattr(actor, "record", None)  # a portal token on the management API
    if record is not None:
        if account.path != record.account_path and account.path.startswith(record.account_path):
            return
        raise AccountError(
            f"A token of {account.name} cannot change its own limits; ask its parent.",
            "NOT_AUTHORIZED",
        )
    if access.is_operator(actor):
        return
    parent = account.parent
    if parent is not None:
        held = access.role_on(actor, parent)
        if held is not None and held.covers(Role.ADMIN):
            return
        raise AccountError(
            f"Only admins of {parent.name} may change the limits of {account.name}.",
            "NOT_AUTHORIZED",
        )
    raise AccountError("Only operators may change a partner's limits.", "NOT_AUTHORIZED")
