"""A partner's brand: setting it (fields, custom hosts, logo) and going back to the operator's.

One function per change, for the Branding page, the management API and the CLI alike: every
input is checked here, the change is one transaction with one audit event, and once it commits
every process stops using its cached brands (``tenants.branding.forget_brands``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction

from tenants import audit
from tenants.audit import RequestContext
from tenants.branding import forget_brands
from tenants.branding.brand import COLOR
from tenants.branding.hosts import HostRefused, clean_host
from tenants.branding.logo import Logo, LogoRefused, validate_logo
from tenants.branding.lookup import BRAND_FIELDS
from tenants.models import Account, Brand, BrandHost, BrandLogo
from tenants.services.authority import check_may_administer
from tenants.services.errors import AccountError, clean_email, require_open

if TYPE_CHECKING:
    from tenants.audit import Actor

FIELDS = BRAND_FIELDS
MAX_HOSTS = 10
PRODUCT_NAME_MAX = 60
FOOTER_MAX = 300


class HostTaken(AccountError):
    """A host another partner holds (pages show it beside the hosts field)."""

    def __init__(self, host: str) -> None:
        # Never whose: that would tell one partner about another's hosts.
        super().__init__(f"{host} is already used by another partner.", "CONFLICT")


def _clean_line(value: Any, label: str, maximum: int, *, required: bool) -> str:
    if not isinstance(value, str):
        raise AccountError(f"The {label} must be text.")
    text = value.strip()
    if required and not text:
        raise AccountError(f"The {label} is required.")
    if len(text) > maximum:
        raise AccountError(f"The {label} is at most {maximum} characters.")
    if not text.isprintable():
        raise AccountError(f"The {label} must be one line of plain text.")
    return text


def clean_color(value: Any, label: str) -> str:
    color = value.strip().lower() if isinstance(value, str) else ""
    if not COLOR.fullmatch(color):
        raise AccountError(f"The {label} must be a colour written #rrggbb, like #2b59c3.")
    return color


def clean_brand_fields(changes: Mapping[str, Any]) -> dict[str, str]:
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise AccountError(f"Unknown brand fields: {', '.join(unknown)}.")
    cleaners = {
        "product_name": lambda v: _clean_line(v, "product name", PRODUCT_NAME_MAX, required=True),
        "primary_color": lambda v: clean_color(v, "primary colour"),
        "accent_color": lambda v: clean_color(v, "accent colour"),
        "support_email": lambda v: clean_email(v if isinstance(v, str) else ""),
        "footer_text": lambda v: _clean_line(v, "footer text", FOOTER_MAX, required=False),
    }
    return {field: cleaners[field](value) for field, value in changes.items()}


def clean_hosts(hosts: Sequence[str]) -> list[str]:
    """Normalised, in the order given, without repeats; the first is used in e-mailed links."""
    cleaned: list[str] = []
    for value in hosts:
        if not isinstance(value, str):
            raise AccountError("Host names must be text.")
        if not value.strip():
            continue
        try:
            host = clean_host(value)
        except HostRefused as exc:
            raise AccountError(str(exc)) from None
        if host not in cleaned:
            cleaned.append(host)
    if len(cleaned) > MAX_HOSTS:
        raise AccountError(f"A partner has at most {MAX_HOSTS} custom hosts.")
    return cleaned


def _check_partner(partner: Account, actor: Actor) -> None:
    if not partner.is_partner:
        raise AccountError(
            f"{partner.name} is a tenant: it shows its partner's brand. Branding is set on "
            "partner accounts.",
            "BAD_REQUEST",
        )
    require_open(partner)
    check_may_administer(actor, partner, "the brand")


def _state(brand: Brand | None) -> dict[str, Any]:
    """What the audit log compares before and after a change."""
    if brand is None or brand.pk is None:
        return {}
    logo = BrandLogo.objects.filter(brand=brand).values_list("sha256", flat=True).first()
    return {
        **{field: getattr(brand, field) for field in FIELDS},
        "hosts": list(brand.hosts.values_list("host", flat=True)),
        "logo": logo[:16] if logo else None,
    }


def _replace_hosts(brand: Brand, hosts: list[str]) -> None:
    taken = (
        BrandHost.objects.filter(host__in=hosts)
        .exclude(brand=brand)
        .values_list("host", flat=True)
        .first()
    )
    if taken is not None:
        raise HostTaken(taken)
    brand.hosts.exclude(host__in=hosts).delete()
    current = {row.host: row for row in brand.hosts.all()}
    for position, host in enumerate(hosts):
        row = current.get(host)
        if row is None:
            try:
                with transaction.atomic():
                    BrandHost.objects.create(brand=brand, host=host, position=position)
            except IntegrityError:  # claimed by another partner a moment ago
                raise HostTaken(host) from None
        elif row.position != position:
            row.position = position
            row.save(update_fields=["position"])


def _locked_brand(partner: Account) -> tuple[Brand, bool]:
    """The partner's brand row, locked for this transaction; made (and ``True``) if missing.

    A new brand starts as what the partner showed until then: the operator's brand.
    """
    brand = Brand.objects.select_for_update().filter(partner=partner).first()
    if brand is not None:
        return brand, False
    try:
        with transaction.atomic():
            return (
                Brand.objects.create(
                    partner=partner,
                    product_name=settings.PORTAL_BRAND_NAME,
                    primary_color=settings.PORTAL_BRAND_PRIMARY_COLOR,
                    accent_color=settings.PORTAL_BRAND_ACCENT_COLOR,
                    support_email=settings.PORTAL_BRAND_SUPPORT_EMAIL,
                    footer_text=settings.PORTAL_BRAND_FOOTER_TEXT,
                ),
                True,
            )
    except IntegrityError:  # a concurrent first change made it a moment ago
        return Brand.objects.select_for_update().get(partner=partner), False


def _logo_of(data: bytes | None) -> Logo | None:
    if data is None:
        return None
    try:
        return validate_logo(data)
    except LogoRefused as exc:
        raise AccountError(str(exc)) from None


def update_brand(
    partner: Account,
    *,
    changes: Mapping[str, Any] | None = None,
    hosts: Sequence[str] | None = None,
    logo: bytes | None = None,
    remove_logo: bool = False,
    actor: Actor,
    context: RequestContext | None = None,
) -> Brand:
    """Set some of the partner's brand: fields, the list of hosts (replaced whole), the logo.

    The first change makes the brand, starting from the operator's (what the partner showed
    until then). Everything is checked before anything is written, and written together or not
    at all: a refused logo or a host another partner holds leaves the brand as it was.
    """
    _check_partner(partner, actor)
    cleaned = clean_brand_fields(changes or {})
    new_hosts = clean_hosts(hosts) if hosts is not None else None
    if logo is not None and remove_logo:
        raise AccountError("Upload a new logo or remove the logo, not both.")
    new_logo = _logo_of(logo)
    with transaction.atomic():
        brand, created = _locked_brand(partner)
        before = {} if created else _state(brand)
        for field, value in cleaned.items():
            setattr(brand, field, value)
        brand.save(update_fields=[*cleaned, "updated_at"])
        if new_hosts is not None:
            _replace_hosts(brand, new_hosts)
        if new_logo is not None:
            BrandLogo.objects.update_or_create(
                brand=brand,
                defaults={
                    "data": new_logo.data,
                    "content_type": new_logo.content_type,
                    "sha256": new_logo.sha256,
                    "width": new_logo.width,
                    "height": new_logo.height,
                },
            )
        elif remove_logo:
            BrandLogo.objects.filter(brand=brand).delete()
        changed = audit.diff(before, _state(brand))
        if created or changed:
            audit.record(
                "brand.created" if created else "brand.updated",
                actor=actor,
                account=partner,
                target_type="brand",
                target_id=partner.public_id,
                changes=changed,
                context=context,
            )
            transaction.on_commit(forget_brands)
    return brand


def reset_brand(partner: Account, *, actor: Actor, context: RequestContext | None = None) -> None:
    """Drop the partner's brand (its hosts and logo too): its pages show the operator's again."""
    _check_partner(partner, actor)
    with transaction.atomic():
        brand = Brand.objects.select_for_update().filter(partner=partner).first()
        if brand is None:
            return
        before = _state(brand)
        brand.delete()
        audit.record(
            "brand.reset",
            actor=actor,
            account=partner,
            target_type="brand",
            target_id=partner.public_id,
            changes=audit.diff(before, {}),
            context=context,
        )
        transaction.on_commit(forget_brands)
