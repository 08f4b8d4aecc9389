"""The form that starts a support session (acting as a tenant)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from tenants.services.impersonation import REASON_MAX, TICKET_MAX


class SupportStartForm(forms.Form):
    """Reason, ticket, duration and, for those whose role allows it, "allow changes".

    Shape only: the service checks the same limits and who may allow changes
    (``tenants.services.impersonation.start_impersonation``).
    """

    reason = forms.CharField(
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why you act as this tenant. Its people read it in their support access list.",
    )
    ticket = forms.CharField(
        label="Ticket reference",
        max_length=TICKET_MAX,
        required=False,
        help_text="Optional: the support ticket this is about.",
    )
    allow_changes = forms.BooleanField(
        required=False,
        label="Allow changes",
        help_text="Act with the tenant admins' rights. Otherwise the session is read-only.",
    )

    def __init__(self, *args: Any, may_allow_changes: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        longest = settings.PORTAL_SUPPORT_SESSION_MAX_MINUTES
        # Built here: the maximum is a setting, read when the form is made.
        self.fields["minutes"] = forms.IntegerField(
            label="Duration (minutes)",
            min_value=1,
            max_value=longest,
            initial=settings.PORTAL_SUPPORT_SESSION_MINUTES,
            help_text=f"At most {longest} minutes; the session ends by itself then.",
        )
        self.order_fields(["reason", "ticket", "minutes", "allow_changes"])
        if not may_allow_changes:
            del self.fields["allow_changes"]
