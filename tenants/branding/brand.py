"""The ``Brand`` value pages, e-mails and the widget read, and the colour arithmetic behind it.

A brand has two colours a partner picks (primary, accent); everything else the pages need is
derived here so that any pick stays readable: the text colour on the primary (white or near
black, whichever contrasts more, WCAG 2 relative luminance), a darker primary for hovers, a
soft tint for backgrounds, and a link colour that keeps 4.5:1 against white.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

COLOR = re.compile(r"#[0-9a-f]{6}")
WHITE = "#ffffff"
INK = "#111827"
# WCAG 2 AA for normal text.
READABLE_CONTRAST = 4.5


def _channels(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _hex(red: float, green: float, blue: float) -> str:
    return "#" + "".join(f"{max(0, min(255, round(part))):02x}" for part in (red, green, blue))


def luminance(color: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _channels(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio, from 1 (none) to 21 (black on white)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def mix(color: str, other: str, weight: float) -> str:
    """``color`` moved ``weight`` (0..1) of the way towards ``other``."""
    return _hex(
        *(
            part + (towards - part) * weight
            for part, towards in zip(_channels(color), _channels(other), strict=True)
        )
    )


def readable_text_on(background: str) -> str:
    return WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK


def readable_on_white(color: str) -> str:
    """``color``, darkened in small steps until text in it reads on white (4.5:1)."""
    candidate = color
    for step in range(1, 21):
        if contrast(candidate, WHITE) >= READABLE_CONTRAST:
            return candidate
        candidate = mix(color, "#000000", step * 0.05)
    return candidate


@dataclass(frozen=True, slots=True)
class Brand:
    """What a page or an e-mail shows: the operator's brand, or one partner's.

    ``tenants.branding.brand_for_account`` and ``brand_for_request`` return these; the widget
    reads ``primary_color`` and ``accent_color`` for its default colours.
    """

    product_name: str
    primary_color: str
    accent_color: str
    support_email: str = ""
    footer_text: str = ""
    # A path on the portal (``/branding/logo/<sha256>.png``) or the operator's configured URL.
    logo_url: str | None = None
    # The partner whose brand this is; None for the operator's.
    partner_id: int | None = None
    # The partner's first custom host: e-mailed links point there.
    links_host: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.partner_id is None

    @property
    def on_primary_color(self) -> str:
        return readable_text_on(self.primary_color)

    @property
    def on_primary_contrast(self) -> float:
        return round(contrast(self.on_primary_color, self.primary_color), 1)

    @property
    def primary_dark_color(self) -> str:
        return mix(self.primary_color, "#000000", 0.2)

    @property
    def primary_soft_color(self) -> str:
        return mix(self.primary_color, WHITE, 0.88)

    @property
    def link_color(self) -> str:
        return readable_on_white(self.primary_color)

    @property
    def base_url(self) -> str:
        """Where e-mailed links point: the partner's first host, else ``PORTAL_BASE_URL``.

        Taken from stored configuration, never from a request's Host header, so that nobody
        can make the portal mail a link to a host of their choosing.
        """
        base: str = settings.PORTAL_BASE_URL
        if self.links_host:
            return f"{urlsplit(base).scheme}://{self.links_host}"
        return base


def operator_brand() -> Brand:
    """The operator's brand, from settings (``PORTAL_BRAND_*``)."""
    return Brand(
        product_name=settings.PORTAL_BRAND_NAME,
        primary_color=settings.PORTAL_BRAND_PRIMARY_COLOR,
        accent_color=settings.PORTAL_BRAND_ACCENT_COLOR,
        support_email=settings.PORTAL_BRAND_SUPPORT_EMAIL,
        footer_text=settings.PORTAL_BRAND_FOOTER_TEXT,
        logo_url=settings.PORTAL_BRAND_LOGO_URL or None,
    )
