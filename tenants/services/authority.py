"""Who may change what: rules every entry point (pages, API, CLI) shares."""

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


def check_may_administer(actor: Actor, account: Account, what: str) -> None:
    """Only the account's admins and owners (or operators) manage ``what`` (its webhooks, its
    brand); a portal token may, inside its own subtree, once the API checked its scope."""
    if actor is None:
        return  # the system: CLI, tasks
    record = getattr(actor, "record", None)  # a portal token on the management API
    if record is not None:
        if account.path.startswith(record.account_path):
            return
        raise AccountError("No such account.", "NOT_FOUND")
    held = access.role_on(actor, account)
    if held is None or not held.covers(Role.ADMIN):
        raise AccountError(f"Only an admin or an owner can manage {what} here.", "NOT_AUTHORIZED")
