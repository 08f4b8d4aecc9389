"""The console's turn form: a message, and the conversation it goes to (or how to start one)."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from tenants.console.calls import Turn
from tenants.proxy.internal import UPSTREAM_ID

MAX_MESSAGE_CHARS = 8000
MAX_BACKSTORY_CHARS = 8000

_upstream_id = RegexValidator(UPSTREAM_ID, "Not an upstream id.")
# The upstream's model pattern (UPSTREAM.md §6.3): a name, optionally with key=value params.
_model = RegexValidator(r"^\w+(?:[./-]\w+)*(?:/\w+=\w+)*$", "Not a model name (e.g. gpt-5.4).")


class ConsoleTurnForm(forms.Form):
    message = forms.CharField(
        max_length=MAX_MESSAGE_CHARS,
        strip=True,
        error_messages={"required": "Write a message first."},
    )
    conversation = forms.CharField(required=False, max_length=64, validators=[_upstream_id])
    bot = forms.CharField(required=False, max_length=64, validators=[_upstream_id])
    model = forms.CharField(required=False, max_length=120, validators=[_model])
    backstory = forms.CharField(required=False, max_length=MAX_BACKSTORY_CHARS, strip=True)

    def turn(self) -> Turn:
        data = self.cleaned_data
        return Turn(
            message=data["message"],
            conversation_id=data["conversation"],
            bot_id=data["bot"],
            model="" if data["bot"] else data["model"],
            backstory="" if data["bot"] else data["backstory"],
        )

    def problem(self) -> str:
        """Every error in one sentence (the turn's card shows it in the transcript)."""
        return " ".join(
            f"{self.fields[name].label or name.capitalize()}: {message}"
            if name in self.fields and name != "message"
            else str(message)
            for name, messages in self.errors.items()
            for message in messages
        )
