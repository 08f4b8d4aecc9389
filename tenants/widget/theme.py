"""How a widget looks (its colours and title) and the snippet a site pastes to embed it.

The colours come from ``widget_theme`` and nowhere else: the snippet and the preview on the
widget key's page both call it, and the snippet carries them as ``data-`` attributes, so the
script needs no second request to learn them. A site that wants other colours edits the
attributes; a changed theme reaches a site when its snippet is copied again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tenants.branding import brand_for_account
from tenants.models import Account

# The script's source; sites load it from a stable address outside STATIC_URL's (possibly
# hashed) names, ``/widget/chat.js`` (tenants.views.widget_keys.widget_script).
SCRIPT_SOURCE = "widget/chat-widget.js"


@dataclass(frozen=True, slots=True)
class WidgetTheme:
    primary_color: str  # the launcher, the header and the visitor's bubbles
    accent_color: str  # the bot's name and links
    title: str  # the panel's heading


def widget_theme(account: Account) -> WidgetTheme:
    """The widget's colours and title for the keys of ``account``: its partner's brand
    (tenants.branding), or the operator's where the partner has none."""
    brand = brand_for_account(account)
    return WidgetTheme(
        primary_color=brand.primary_color,
        accent_color=brand.accent_color,
        title=f"Chat with {account.name}",
    )


def script_url() -> str:
    """Where sites load the widget from: ``PORTAL_BASE_URL`` + ``/widget/chat.js``."""
    return settings.PORTAL_BASE_URL + reverse("tenants:widget-script")


def snippet(account: Account, key: str) -> SafeString:
    """The one ``<script>`` tag a site pastes; ``key`` is the widget key's value (shown once),
    or a placeholder where it is no longer known."""
    theme = widget_theme(account)
    return format_html(
        '<script src="{}" data-key="{}" data-title="{}" data-primary-color="{}" '
        'data-accent-color="{}" async></script>',
        script_url(),
        key,
        theme.title,
        # Brand colours are #rrggbb by the time they are stored (services.branding.clean_color,
        # and portal.env.env_color for the operator's), and format_html escapes them anyway.
        theme.primary_color,
        theme.accent_color,
    )
