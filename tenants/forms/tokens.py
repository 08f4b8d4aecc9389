"""Forms of the token pages: the scope picker, rotation and revocation.

The services check the same things again (``tenants.services.tokens``); the forms turn a bad
value into a message beside its field."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from tenants.credentials.scopes import ANY, ScopeError, catalogue, explain, validate_scopes


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


def token_rpm_field() -> forms.IntegerField:
    return forms.IntegerField(
        label="Requests per minute",
        required=False,
        min_value=0,
        max_value=10**9,
        widget=forms.NumberInput(attrs={"placeholder": "no own limit"}),
        help_text="This token's own rate; its account's limits apply too. Blank: none of its own.",
    )


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

    rpm = token_rpm_field()

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


class TokenRateForm(forms.Form):
    """A token's own requests per minute, changed after it was issued."""

    rpm = token_rpm_field()


class RevokeTokenForm(forms.Form):
    reason = forms.CharField(
        label="Reason (kept in the activity log)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
