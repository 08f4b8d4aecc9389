"""Webhooks of an account: list, add (the secret is in that one response), delete, send a test;
and their deliveries with every attempt. Tokens need the ``*`` scope (the catalogue names no
resource for webhooks)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import access
from tenants.alerts import webhooks
from tenants.alerts.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.api.base import Rule, ScopedViewSet
from tenants.api.schema import CONFLICT, ERRORS
from tenants.api.serializers import AccountRefFilterSerializer, StrictSerializer, Text
from tenants.models import Role


class WebhookSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    account = serializers.CharField(source="account.public_id", read_only=True)
    secret = serializers.CharField(source="secret_display", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "account", "url", "description", "secret", "created_at"]


class WebhookCreatedSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    account = serializers.CharField(source="account.public_id", read_only=True)
    secret = serializers.SerializerMethodField(
        help_text="The signing secret, in this response only."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "account", "url", "description", "secret", "created_at"]

    def get_secret(self, obj: WebhookEndpoint) -> str:
        return str(self.context["secret"])


class WebhookCreateSerializer(StrictSerializer):
    account = Text(help_text="Public id or slug of the account (admin role).")
    url = Text(max_length=1000, help_text="An http(s) URL the events are POSTed to.")
    description = Text(required=False, allow_blank=True, max_length=200)


class AttemptSerializer(serializers.ModelSerializer[WebhookAttempt]):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "attempted_at", "status_code", "duration_ms", "error", "retry_in"]


class DeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    account = serializers.CharField(source="account.public_id", read_only=True)
    webhook = serializers.IntegerField(source="endpoint_id", read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "account",
            "webhook",
            "event_id",
            "event",
            "payload",
            "status",
            "attempts",
            "created_at",
            "finished_at",
            "attempt_log",
        ]


class DeliveryFilterSerializer(AccountRefFilterSerializer):
    webhook = serializers.IntegerField(required=False, help_text="Only this webhook's.")


@extend_schema_view(
    list=extend_schema(
        summary="Webhooks of the accounts you reach",
        parameters=[AccountRefFilterSerializer],
        responses={200: WebhookSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(summary="Fetch a webhook", responses={200: WebhookSerializer, **ERRORS}),
    create=extend_schema(
        summary="Add a webhook (its signing secret is in this response only)",
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer, **ERRORS, **CONFLICT},
    ),
    destroy=extend_schema(summary="Delete a webhook", responses={204: None, **ERRORS}),
    send_test=extend_schema(
        summary="Queue a webhook.test event to a webhook",
        request=None,
        responses={202: DeliverySerializer, **ERRORS},
    ),
)
class WebhookViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet[WebhookEndpoint]
):
    model = WebhookEndpoint
    access_scope = staticmethod(access.webhooks_for)
    object_label = "webhook"
    serializer_class = WebhookSerializer
    rules = {
        "list": Rule(Role.VIEWER),
        "retrieve": Rule(Role.VIEWER),
        "create": Rule(Role.ADMIN),
        "destroy": Rule(Role.ADMIN),
        "send_test": Rule(Role.ADMIN),
    }

    def narrow(self, queryset: QuerySet[WebhookEndpoint]) -> QuerySet[WebhookEndpoint]:
        return queryset.select_related("account").order_by("-created_at", "-pk")

    def filter_list(self, queryset: QuerySet[WebhookEndpoint]) -> QuerySet[WebhookEndpoint]:
        filters = AccountRefFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        reference = filters.validated_data.get("account")
        if reference:
            queryset = queryset.filter(account=self.resolve_account(reference))
        return queryset

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = WebhookCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = self.resolve_account(body.validated_data["account"])
        endpoint, secret = webhooks.create_endpoint(
            account,
            url=body.validated_data["url"],
            description=body.validated_data.get("description", ""),
            actor=self.caller,
            context=self.audit_context,
        )
        data = WebhookCreatedSerializer(endpoint, context={"secret": secret}).data
        response = Response(data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        webhooks.delete_endpoint(endpoint, actor=self.caller, context=self.audit_context)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        delivery = webhooks.send_test(endpoint, actor=self.caller, context=self.audit_context)
        delivery.refresh_from_db()
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        summary="Webhook deliveries, newest first, with every attempt",
        parameters=[DeliveryFilterSerializer],
        responses={200: DeliverySerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="Fetch a delivery", responses={200: DeliverySerializer, **ERRORS}
    ),
)
class WebhookDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet[WebhookDelivery]
):
    model = WebhookDelivery
    access_scope = staticmethod(access.webhook_deliveries_for)
    object_label = "delivery"
    serializer_class = DeliverySerializer
    rules = {"list": Rule(Role.VIEWER), "retrieve": Rule(Role.VIEWER)}

    def narrow(self, queryset: QuerySet[WebhookDelivery]) -> QuerySet[WebhookDelivery]:
        return (
            queryset.select_related("account")
            .prefetch_related("attempt_log")
            .order_by("-created_at", "-pk")
        )

    def filter_list(self, queryset: QuerySet[WebhookDelivery]) -> QuerySet[WebhookDelivery]:
        filters = DeliveryFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        reference = filters.validated_data.get("account")
        if reference:
            queryset = queryset.filter(account=self.resolve_account(reference))
        webhook = filters.validated_data.get("webhook")
        if webhook is not None:
            queryset = queryset.filter(endpoint_id=webhook)
        return queryset
