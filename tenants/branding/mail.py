"""E-mails in a brand: sender name, Reply-To and signature of the partner the mail is about.

Invitations (``tenants.services.people``) and usage alerts (``tenants.alerts.thresholds``) send
through here, so that a tenant's people hear from its partner's product, never from the
operator or another partner. The sending address stays the operator's (``DEFAULT_FROM_EMAIL``,
the one its mail server may send as); the partner's support address becomes the Reply-To.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage

from tenants.branding.brand import Brand


def sender(brand: Brand) -> str | None:
    """The From header: the brand's product name on the operator's address."""
    if brand.is_operator:
        return None  # DEFAULT_FROM_EMAIL as configured
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    # Address quotes the name as needed ("Acme, Inc." has a comma); Django encodes non-ASCII.
    return str(Address(display_name=brand.product_name, addr_spec=address or "portal@localhost"))


def signature(brand: Brand) -> str:
    lines = ["-- ", brand.product_name]
    if brand.support_email:
        lines.append(f"Support: {brand.support_email}")
    if brand.footer_text:
        lines.append(brand.footer_text)
    return "\n".join(lines) + "\n"


def send_branded_mail(brand: Brand, *, subject: str, body: str, to: list[str]) -> None:
    message = EmailMessage(
        subject=subject,
        body=body.rstrip("\n") + "\n\n" + signature(brand),
        from_email=sender(brand),
        to=to,
        reply_to=[brand.support_email] if brand.support_email else None,
    )
    message.send()
