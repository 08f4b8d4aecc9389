"""Forms of the account pages: profile, onboarding, status, people and the audit filter.

They check shape and fill in readable messages; the rules themselves (who may grant what,
unique e-mails, valid time zones, open accounts) stay in the services, whose ``AccountError``
the views add to the same form (``tenants/views/http.py`` says how)."""

from __future__ import annotations

import json
import zoneinfo
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.utils import timezone as dj_timezone

from tenants.models import Account, Role

# Per-billing-period allowances in the upstream's own units (UPSTREAM.md §5); the limits issue
# enforces them from ``Account.limits``. Other keys in ``limits`` are kept as they are.
PERIOD_LIMITS = (
    ("messages", "Messages per period"),
    ("tokens", "Tokens per period"),
    ("conversations", "Conversations per period"),
)


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(zone, zone) for zone in sorted(zoneinfo.available_timezones())]


class LimitsMixin(forms.Form):
    """Adds one optional whole-number field per period limit; blank means "no limit"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, label in PERIOD_LIMITS:
            self.fields[f"limit_{key}"] = forms.IntegerField(
                label=label,
                required=False,
                min_value=0,
                max_value=10**12,
                help_text="Blank: no limit. 0 blocks it.",
                widget=forms.NumberInput(attrs={"placeholder": "no limit"}),
            )

    @staticmethod
    def initial_limits(limits: dict[str, Any]) -> dict[str, Any]:
        return {f"limit_{key}": limits.get(key) for key, _ in PERIOD_LIMITS}

    def limits_from(self, current: dict[str, Any]) -> dict[str, Any]:
        """``current`` with the period limits replaced by the form's (blank removes one)."""
        limits = {key: item for key, item in current.items() if key not in dict(PERIOD_LIMITS)}
        for key, _ in PERIOD_LIMITS:
            value = self.cleaned_data.get(f"limit_{key}")
            if value is not None:
                limits[key] = value
        return limits


class TenantFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, e-mail or public id"}
        ),
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *Account.Status.choices],
    )


class AccountProfileForm(forms.Form):
    """Name, contact, zone and meta; limits have their own page (``AccountLimitsForm``)."""

    name = forms.CharField(max_length=200)
    email = forms.EmailField(label="Contact e-mail", required=False)
    timezone = forms.ChoiceField(label="Time zone", choices=time_zone_choices)
    meta = forms.CharField(
        label="Meta (JSON object)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Free-form data for your own systems, shared with the upstream account.",
    )

    @classmethod
    def for_account(cls, account: Account, data: Any = None) -> AccountProfileForm:
        initial = {
            "name": account.name,
            "email": account.email,
            "timezone": account.timezone,
            "meta": json.dumps(account.meta, indent=2, sort_keys=True) if account.meta else "",
        }
        return cls(data, initial=initial)

    def clean_meta(self) -> dict[str, Any]:
        text = self.cleaned_data["meta"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON (line {exc.lineno}: {exc.msg})."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Meta must be a JSON object, like {"plan": "gold"}.')
        return value

    @staticmethod
    def meta_patch(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
        # update_account merges meta (a null value removes a key): removing a key in the text
        # box must remove it from the account, so send those keys as null.
        return {**{key: None for key in current if key not in wanted}, **wanted}


class OnboardForm(LimitsMixin):
    """Step 1 of the wizard. ``parent`` holds a public id; the view resolves it through access."""

    parent = forms.ChoiceField(label="Under")
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    email = forms.EmailField(
        label="Contact e-mail",
        required=False,
        help_text="The tenant's contact; unique among its siblings.",
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        initial="UTC",
        help_text="Billing periods reset at midnight in this zone.",
    )

    def __init__(self, *args: Any, parents: list[Account], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].choices = [  # type: ignore[attr-defined]
            (account.public_id, account.name if account.is_partner else f"{account.name} (tenant)")
            for account in parents
        ]


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, grantable: list[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [  # type: ignore[attr-defined]
            (role.value, role.label) for role in grantable
        ]
        if grantable:
            self.fields["role"].initial = grantable[-1].value


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, grantable: list[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [  # type: ignore[attr-defined]
            (role.value, role.label) for role in grantable
        ]


class SuspendForm(forms.Form):
    reason = forms.CharField(
        label="Reason (kept in the activity log)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CloseForm(forms.Form):
    confirmation = forms.CharField(label="Type the account's slug to confirm", max_length=64)

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["confirmation"].widget.attrs.update(
            {"autocomplete": "off", "spellcheck": "false", "placeholder": account.slug}
        )

    def clean_confirmation(self) -> str:
        value: str = self.cleaned_data["confirmation"].strip()
        if value != self.account.slug:
            raise forms.ValidationError(
                f"That is not it: type {self.account.slug} exactly to close {self.account.name}."
            )
        return value


class AuditFilterForm(forms.Form):
    account = forms.CharField(
        label="Account",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "Public id or slug"}),
    )
    action = forms.CharField(
        label="Action",
        required=False,
        max_length=64,
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. member. or account.closed", "list": "known-actions"}
        ),
    )
    actor = forms.CharField(
        label="Actor",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Name or e-mail"}),
    )
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date.")
        return cleaned

    @staticmethod
    def start_of(day: date) -> datetime:
        return dj_timezone.make_aware(datetime.combine(day, time.min))

    @classmethod
    def end_of(cls, day: date) -> datetime:
        # "To" includes the whole day: everything before the next midnight.
        return cls.start_of(day + timedelta(days=1))


class InvitationSignupForm(forms.Form):
    """A new login for the invited address: the e-mail is the invitation's and the username."""

    password1 = forms.CharField(label="Choose a password", widget=forms.PasswordInput)
    password2 = forms.CharField(label="The same password again", widget=forms.PasswordInput)

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                validate_password(first, User(username=self.email, email=self.email))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

    def create_user(self) -> User:
        return User.objects.create_user(
            username=self.email, email=self.email, password=self.cleaned_data["password1"]
        )
