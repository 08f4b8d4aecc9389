"""Custom host names: what a partner may claim, in the one normal form they are stored and
looked up in (lower case, punycode, no port, no trailing dot)."""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.http.request import split_domain_port, validate_host

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_HOST_LENGTH = 253


class HostRefused(ValueError):
    """A host name a partner may not claim; the message says why, fit to show."""


def operator_hosts() -> list[str]:
    return list(settings.PORTAL_OPERATOR_HOSTS)


def is_operator_host(host: str) -> bool:
    return validate_host(host, operator_hosts())


def normalise_host(value: str) -> str:
    """``value`` as stored and looked up: "Portal.Acme.COM:443." -> "portal.acme.com".

    Raises ``HostRefused`` for anything that is not a plain DNS name.
    """
    raw = value.strip()
    if not raw:
        raise HostRefused("A host name cannot be empty.")
    if "/" in raw or "@" in raw or " " in raw:
        raise HostRefused(f"{raw!r}: give a host name only, like portal.example.com.")
    try:
        ascii_name = raw.encode("idna").decode("ascii")
    except UnicodeError:
        raise HostRefused(f"{raw!r} is not a valid host name.") from None
    domain, _port = split_domain_port(ascii_name)
    if not domain:
        raise HostRefused(f"{raw!r} is not a valid host name.")
    return domain


def clean_host(value: str) -> str:
    """A host a partner may claim, normalised; ``HostRefused`` says why not otherwise."""
    host = normalise_host(value)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise HostRefused(f"{host}: use a host name, not an IP address.")
    if is_operator_host(host):
        raise HostRefused(f"{host} is one of the portal's own host names.")
    labels = host.split(".")
    if (
        len(host) > MAX_HOST_LENGTH
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise HostRefused(
            f"{host} is not a host name a portal can be served on (like portal.example.com)."
        )
    patterns = list(settings.PORTAL_BRAND_HOST_PATTERNS)
    if patterns and not validate_host(host, patterns):
        allowed = ", ".join(f"*{p}" if p.startswith(".") else p for p in patterns)
        raise HostRefused(f"{host} is not allowed here; custom hosts must be under {allowed}.")
    return host
