"""An account's usage: a period's totals against its limits, and daily rollup points.

``/accounts/{id}/usage/?period=YYYY-MM`` is the account's own calendar month (in its time zone,
as the limits count it; default: the current one), summed from hourly rollups (plus calls since
the last rollup, for the current period). ``/accounts/{id}/usage/daily/?from=&to=`` are UTC days
from the daily rollups, at most ``MAX_DAYS`` of them (default: the last 30). Viewers and up; a
token needs ``usage:fetch``.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import access
from tenants.api.base import Rule, ScopedViewSet
from tenants.api.schema import ERRORS
from tenants.limits.periods import Period, zone
from tenants.limits.policy import LEVEL_FIELDS, QUOTAS, level_values
from tenants.metering import partner_usage, usage
from tenants.models import Account, Role

MAX_DAYS = 366
DEFAULT_DAYS = 30


class UsageTotalsSerializer(serializers.Serializer[Any]):
    messages = serializers.IntegerField()
    tokens = serializers.IntegerField()
    conversations = serializers.IntegerField()
    requests = serializers.IntegerField()
    # DRF's metaclass takes declared fields out of the class, so this does not hide
    # ``Serializer.errors`` at run time; only the type checker sees the clash.
    errors = serializers.IntegerField()  # type: ignore[assignment]


class AccountUsageSerializer(serializers.Serializer[Any]):
    account = serializers.CharField()
    period = serializers.CharField(help_text="YYYY-MM, a calendar month in the account's zone.")
    timezone = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="The reset: the next period's start.")
    own = UsageTotalsSerializer(help_text="The account's own calls.")
    counted = UsageTotalsSerializer(
        help_text="The account and its sub-tenants: what counts against its limits."
    )
    limits = serializers.DictField(help_text="The account's effective quotas; null: no limit.")
    percent = serializers.DictField(help_text="counted / limit per quota, in %; null: no limit.")


class DailyPointSerializer(UsageTotalsSerializer):
    date = serializers.DateField()


# "from" is a keyword, so this one is declared by name.
AccountDailyUsageSerializer = inline_serializer(
    "AccountDailyUsage",
    fields={
        "account": serializers.CharField(),
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "points": DailyPointSerializer(many=True),
    },
)


def _period_of(account: Account, key: str | None) -> Period:
    tz = zone(account.timezone)
    if not key:
        local = timezone.now().astimezone(tz)
        key = f"{local.year:04d}-{local.month:02d}"
    try:
        start_utc, end_utc = partner_usage.month_bounds(key)
    except ValueError as error:
        raise serializers.ValidationError({"period": str(error)}) from error
    start = start_utc.replace(tzinfo=tz)
    end = end_utc.replace(tzinfo=tz)
    return Period(key=key, start=start, end=end)


def _date(request: Request, name: str) -> date | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise serializers.ValidationError({name: "A date: YYYY-MM-DD."}) from error


def _effective_quotas(account: Account) -> dict[str, int | None]:
    row = Account.objects.filter(pk=account.pk).values(*LEVEL_FIELDS).get()
    return {**dict.fromkeys(QUOTAS), **level_values(row)["quotas"]}


@extend_schema_view(
    retrieve=extend_schema(
        summary="An account's usage in a period, against its limits",
        parameters=[
            OpenApiParameter("period", OpenApiTypes.STR, description="YYYY-MM; default: now.")
        ],
        responses={200: AccountUsageSerializer, **ERRORS},
    ),
)
class AccountUsageViewSet(ScopedViewSet[Account]):
    """``/accounts/{id}/usage/``: ``{id}`` is an account's public id or slug."""

    model = Account
    access_scope = staticmethod(access.accounts_for)
    account_field = None
    object_label = "account"
    lookup_url_kwarg = "id"
    serializer_class = AccountUsageSerializer
    rules = {
        "list": Rule(Role.VIEWER, "usage:fetch"),
        "retrieve": Rule(Role.VIEWER, "usage:fetch"),
        "daily": Rule(Role.VIEWER, "usage:fetch"),
    }

    def lookup_condition(self, value: str) -> Any:
        return Q(public_id=value) | Q(slug=value)

    def lookup_order(self, value: str) -> tuple[Any, ...]:
        from django.db.models.functions import Length

        return (Length("path"), "pk")

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        period = _period_of(account, request.query_params.get("period"))
        now = timezone.now()
        mark = usage.watermark()
        counted = usage.period_totals(account, period.start, period.end, now=now, mark=mark)
        own = usage.period_totals(
            account, period.start, period.end, subtree=False, now=now, mark=mark
        )
        limits = _effective_quotas(account)
        return Response(
            {
                "account": account.public_id,
                "period": period.key,
                "timezone": account.timezone,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "own": own,
                "counted": counted,
                "limits": limits,
                "percent": {unit: usage.percent_of(counted[unit], limits[unit]) for unit in QUOTAS},
            }
        )

    @extend_schema(
        summary="An account's daily usage (UTC days, from the daily rollups)",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day; default: to - 29."),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="Last day; default: today (UTC)."
            ),
        ],
        responses={200: AccountDailyUsageSerializer, **ERRORS},
    )
    def daily(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        last = _date(request, "to") or timezone.now().astimezone(UTC).date()
        first = _date(request, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise serializers.ValidationError({"from": "from is after to."})
        if (last - first).days + 1 > MAX_DAYS:
            raise serializers.ValidationError({"from": f"At most {MAX_DAYS} days at a time."})
        points = usage.daily_series(account, first, last, subtree=False)
        return Response(
            {
                "account": account.public_id,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "points": [{"date": day.isoformat(), **values} for day, values in points],
            }
        )
