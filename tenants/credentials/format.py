"""The portal token format: what a token looks like, how it is made, parsed and hashed.

    ppk_ 0123456789abcdef 0123456789abcdef0123456789abcdef 0a1B2c
    ──── ──────────────── ──────────────────────────────── ──────
    kind public token id  secret (32 base62, ~190 bits)    CRC32 of the rest, base62
         (16 base62)

written without spaces (58 characters). ``ppk_`` marks API and session tokens, ``ppw_`` widget
keys. Like GitHub's tokens, the fixed prefix lets secret scanners (and ``portal.redaction``)
recognise a leaked token, and the checksum catches a mistyped or truncated token before any
lookup. Only a keyed hash of (token id, secret) is stored: HMAC-SHA256 with
``PORTAL_TOKEN_PEPPER``, so a database dump neither reveals nor lets anyone check a token.
"""

from __future__ import annotations

import hmac
import secrets
import zlib
from dataclasses import dataclass

from django.conf import settings

from tenants.credentials.errors import CredentialError

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_SET = frozenset(BASE62)

API_PREFIX = "ppk_"
WIDGET_PREFIX = "ppw_"
PREFIXES = (API_PREFIX, WIDGET_PREFIX)
TOKEN_ID_LENGTH = 16
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = len(API_PREFIX) + TOKEN_ID_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH


@dataclass(frozen=True, slots=True)
class ParsedToken:
    prefix: str
    token_id: str
    secret: str


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    """CRC32 of everything before the checksum, as 6 base62 characters."""
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def new_token_id() -> str:
    return _random_base62(TOKEN_ID_LENGTH)


def new_secret() -> str:
    return _random_base62(SECRET_LENGTH)


def compose(prefix: str, token_id: str, secret: str) -> str:
    """The plaintext token for these parts (shown once, never stored)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown token prefix {prefix!r}")
    body = prefix + token_id + secret
    return body + checksum(body)


def parse(raw: str) -> ParsedToken:
    """Split a presented token into its parts, or raise ``CredentialError`` saying what is wrong.

    Pure string work: nothing is looked up, so garbage is refused at no cost.
    """
    if not raw:
        raise CredentialError("No token was given.", reason="missing")
    prefix = raw[: len(API_PREFIX)]
    if prefix not in PREFIXES:
        raise CredentialError(
            f"This is not a portal token (portal tokens start with {API_PREFIX}).",
            reason="malformed",
        )
    if len(raw) != TOKEN_LENGTH or not _BASE62_SET.issuperset(raw[len(prefix) :]):
        raise CredentialError(
            "The token is malformed: it may have been cut short or copied with extra characters.",
            reason="malformed",
        )
    body, given = raw[:-CHECKSUM_LENGTH], raw[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(checksum(body), given):
        raise CredentialError(
            "The token's checksum does not match: it was mistyped or copied incompletely.",
            reason="checksum",
        )
    token_id = body[len(prefix) : len(prefix) + TOKEN_ID_LENGTH]
    return ParsedToken(
        prefix=prefix, token_id=token_id, secret=body[len(prefix) + TOKEN_ID_LENGTH :]
    )


def hash_secret(token_id: str, secret: str) -> str:
    """The stored form of a secret: HMAC-SHA256 keyed with the pepper, bound to the token id."""
    pepper = settings.PORTAL_TOKEN_PEPPER.encode()
    message = f"portal-token:{token_id}:{secret}".encode()
    # hmac.digest: the one-shot C path (no HMAC object per call; it runs on every proxied call).
    return hmac.digest(pepper, message, "sha256").hex()


def display(prefix: str, last4: str) -> str:
    """What pages show of a token: its prefix and last four characters (``ppk_…0a1B``)."""
    return f"{prefix}…{last4}"
