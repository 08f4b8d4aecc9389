"""The form of a partner's Branding page.

It checks shapes, and gives the logo and host errors beside their fields by running the same
checks the service runs (``tenants.branding.logo``, ``tenants.branding.hosts``); the service
(``tenants.services.branding.update_brand``) checks everything again, for the API's sake.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from tenants.branding import Brand
from tenants.branding.hosts import HostRefused, clean_host
from tenants.branding.logo import LogoRefused, check_size, describe_bytes, validate_logo
from tenants.services.branding import FIELDS, FOOTER_MAX, MAX_HOSTS, PRODUCT_NAME_MAX


def _color_field(label: str, preview: str) -> forms.CharField:
    # A native colour picker: browsers send its value as #rrggbb, the form the service wants.
    return forms.CharField(
        label=label,
        max_length=7,
        widget=forms.TextInput(attrs={"type": "color", "data-brand-input": preview}),
    )


class BrandingForm(forms.Form):
    product_name = forms.CharField(
        max_length=PRODUCT_NAME_MAX,
        help_text="Shown in the navigation, page titles, the login page and e-mails.",
        widget=forms.TextInput(attrs={"data-brand-input": "name"}),
    )
    primary_color = _color_field("Primary colour", "primary")
    accent_color = _color_field("Accent colour", "accent")
    support_email = forms.EmailField(
        required=False, help_text="Shown in the footer; replies to e-mails go here."
    )
    footer_text = forms.CharField(
        max_length=FOOTER_MAX, required=False, help_text="One line at the foot of every page."
    )
    logo = forms.FileField(
        required=False,
        widget=forms.FileInput(
            attrs={"accept": "image/png,image/jpeg,image/webp", "data-brand-input": "logo"}
        ),
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")
    hosts = forms.CharField(
        label="Custom hosts",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text=(
            f"One host name per line (at most {MAX_HOSTS}), like portal.example.com. Point its "
            "DNS at the portal first; the first one is used in links in e-mails."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = describe_bytes(settings.PORTAL_BRAND_LOGO_MAX_BYTES)
        pixels = settings.PORTAL_BRAND_LOGO_MAX_PIXELS
        self.fields["logo"].help_text = (
            f"PNG, JPEG or WebP (no SVG), at most {limit} and {pixels:,} pixels. "
            "Shown on the top bar at 28 pixels high."
        )

    @classmethod
    def initial_for(cls, brand: Brand, hosts: list[str]) -> dict[str, Any]:
        return {
            "product_name": brand.product_name,
            "primary_color": brand.primary_color,
            "accent_color": brand.accent_color,
            "support_email": brand.support_email,
            "footer_text": brand.footer_text,
            "hosts": "\n".join(hosts),
        }

    def clean_logo(self) -> bytes | None:
        upload: UploadedFile[Any] | None = self.cleaned_data.get("logo")
        if not upload:
            return None
        try:
            # By the declared size first: an oversized upload is refused before it is read.
            check_size(upload.size or 0)
            data: bytes = upload.read(settings.PORTAL_BRAND_LOGO_MAX_BYTES + 1)
            validate_logo(data)
        except LogoRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    def clean_hosts(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["hosts"].splitlines()]
        hosts = [line for line in lines if line]
        errors = []
        for host in hosts:
            try:
                clean_host(host)
            except HostRefused as exc:
                errors.append(str(exc))
        if errors:
            raise forms.ValidationError(errors)
        if len(hosts) > MAX_HOSTS:
            raise forms.ValidationError(f"At most {MAX_HOSTS} custom hosts.")
        return hosts

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("logo") and data.get("remove_logo"):
            self.add_error("remove_logo", "Upload a new logo or remove the logo, not both.")
        return data

    def changes(self) -> dict[str, str]:
        return {field: self.cleaned_data[field] for field in FIELDS}
