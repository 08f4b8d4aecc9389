"""The ``X-Portal-Signature`` header of webhook posts, and how a receiver checks it.

    X-Portal-Signature: t=1764000000,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

To verify: split the header on ``,`` into ``t`` and ``v1``; compute the HMAC-SHA256 of the
bytes ``f"{t}.".encode() + raw_body`` with the endpoint's secret (the whole ``whsec_…``
string, UTF-8) as key; compare it to ``v1`` in constant time; and refuse a ``t`` more than
five minutes from your clock (a replayed post). ``verify`` below does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Portal-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header_value(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={signature(secret, moment, body)}"


def parse(header: str) -> tuple[int, list[str]] | None:
    """(timestamp, v1 signatures) of a header, or None when it has no usable timestamp."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    return (timestamp, signatures) if timestamp is not None else None


def within_window(
    timestamp: int, *, now: float | None = None, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """Whether a signed timestamp is recent enough (either side of the clock) to accept."""
    current = time.time() if now is None else now
    return abs(current - timestamp) <= tolerance


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its timestamp is in the window."""
    parsed = parse(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if not within_window(timestamp, now=now, tolerance=tolerance):
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
