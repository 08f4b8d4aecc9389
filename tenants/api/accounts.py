"""Accounts: list, fetch, onboard, update, suspend, reactivate, close, and a subtree."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Length
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import access, services
from tenants.api.base import Rule, ScopedViewSet
from tenants.api.schema import CONFLICT, ERRORS, UPSTREAM_ERRORS
from tenants.api.serializers import (
    AccountCreateSerializer,
    AccountFilterSerializer,
    AccountSerializer,
    AccountUpdateSerializer,
    CloseSerializer,
    EmptySerializer,
    SuspendSerializer,
)
from tenants.models import Account, Role


@extend_schema_view(
    list=extend_schema(
        summary="List the accounts you reach",
        parameters=[AccountFilterSerializer],
        responses={200: AccountSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="Fetch an account by public id or slug",
        responses={200: AccountSerializer, **ERRORS},
    ),
    create=extend_schema(
        summary="Onboard a tenant under an account you administer",
        description="Creates the tenant's upstream child first, then the local account.",
        request=AccountCreateSerializer,
        responses={201: AccountSerializer, **ERRORS, **UPSTREAM_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change an account's profile, meta or limits",
        request=AccountUpdateSerializer,
        responses={200: AccountSerializer, **ERRORS, **UPSTREAM_ERRORS},
    ),
)
class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ScopedViewSet[Account],
):
    """Partners and tenants. ``{id}`` is an account's public id, or its slug."""

    model = Account
    access_scope = staticmethod(access.accounts_for)
    account_field = None
    object_label = "account"
    serializer_class = AccountSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[^/]+"
    list_actions = ("list", "subtree")
    # Token scopes: the catalogue's "user" resource (the partner API's sub-accounts).
    rules = {
        "list": Rule(Role.VIEWER, "user:list"),
        "subtree": Rule(Role.VIEWER, "user:list"),
        "retrieve": Rule(Role.VIEWER, "user:fetch"),
        "create": Rule(Role.ADMIN, "user:create"),
        "partial_update": Rule(Role.ADMIN, "user:update"),
        "suspend": Rule(Role.ADMIN, "user:update"),
        "reactivate": Rule(Role.ADMIN, "user:update"),
        "close": Rule(Role.OWNER, "user:delete"),
    }

    def narrow(self, queryset: QuerySet[Account]) -> QuerySet[Account]:
        return queryset.select_related("parent")

    def filter_list(self, queryset: QuerySet[Account]) -> QuerySet[Account]:
        filters = AccountFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted: dict[str, Any] = filters.validated_data
        if wanted.get("status"):
            queryset = queryset.filter(status=wanted["status"])
        if wanted.get("parent"):
            queryset = queryset.filter(parent=self.resolve_account(wanted["parent"]))
        if term := wanted.get("search", "").strip():
            queryset = queryset.filter(
                Q(name__icontains=term)
                | Q(slug__icontains=term)
                | Q(email__icontains=term)
                | Q(public_id=term)
            )
        return queryset

    def lookup_condition(self, value: str) -> Q | None:
        return Q(public_id=value) | Q(slug=value)

    def lookup_order(self, value: str) -> tuple[Any, ...]:
        # A public id is unique; a slug is unique among siblings only, so the shallowest
        # reachable account of that slug wins (as in access.get_account_for).
        exact = Case(
            When(public_id=value, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return (exact, Length("path"), "pk")

    def _body(self, serializer_class: type[Any]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        return data

    def _account(self, account: Account, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(AccountSerializer(account).data, status=status_code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self._body(AccountCreateSerializer)
        parent = self.resolve_account(body.pop("parent"))
        tenant = services.onboard_tenant(
            parent=parent, **body, actor=self.caller, context=self.audit_context
        )
        return self._account(tenant, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        body = self._body(AccountUpdateSerializer)
        services.update_account(account, **body, actor=self.caller, context=self.audit_context)
        return self._account(account)

    @extend_schema(
        summary="Suspend an account (its traffic stops)",
        request=SuspendSerializer,
        responses={200: AccountSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        body = self._body(SuspendSerializer)
        services.suspend_account(
            account, reason=body.get("reason", ""), actor=self.caller, context=self.audit_context
        )
        return self._account(account)

    @extend_schema(
        summary="Reactivate a suspended account",
        request=EmptySerializer,
        responses={200: AccountSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        self._body(EmptySerializer)
        services.reactivate_account(account, actor=self.caller, context=self.audit_context)
        return self._account(account)

    @extend_schema(
        summary="Close an account and its whole subtree, for good (owner)",
        description="Deletes each tenant's upstream child; the local records stay, closed. "
        "`confirm` must be the account's slug.",
        request=CloseSerializer,
        responses={200: AccountSerializer, **ERRORS, **UPSTREAM_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        body = self._body(CloseSerializer)
        services.close_account(
            account, confirmation=body["confirm"], actor=self.caller, context=self.audit_context
        )
        return self._account(account)

    @extend_schema(
        summary="The accounts below an account (every depth)",
        parameters=[AccountFilterSerializer],
        responses={200: AccountSerializer(many=True), **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def subtree(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        below = self.get_queryset().filter(path__startswith=account.path).exclude(pk=account.pk)
        page = self.paginate_queryset(below)
        return self.get_paginated_response(AccountSerializer(page, many=True).data)
