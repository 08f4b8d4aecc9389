"""The base viewset: scoping and permissions that a subclass cannot drop by accident."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import QuerySet
from rest_framework import mixins

from tenants import access
from tenants.api.base import Rule, ScopedViewSet
from tenants.models import Account, Role
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name",
    ["get_queryset", "get_object", "filter_queryset", "check_permissions", "permission_classes"],
)
def test_a_subclass_that_overrides_the_scoping_or_permissions_is_refused(name):
    with pytest.raises(TypeError, match="ScopedViewSet owns"):
        type("Sneaky", (ScopedViewSet,), {name: lambda self: None})


def test_a_deliberate_bypass_must_be_named_dangerously():
    def get_queryset(self: Any) -> QuerySet[Account]:
        return Account.objects.all()

    viewset = type(
        "Deliberate",
        (ScopedViewSet,),
        {"get_queryset": get_queryset, "dangerously_override": frozenset({"get_queryset"})},
    )
    assert vars(viewset)["get_queryset"] is get_queryset


def test_the_scope_must_come_from_tenants_access():
    with pytest.raises(TypeError, match="access_scope"):
        type(
            "Homemade",
            (mixins.ListModelMixin, ScopedViewSet),
            {
                "model": Account,
                "access_scope": staticmethod(lambda user, **kwargs: Account.objects.all()),
                "rules": {"list": Rule(Role.VIEWER, "user:list")},
            },
        )


def test_every_action_needs_a_rule():
    with pytest.raises(TypeError, match="retrieve"):
        type(
            "Unruled",
            (mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet),
            {
                "model": Account,
                "access_scope": staticmethod(access.accounts_for),
                "rules": {"list": Rule(Role.VIEWER, "user:list")},
            },
        )


def test_whatever_narrow_returns_the_callers_scope_still_applies(world, rf):
    class Widening(mixins.ListModelMixin, ScopedViewSet[Account]):
        model = Account
        access_scope = staticmethod(access.accounts_for)
        rules = {"list": Rule(Role.VIEWER, "user:list")}
        account_field = None

        def narrow(self, queryset: QuerySet[Account]) -> QuerySet[Account]:
            return Account.objects.all()  # a bug: forgets the queryset it was given

    view = Widening()
    view.action = "list"
    view.request = type("Request", (), {"user": world.tenant_user})()
    assert set(view.get_queryset()) == {world.a_child, world.a_grandchild}


def test_options_is_not_offered(world):
    response = client_for(world, "a_owner").options("/api/v1/portal/accounts/")
    assert response.status_code == 405
