"""Forms of the pages. They check shape and fill in readable messages; the rules themselves
(who may grant what, unique e-mails, valid time zones, open accounts) stay in the services, whose
``AccountError`` the views add to the same form (``tenants/views/http.py`` says how)."""

from __future__ import annotations

import json
import re
import zoneinfo
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.utils import timezone as dj_timezone

from tenants.credentials.scopes import ANY, ScopeError, catalogue, explain, validate_scopes
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


class AccountProfileForm(LimitsMixin):
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
            **cls.initial_limits(account.limits),
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


class ScopesField(forms.Field):
    """The ticked scope boxes (several values under one name), checked against the catalogue."""

    widget = forms.MultipleHiddenInput  # only for reading a list; the picker draws the boxes

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        return [str(item).strip() for item in values if str(item).strip()]


def _simplest(scopes: list[str]) -> list[str]:
    """``*`` alone if ticked, and no ``bot:list`` beside ``bot:*``: what the token will hold."""
    if ANY in scopes:
        return [ANY]
    whole = {scope.split(":")[0] for scope in scopes if scope.endswith(":*")}
    return [scope for scope in scopes if scope.endswith(":*") or scope.split(":")[0] not in whole]


class TokenForm(forms.Form):
    """A new API token: its name, scopes (the picker), optional bots and expiry.

    The service checks the same things again (``tenants.services.tokens``); the form turns a
    bad scope into a message beside the picker instead of a message at the top.
    """

    name = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "e.g. Production backend"}),
        help_text="Say where it is used, so you know what breaks when you revoke it.",
    )
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    scopes = ScopesField(required=False)
    extra_scopes = forms.CharField(
        label="Other scopes",
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. *:list", "spellcheck": "false"}),
        help_text="Wildcards the boxes do not offer, separated by spaces or commas: "
        "*:list lists anything.",
    )
    bot_ids = forms.CharField(
        label="Only these bots",
        required=False,
        max_length=7000,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="Bot ids, one per line or separated by commas. Blank: any bot of the account. "
        "Calls touching another bot are refused.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3660,
        widget=forms.NumberInput(attrs={"placeholder": "never"}),
        help_text="Blank: it works until revoked.",
    )

    def clean_bot_ids(self) -> list[str] | None:
        text: str = self.cleaned_data["bot_ids"]
        ids = [part for part in re.split(r"[\s,]+", text) if part]
        if any(len(bot_id) > 64 for bot_id in ids):
            raise forms.ValidationError("A bot id has at most 64 characters.")
        if len(ids) > 100:
            raise forms.ValidationError("A token can name at most 100 bots.")
        return ids or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        wanted = list(cleaned.get("scopes") or [])
        wanted += [part for part in re.split(r"[\s,]+", cleaned.get("extra_scopes") or "") if part]
        if not wanted:
            self.add_error("scopes", "Pick at least one scope, or full access (*).")
            return cleaned
        try:
            cleaned["scopes"] = _simplest(validate_scopes(wanted))
        except ScopeError as exc:
            field = "extra_scopes" if self.data.get("extra_scopes") else "scopes"
            self.add_error(field, str(exc))
        return cleaned

    @property
    def expires_in(self) -> int | None:
        days = self.cleaned_data.get("expires_in_days")
        return days * 24 * 3600 if days else None

    def chosen_scopes(self) -> set[str]:
        """The boxes to tick when drawing the picker: what was sent, else the initial ones."""
        if self.is_bound:
            return set(self.data.getlist("scopes")) if hasattr(self.data, "getlist") else set()
        return set(self.initial.get("scopes", ()))

    def scope_picker(self) -> dict[str, Any]:
        """The catalogue as the picker draws it: full access, then one group per resource."""
        chosen = self.chosen_scopes()
        groups = []
        for resource in catalogue():
            name = str(resource["resource"])
            actions = [
                {**action, "checked": action["scope"] in chosen}
                for action in resource["actions"]  # type: ignore[attr-defined]
            ]
            everything = f"{name}:*"
            groups.append(
                {
                    **resource,
                    "everything": {
                        "scope": everything,
                        "help": explain(everything),
                        "checked": everything in chosen,
                    },
                    "actions": actions,
                    "open": everything in chosen or any(item["checked"] for item in actions),
                }
            )
        return {
            "full": {"scope": ANY, "help": explain(ANY), "checked": ANY in chosen},
            "groups": groups,
        }


# The grace periods offered on the rotate page, in seconds.
GRACE_CHOICES = (
    (0, "None: the old value stops working now"),
    (15 * 60, "15 minutes"),
    (30 * 60, "30 minutes"),
    (3600, "1 hour"),
    (24 * 3600, "24 hours"),
    (7 * 24 * 3600, "7 days"),
)


class RotateTokenForm(forms.Form):
    grace_seconds = forms.TypedChoiceField(
        label="Keep the old value working for",
        coerce=int,
        choices=[(str(seconds), label) for seconds, label in GRACE_CHOICES],
        help_text="Time to deploy the new value everywhere the old one is used.",
    )

    def __init__(self, *args: Any, default_grace: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["grace_seconds"]
        choices = list(GRACE_CHOICES)
        if default_grace not in dict(choices):
            choices.append((default_grace, f"{default_grace // 60} minutes (the default)"))
            choices.sort()
        field.choices = [(str(seconds), label) for seconds, label in choices]  # type: ignore[attr-defined]
        field.initial = str(default_grace)


class RevokeTokenForm(forms.Form):
    reason = forms.CharField(
        label="Reason (kept in the activity log)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
