"""Plans and an account's limits: list, create and change plans; read and set an account's.

An account's limits are set from above: changing them needs the admin role on its *parent*
(a tenant's own admins may read theirs, never raise them); a token may set them on the accounts
below its own. A partner's own limits are the operator's.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import access
from tenants.api.authentication import TokenCaller
from tenants.api.base import Rule, ScopedViewSet
from tenants.api.schema import CONFLICT, ERRORS, UPSTREAM_ERRORS
from tenants.api.serializers import StrictSerializer, Text
from tenants.limits.policy import QUOTAS, level_values
from tenants.models import Account, Plan, Role
from tenants.services.limits import UNSET, create_plan, set_account_limits, update_plan


def _limit_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text=f"{help_text} Null: no limit."
    )


class PlanLimitsSerializer(StrictSerializer):
    messages = _limit_field("Messages per period (a calendar month in the account's zone).")
    tokens = _limit_field("Tokens per period (the upstream's billing tokens).")
    conversations = _limit_field("Conversations per period.")
    rpm = _limit_field("Requests per minute (sliding 60 s window).")


class PlanCreateSerializer(PlanLimitsSerializer):
    partner = Text(help_text="Public id or slug of the partner (admin role).")
    name = Text(max_length=100)


class PlanUpdateSerializer(PlanLimitsSerializer):
    name = Text(required=False, max_length=100)


class PlanSerializer(serializers.ModelSerializer[Plan]):
    partner = serializers.CharField(source="partner.public_id", read_only=True)

    class Meta:
        model = Plan
        fields = ["id", "partner", "name", *QUOTAS, "rpm", "created_at", "updated_at"]


class AccountLimitsUpdateSerializer(StrictSerializer):
    plan = serializers.IntegerField(
        required=False, allow_null=True, help_text="A plan id of the account's partner; null: none."
    )
    rpm = _limit_field("The account's own requests per minute, over the plan's.")
    limits = serializers.DictField(
        required=False,
        help_text="The upstream's limits object (messages, tokens, conversations per period), "
        "over the plan's; replaces the current one and is pushed to the upstream child.",
    )


class AccountLimitsSerializer(serializers.Serializer[Any]):
    account = serializers.CharField()
    timezone = serializers.CharField(help_text="Periods are calendar months in this zone.")
    plan = PlanSerializer(allow_null=True)
    rpm = serializers.IntegerField(allow_null=True, help_text="The account's own override.")
    limits = serializers.DictField(help_text="The account's own period quotas (overrides).")
    effective = serializers.DictField(help_text="What applies: the plan, overridden.")


def _limits_of(account: Account) -> dict[str, Any]:
    plan = account.plan
    level = level_values(
        {
            "pk": account.pk,
            "public_id": account.public_id,
            "name": account.name,
            "timezone": account.timezone,
            "limits": account.limits,
            "rpm": account.rpm,
            **{f"plan__{name}": getattr(plan, name, None) for name in (*QUOTAS, "rpm")},
        }
    )
    return {
        "account": account.public_id,
        "timezone": account.timezone,
        "plan": PlanSerializer(plan).data if plan else None,
        "rpm": account.rpm,
        "limits": account.limits,
        "effective": {**dict.fromkeys(QUOTAS), **level["quotas"], "rpm": level["rpm"]},
    }


@extend_schema_view(
    list=extend_schema(
        summary="List your partners' plans", responses={200: PlanSerializer(many=True), **ERRORS}
    ),
    retrieve=extend_schema(summary="Fetch a plan", responses={200: PlanSerializer, **ERRORS}),
    create=extend_schema(
        summary="Create a plan for a partner you administer",
        request=PlanCreateSerializer,
        responses={201: PlanSerializer, **ERRORS, **CONFLICT},
    ),
    partial_update=extend_schema(
        summary="Rename a plan or change its limits (every account on it follows)",
        request=PlanUpdateSerializer,
        responses={200: PlanSerializer, **ERRORS, **CONFLICT},
    ),
)
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet[Plan]):
    model = Plan
    access_scope = staticmethod(access.plans_for)
    account_field = "partner"
    object_label = "plan"
    serializer_class = PlanSerializer
    rules = {
        "list": Rule(Role.VIEWER, "user:list"),
        "retrieve": Rule(Role.VIEWER, "user:fetch"),
        "create": Rule(Role.ADMIN, "user:update"),
        "partial_update": Rule(Role.ADMIN, "user:update"),
    }

    def narrow(self, queryset: Any) -> Any:
        return queryset.select_related("partner")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = _valid(PlanCreateSerializer, request)
        partner = self.resolve_account(body.pop("partner"))
        plan = create_plan(
            partner,
            name=body.pop("name"),
            limits=body,
            actor=self.caller,
            context=self.audit_context,
        )
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        plan = self.get_object()
        body = _valid(PlanUpdateSerializer, request)
        update_plan(
            plan,
            name=body.pop("name", None),
            limits=body,
            actor=self.caller,
            context=self.audit_context,
        )
        return Response(PlanSerializer(plan).data)


@extend_schema_view(
    retrieve=extend_schema(
        summary="An account's plan, own limits and the limits that apply",
        responses={200: AccountLimitsSerializer, **ERRORS},
    ),
    partial_update=extend_schema(
        summary="Set an account's plan, rate or period quotas (admin of its parent)",
        request=AccountLimitsUpdateSerializer,
        responses={200: AccountLimitsSerializer, **ERRORS, **UPSTREAM_ERRORS},
    ),
)
class AccountLimitsViewSet(mixins.RetrieveModelMixin, ScopedViewSet[Account]):
    """``/accounts/{id}/limits/``: ``{id}`` is an account's public id or slug."""

    model = Account
    access_scope = staticmethod(access.accounts_for)
    account_field = None
    object_label = "account"
    lookup_url_kwarg = "id"
    rules = {
        "list": Rule(Role.VIEWER, "user:list"),
        "retrieve": Rule(Role.VIEWER, "user:fetch"),
        "partial_update": Rule(Role.ADMIN, "user:update"),
    }

    def narrow(self, queryset: Any) -> Any:
        return queryset.select_related("plan", "plan__partner", "parent")

    def lookup_condition(self, value: str) -> Any:
        from django.db.models import Q

        return Q(public_id=value) | Q(slug=value)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(_limits_of(self.get_object()))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        self._require_set_from_above(account)
        body = _valid(AccountLimitsUpdateSerializer, request)
        plan: Plan | None = UNSET
        if "plan" in body:
            plan = None
            if body["plan"] is not None:
                # Only the account's partner's plans (or the operator's global ones).
                plan = (
                    Plan.objects.filter(
                        pk=body["plan"], partner_id__in=(account.partner_pk,)
                    ).first()
                    or Plan.objects.filter(pk=body["plan"], partner__isnull=True).first()
                )
                if plan is None:
                    raise serializers.ValidationError({"plan": "No such plan for this account."})
        set_account_limits(
            account,
            plan=plan,
            rpm=body.get("rpm", UNSET),
            limits=body.get("limits", UNSET),
            actor=self.caller,
            context=self.audit_context,
        )
        return Response(_limits_of(account))

    def _require_set_from_above(self, account: Account) -> None:
        if isinstance(self.caller, TokenCaller):
            if account.pk == self.caller.record.account_id:
                raise PermissionDenied("A token cannot change its own account's limits.")
            return
        if account.parent is None:
            if not access.is_operator(self.caller):
                raise PermissionDenied("A partner's own limits are the operator's to set.")
            return
        access.require_role(self.caller, account.parent, Role.ADMIN)


def _valid(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(serializer.validated_data)
    return data
