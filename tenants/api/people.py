"""People on accounts: memberships (list, change role, remove) and invitations (list, invite,
revoke)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import access, services
from tenants.api.base import Rule, ScopedViewSet
from tenants.api.schema import CONFLICT, ERRORS
from tenants.api.serializers import (
    AccountRefFilterSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MembershipSerializer,
    RoleChangeSerializer,
)
from tenants.models import Invitation, Membership, Role


def _filter_by_account[M: (Membership, Invitation)](
    view: ScopedViewSet[M], queryset: QuerySet[M]
) -> QuerySet[M]:
    filters = AccountRefFilterSerializer(data=view.request.query_params)
    filters.is_valid(raise_exception=True)
    reference = filters.validated_data.get("account")
    if reference:
        queryset = queryset.filter(account=view.resolve_account(reference))
    return queryset


@extend_schema_view(
    list=extend_schema(
        summary="Who has a role on the accounts you reach",
        parameters=[AccountRefFilterSerializer],
        responses={200: MembershipSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="Fetch a membership", responses={200: MembershipSerializer, **ERRORS}
    ),
    partial_update=extend_schema(
        summary="Change a member's role (admin; nobody grants above their own role)",
        request=RoleChangeSerializer,
        responses={200: MembershipSerializer, **ERRORS, **CONFLICT},
    ),
    destroy=extend_schema(
        summary="Remove a member (a partner keeps at least one owner)",
        responses={204: None, **ERRORS, **CONFLICT},
    ),
)
class MembershipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ScopedViewSet[Membership],
):
    model = Membership
    access_scope = staticmethod(access.memberships_for)
    object_label = "member"
    serializer_class = MembershipSerializer
    # Tokens: only "*" (the scope catalogue names no people resource); and since a token is
    # no person, the services refuse it any change to people.
    rules = {
        "list": Rule(Role.VIEWER),
        "retrieve": Rule(Role.VIEWER),
        "partial_update": Rule(Role.ADMIN),
        "destroy": Rule(Role.ADMIN),
    }

    def narrow(self, queryset: QuerySet[Membership]) -> QuerySet[Membership]:
        return queryset.select_related("account", "user")

    def filter_list(self, queryset: QuerySet[Membership]) -> QuerySet[Membership]:
        return _filter_by_account(self, queryset)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        body = RoleChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.change_role(
            membership,
            role=Role(body.validated_data["role"]),
            actor=self.caller,
            context=self.audit_context,
        )
        return Response(MembershipSerializer(membership).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        services.remove_member(membership, actor=self.caller, context=self.audit_context)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="Invitations on the accounts you administer",
        parameters=[AccountRefFilterSerializer],
        responses={200: InvitationSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="Fetch an invitation", responses={200: InvitationSerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Invite someone by e-mail (the link is mailed to them, never returned)",
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer, **ERRORS, **CONFLICT},
    ),
    destroy=extend_schema(
        summary="Revoke a pending invitation (its link stops working; nobody revokes a stronger "
        "role than their own)",
        responses={204: None, **ERRORS, **CONFLICT},
    ),
)
class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ScopedViewSet[Invitation],
):
    model = Invitation
    access_scope = staticmethod(access.invitations_for)
    object_label = "invitation"
    serializer_class = InvitationSerializer
    # Invitations name people who have not joined: only admins see them (tenants.access).
    rules = {
        "list": Rule(Role.ADMIN),
        "retrieve": Rule(Role.ADMIN),
        "create": Rule(Role.ADMIN),
        "destroy": Rule(Role.ADMIN),
    }

    def narrow(self, queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
        return queryset.select_related("account")

    def filter_list(self, queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
        return _filter_by_account(self, queryset)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = self.resolve_account(body.validated_data["account"])
        invitation, _token = services.invite_member(
            account,
            email=body.validated_data["email"],
            role=Role(body.validated_data["role"]),
            actor=self.caller,
            context=self.audit_context,
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        invitation = self.get_object()
        services.revoke_invitation(invitation, actor=self.caller, context=self.audit_context)
        return Response(status=status.HTTP_204_NO_CONTENT)
