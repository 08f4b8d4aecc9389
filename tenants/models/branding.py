"""A partner's white-label brand: its product name, colours, contacts, logo and custom hosts.

Pages read brands through ``tenants.branding`` (cached), and change them only through
``tenants.services.branding`` (validated, audited, cache invalidated on commit).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from tenants.models.accounts import Account


class Brand(models.Model):
    """One per partner that set its own brand; partners without one show the operator's."""

    partner = models.OneToOneField(
        Account,
        on_delete=models.CASCADE,
        related_name="brand",
        limit_choices_to=Q(parent__isnull=True),
    )
    product_name = models.CharField(max_length=60)
    # "#rrggbb", lower case: the only form tenants.branding writes into the pages' CSS.
    primary_color = models.CharField(max_length=7)
    accent_color = models.CharField(max_length=7)
    support_email = models.EmailField(blank=True)
    footer_text = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(primary_color__regex=r"^#[0-9a-f]{6}$")
                & Q(accent_color__regex=r"^#[0-9a-f]{6}$"),
                name="brand_colors_are_hex",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_name} ({self.partner})"


class BrandLogo(models.Model):
    """The logo's bytes, in the database so that every worker serves it without shared disk.

    Small by construction (``PORTAL_BRAND_LOGO_MAX_BYTES``); kept apart from ``Brand`` so that
    reading a brand never loads them. Served at a URL naming ``sha256``, cached for a year.
    """

    brand = models.OneToOneField(
        Brand, on_delete=models.CASCADE, related_name="logo", primary_key=True
    )
    data = models.BinaryField()
    content_type = models.CharField(max_length=32)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.content_type} {self.width}x{self.height} {self.sha256[:12]}"


class BrandHost(models.Model):
    """A host name people reach the partner's portal on (``portal.acme.com``).

    Unique across all partners (a host shows one brand), stored normalised: lower case,
    punycode, no port, no trailing dot. The one at position 0 is used in e-mailed links.
    """

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="hosts")
    host = models.CharField(max_length=253, unique=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.host
