"""The upstream's error model (UPSTREAM.md §2) as exceptions.

Every exception carries ``message``, ``code`` and ``status`` so that views can answer with the
portal's own ``{"message", "code"}`` body without knowing which failure happened:

- ``UpstreamHTTPError``: the upstream answered with an error (``status`` is the upstream's),
  including a 200 whose JSON body is exactly ``{code, message}`` (the slow-call quirk, §2).
- ``UpstreamUnavailable``: it could not be reached or dropped the connection: 502.
- ``UpstreamTimeout``: it did not answer in time: 504.
- ``UpstreamStreamError``: a stream broke after it started (an ``error`` event, a reset,
  a read timeout): 502, or 504 for silence.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from portal.redaction import redact

# Status for a code that arrives under a 200 (the slow-call quirk): the code is the truth.
_STATUS_BY_CODE = {
    "BAD_REQUEST": 400,
    "NOT_AUTHENTICATED": 401,
    "NO_SUBSCRIPTION": 402,
    "NOT_AUTHORIZED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "TIMEOUT": 408,
    "CONFLICT": 409,
    "UNPROCESSABLE_ENTITY": 422,
    "TOO_MANY_REQUESTS": 429,
    "LIMITS_REACHED": 429,
    "CONTENT_MODERATION": 400,
    "NOT_IMPLEMENTED": 501,
    "BAD_GATEWAY": 502,
    "SERVICE_UNAVAILABLE": 503,
    "GATEWAY_TIMEOUT": 504,
}
# Code for an error response whose body is not the upstream's JSON (a proxy's HTML page).
_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    402: "NO_SUBSCRIPTION",
    403: "NOT_AUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "TIMEOUT",
    409: "CONFLICT",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    501: "NOT_IMPLEMENTED",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
# Upstream messages are shown to users; keep them short whatever the upstream sends.
_MAX_MESSAGE = 500


class UpstreamError(Exception):
    """Base class: ``message`` for people, ``code`` for programs, ``status`` for HTTP."""

    default_status = 502
    default_code = "BAD_GATEWAY"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        self.message = redact(message)[:_MAX_MESSAGE]
        self.code = code or self.default_code
        self.status = status or self.default_status
        super().__init__(self.message)

    def as_body(self) -> dict[str, str]:
        """The ``{"message", "code"}`` body the portal answers with."""
        return {"message": self.message, "code": self.code}


class UpstreamHTTPError(UpstreamError):
    """The upstream answered, with an error. ``status`` is the upstream's own status.

    Callers decide how to surface it: a 401 here means the partner's stored secret (or the
    run-as target) is wrong, not that the portal's user is logged out.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int,
        retry_after: float | None = None,
    ):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    default_status = 502
    default_code = "BAD_GATEWAY"


class UpstreamTimeout(UpstreamError):
    default_status = 504
    default_code = "GATEWAY_TIMEOUT"


class UpstreamStreamError(UpstreamError):
    """A stream failed after it started. ``event`` is the upstream's ``error`` event, if any."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        event: Mapping[str, Any] | None = None,
    ):
        super().__init__(message, code=code, status=status)
        self.event = event


def is_error_body(data: Any) -> bool:
    """True for a body that is exactly ``{"code": str, "message": str}``.

    Exactly: a real record may well have a ``code`` or a ``message`` field among others.
    """
    return (
        isinstance(data, dict)
        and set(data) == {"code", "message"}
        and isinstance(data["code"], str)
        and isinstance(data["message"], str)
    )


def status_for_code(code: str) -> int:
    return _STATUS_BY_CODE.get(code, 502)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(
    *, status: int, body: bytes, headers: Mapping[str, str], host: str
) -> UpstreamHTTPError:
    """Turn an upstream error response into ``UpstreamHTTPError``.

    Falls back the way the official SDKs do (§10) when the body is not the upstream's JSON,
    but with a code from the status table rather than ``ERROR_<status>``, so that callers can
    match on the same codes either way.
    """
    retry_after = parse_retry_after(headers.get("Retry-After"))
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        code = data.get("code")
        return UpstreamHTTPError(
            data["message"],
            code=code if isinstance(code, str) and code else _fallback_code(status, headers),
            status=status,
            retry_after=retry_after,
        )
    return UpstreamHTTPError(
        f"The upstream at {host} answered HTTP {status}",
        code=_fallback_code(status, headers),
        status=status,
        retry_after=retry_after,
    )


def error_from_body(data: Mapping[str, str], *, status: int | None = None) -> UpstreamHTTPError:
    """An error delivered as a ``{code, message}`` body under a 2xx (UPSTREAM.md §2)."""
    code = data["code"]
    return UpstreamHTTPError(data["message"], code=code, status=status or status_for_code(code))


def _fallback_code(status: int, headers: Mapping[str, str]) -> str:
    # 403 and 429 carry the precise code in a header too (§2), e.g. LIMITS_REACHED.
    return headers.get("X-Failure-Code") or _CODE_BY_STATUS.get(status, f"ERROR_{status}")
