"""Acting as a tenant (support impersonation): how a request carries it, and the read-only rule.

The user object of one request carries its impersonation: ``ImpersonationMiddleware`` binds it
to ``request.user`` (the same object DRF's session authentication hands the management API),
never to a token caller, so a portal token is not affected by a browser's support session.
Every lookup of ``tenants.access`` reads the binding; nothing else needs to know about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

from tenants.models import Impersonation, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    Caller = AbstractBaseUser | AnonymousUser

_ACTING_ATTRIBUTE = "_portal_acting_as"


class ReadOnlySupportSession(PermissionDenied):
    """A change refused because the person acts as a tenant in a read-only support session."""


def act_as(user: Caller, impersonation: Impersonation) -> None:
    """Scope every lookup of this request's ``user`` to the tenant of ``impersonation``.

    Only ``tenants.middleware.ImpersonationMiddleware`` calls this, on the request's own user
    object, once it has checked that the session is open and still within the person's reach.
    """
    setattr(user, _ACTING_ATTRIBUTE, impersonation)


def stop_acting(user: Caller) -> None:
    """Undo ``act_as`` for the rest of this request (the person just stopped acting)."""
    if acting_as(user) is not None:
        delattr(user, _ACTING_ATTRIBUTE)


def acting_as(user: Caller | None) -> Impersonation | None:
    """The impersonation ``user`` acts under in this request, if any."""
    found = getattr(user, _ACTING_ATTRIBUTE, None)
    return found if isinstance(found, Impersonation) else None


def acting_role(acting: Impersonation) -> Role:
    """The role the person has on the tenant while acting: an admin's when the session allows
    changes; otherwise the support role, which reads what viewers read and may run test
    conversations (the console, a widget's preview) but changes nothing (``SupportGrant``
    keeps either within the person's own role)."""
    return Role.ADMIN if acting.allow_changes else Role.SUPPORT


def read_only_message(acting: Impersonation) -> str:
    return (
        f"This support session is read-only: nothing of {acting.account.name} can be changed "
        "while you act as it. Stop, and start a session that allows changes if your role permits."
    )


def refuse_read_only_change(user: Caller | None) -> None:
    """Raise ``ReadOnlySupportSession`` if ``user`` acts as a tenant without leave to change.

    The last line of defence: ``tenants.audit.record`` calls it for every change it writes, so
    a change that slipped past the role checks still rolls back with its transaction.
    """
    acting = acting_as(user)
    if acting is not None and not acting.allow_changes:
        raise ReadOnlySupportSession(read_only_message(acting))
