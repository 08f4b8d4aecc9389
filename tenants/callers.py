"""Who is calling, as the tenancy rules need it: anyone at all, an operator, which person.

Shared by the lookups (``tenants.access``) and the rule of who may act as whom
(``tenants.access_support``), so that both read a caller the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from tenants.acting import acting_as

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    Caller = AbstractBaseUser | AnonymousUser


def reaches_nothing(user: Caller) -> bool:
    """Anonymous and inactive users reach no account."""
    return not (user.is_authenticated and user.is_active)


def is_operator(user: Caller) -> bool:
    """Operator staff, acting as themselves (staff acting as a tenant see what it sees)."""
    return bool(
        user.is_authenticated
        and user.is_active
        and getattr(user, "is_staff", False)
        and acting_as(user) is None
    )


def user_pk(user: Caller) -> int:
    return cast("int", user.pk)
