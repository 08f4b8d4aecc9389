"""Forms of the limits pages: an account's plan, rate and period quotas, and a partner's plans.

The services check the same things again (``tenants.services.limits``); the plan picker offers
only the account's partner's plans and the global ones, so a forged plan id is an invalid choice.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q

from tenants.forms.accounts import PERIOD_LIMITS, LimitsMixin
from tenants.models import Account, Plan

MAX_RPM = 10**9


def _limit_field(label: str, help_text: str = "Blank: no limit. 0 blocks it.") -> forms.Field:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=0,
        max_value=10**12,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"placeholder": "no limit"}),
    )


def plans_for_account(account: Account) -> Any:
    """The plans ``account`` may be put on: its partner's and the operator's global ones."""
    return Plan.objects.filter(Q(partner_id=account.partner_pk) | Q(partner__isnull=True)).order_by(
        "name", "pk"
    )


class AccountLimitsForm(LimitsMixin):
    """An account's plan, its own rpm and its period quotas (blank: the plan's, or none)."""

    plan = forms.ModelChoiceField(
        queryset=Plan.objects.none(), required=False, empty_label="No plan"
    )
    rpm = forms.IntegerField(
        label="Requests per minute",
        required=False,
        min_value=0,
        max_value=MAX_RPM,
        help_text="Blank: the plan's (or no limit). 0 blocks it.",
        widget=forms.NumberInput(attrs={"placeholder": "the plan's"}),
    )

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["plan"].queryset = plans_for_account(account)  # type: ignore[attr-defined]
        for key, _ in PERIOD_LIMITS:
            field = self.fields[f"limit_{key}"]
            field.help_text = "Blank: the plan's (or no limit). 0 blocks it."
            field.widget.attrs["placeholder"] = "the plan's"

    @classmethod
    def for_account(cls, account: Account, data: Any = None) -> AccountLimitsForm:
        initial = {
            "plan": account.plan_id,
            "rpm": account.rpm,
            **cls.initial_limits(account.limits),
        }
        return cls(data, initial=initial, account=account)

    def changed_limits(self) -> dict[str, Any] | None:
        """The account's new ``limits`` object, or None when its quotas stay as they are."""
        wanted = self.limits_from(self.account.limits)
        return None if wanted == self.account.limits else wanted


class PlanForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autofocus": True}))
    messages = _limit_field("Messages per period")
    tokens = _limit_field("Tokens per period")
    conversations = _limit_field("Conversations per period")
    rpm = forms.IntegerField(
        label="Requests per minute",
        required=False,
        min_value=0,
        max_value=MAX_RPM,
        help_text="Blank: no limit. 0 blocks it.",
        widget=forms.NumberInput(attrs={"placeholder": "no limit"}),
    )

    LIMITS = ("messages", "tokens", "conversations", "rpm")

    @classmethod
    def for_plan(cls, plan: Plan | None, data: Any = None) -> PlanForm:
        initial = {}
        if plan is not None:
            initial = {"name": plan.name, **{key: getattr(plan, key) for key in cls.LIMITS}}
        return cls(data, initial=initial)

    def limits(self) -> dict[str, int | None]:
        return {key: self.cleaned_data.get(key) for key in self.LIMITS}
