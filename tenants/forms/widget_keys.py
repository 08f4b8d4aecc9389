"""Forms of the widget key pages: a new key (its bot, origins and rates) and changing origins.

The service checks the same things again (``tenants.services.widget_keys``); the forms put a
bad origin or bot beside its field."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings

from tenants.widget.origins import OriginError, clean_origins

_ORIGINS_HELP = (
    "The sites that embed the widget, one per line: https://shop.example (scheme, host and "
    "port if not the default; no path). Browsers on other sites are refused."
)


def _origins_field(**kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label="Allowed origins",
        max_length=20_000,
        widget=forms.Textarea(
            attrs={"rows": 3, "spellcheck": "false", "placeholder": "https://shop.example"}
        ),
        help_text=_ORIGINS_HELP,
        **kwargs,
    )


def _clean_origin_lines(text: str) -> list[str]:
    try:
        return clean_origins(part for part in re.split(r"[\s,]+", text) if part)
    except OriginError as exc:
        raise forms.ValidationError(str(exc)) from None


class WidgetKeyForm(forms.Form):
    """A new widget key. ``bots`` are the account's bots as ``(id, label)`` when the upstream
    could list them (a picker), else None (the id is typed, and the service checks it)."""

    bot_id = forms.CharField(label="Bot", max_length=64)
    name = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Shop help desk"}),
        help_text="Blank: named after the bot.",
    )
    origins = _origins_field()
    rpm = forms.IntegerField(
        label="Requests per minute (whole key)",
        min_value=1,
        max_value=1_000_000,
        help_text="All visitors of every site using this key together.",
    )
    session_rpm = forms.IntegerField(
        label="Requests per minute (each visitor)",
        min_value=1,
        max_value=1_000_000,
        help_text="Each chat session (sessionId) alone.",
    )

    def __init__(self, *args: Any, bots: list[tuple[str, str]] | None, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial", {"rpm": settings.WIDGET_KEY_RPM, "session_rpm": settings.WIDGET_SESSION_RPM}
        )
        super().__init__(*args, **kwargs)
        self.bots = bots
        field = self.fields["bot_id"]
        if bots is not None:
            field.widget = forms.Select(choices=[("", "Choose a bot…"), *bots])
            field.help_text = "The widget chats with this bot only."
        else:
            field.help_text = "The bots could not be listed: type the bot's id."

    def clean_bot_id(self) -> str:
        bot_id: str = self.cleaned_data["bot_id"].strip()
        if self.bots is not None and bot_id not in {value for value, _ in self.bots}:
            raise forms.ValidationError("Choose one of the account's bots.")
        return bot_id

    def clean_origins(self) -> list[str]:
        return _clean_origin_lines(self.cleaned_data["origins"])


class WidgetOriginsForm(forms.Form):
    origins = _origins_field()

    def clean_origins(self) -> list[str]:
        return _clean_origin_lines(self.cleaned_data["origins"])
