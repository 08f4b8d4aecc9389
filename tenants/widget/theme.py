"""How a widget looks (its colours and title) and the snippet a site pastes to embed it.

The colours come from ``widget_theme`` and nowhere else: the snippet and the preview on the
widget key's page both call it, and the snippet carries them as ``data-`` attributes, so the
script needs no second request to learn them. A site that wants other colours edits the
attributes; a changed theme reaches a site when its snippet is copied again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tenants.branding import brand_for_account
from tenants.models import Account

# Fallbacks when a stored colour is not one (safe_color); brands are validated #rrggbb.
OPERATOR_PRIMARY = "#2b59c3"
OPERATOR_ACCENT = "#18223a"
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
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


def safe_color(value: str, default: str) -> str:
    """A colour that can go into an attribute and a style sheet: ``#rgb`` or ``#rrggbb``."""
    return value if _HEX_COLOR.match(value or "") else default


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
        safe_color(theme.primary_color, OPERATOR_PRIMARY),
        safe_color(theme.accent_color, OPERATOR_ACCENT),
    )
