"""The audit log, read-only: every account's trail is readable by whoever reaches the account."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins

from tenants import access
from tenants.api.base import Rule, ScopedViewSet
from tenants.api.pagination import NewestFirstCursorPagination
from tenants.api.schema import ERRORS
from tenants.api.serializers import AuditEventSerializer, AuditFilterSerializer
from tenants.models import AuditEvent, Role


@extend_schema_view(
    list=extend_schema(
        summary="Audit events of the accounts you reach, newest first",
        parameters=[AuditFilterSerializer],
        responses={200: AuditEventSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="Fetch an audit event", responses={200: AuditEventSerializer, **ERRORS}
    ),
)
class AuditEventViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ScopedViewSet[AuditEvent],
):
    model = AuditEvent
    access_scope = staticmethod(access.audit_events_for)
    object_label = "audit event"
    serializer_class = AuditEventSerializer
    pagination_class = NewestFirstCursorPagination
    # Tokens: only "*" (the scope catalogue names no audit resource).
    rules = {"list": Rule(Role.VIEWER), "retrieve": Rule(Role.VIEWER)}

    def narrow(self, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        return queryset.select_related("account")

    def filter_list(self, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted: dict[str, Any] = filters.validated_data
        if wanted.get("account"):
            queryset = queryset.filter(account=self.resolve_account(wanted["account"]))
        if action := wanted.get("action", "").strip():
            prefix = action.endswith(".")
            queryset = (
                queryset.filter(action__startswith=action)
                if prefix
                else queryset.filter(action=action)
            )
        if actor := wanted.get("actor", "").strip():
            queryset = queryset.filter(Q(actor__username=actor) | Q(actor__email__iexact=actor))
        if correlation_id := wanted.get("correlation_id", "").strip():
            queryset = queryset.filter(correlation_id=correlation_id)
        if "since" in wanted:
            queryset = queryset.filter(created_at__gte=wanted["since"])
        if "until" in wanted:
            queryset = queryset.filter(created_at__lt=wanted["until"])
        return queryset
