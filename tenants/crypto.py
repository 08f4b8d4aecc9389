"""Encryption at rest for upstream secrets (Fernet, AES-128-CBC + HMAC-SHA256).

``PORTAL_ENCRYPTION_KEYS`` lists keys newest first: the first encrypts, all decrypt, so a key
can be rotated by prepending a new one and re-saving (``rotate_upstream_secret``).
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored ciphertext does not decrypt with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.PORTAL_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the upstream secret cannot be decrypted with PORTAL_ENCRYPTION_KEYS"
        ) from None


def mask_secret(secret: str) -> str:
    """What a page may show of a secret: its kind and last four characters (``sk-…a1b2``)."""
    prefix = secret.split("-", 1)[0] + "-" if "-" in secret[:6] else ""
    return f"{prefix}…{secret[-4:]}" if len(secret) >= 8 else "…"
