"""The proxy's own refusals, in the upstream's error shape (UPSTREAM.md §2).

Every refusal is a ``ProxyError`` raised anywhere on the hot path and answered once by
``app.py`` as ``{"message", "code"}`` with the matching status. The upstream's own error
answers never become a ``ProxyError``: they are relayed unchanged (forward.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


class ProxyError(Exception):
    """A refusal: ``status`` for HTTP, ``code`` for programs, ``message`` for people.

    ``extra`` adds fields after those two (a limit refusal's ``limit`` details).
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        headers: Iterable[tuple[bytes, bytes]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = tuple(headers)
        self.extra = extra

    def body(self) -> bytes:
        return encode_error(self.message, self.code, self.extra)


def encode_error(message: str, code: str, extra: Mapping[str, Any] | None = None) -> bytes:
    return json.dumps(
        {"message": message, "code": code, **(extra or {})},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


# The upstream's default messages (UPSTREAM.md §2) where the portal has nothing better to say,
# so that the SDKs' error handling sees what it would see from the upstream itself.


def bad_request(message: str = "Bad request") -> ProxyError:
    return ProxyError(400, message, "BAD_REQUEST")


def not_authenticated(message: str = "Not authenticated") -> ProxyError:
    return ProxyError(401, message, "NOT_AUTHENTICATED")


def not_authorized(message: str = "Not authorized") -> ProxyError:
    # The upstream adds the header on 403s; SDKs that ignore bodies still see the reason.
    return ProxyError(
        403, message, "NOT_AUTHORIZED", headers=[(b"x-failure-code", b"NOT_AUTHORIZED")]
    )


def not_found(message: str = "Not found") -> ProxyError:
    return ProxyError(404, message, "NOT_FOUND")


def method_not_allowed(allowed: str = "GET, POST") -> ProxyError:
    return ProxyError(
        405, "Method not allowed", "METHOD_NOT_ALLOWED", headers=[(b"allow", allowed.encode())]
    )


def conflict(message: str) -> ProxyError:
    return ProxyError(409, message, "CONFLICT")


def too_large(limit: int) -> ProxyError:
    return ProxyError(413, f"The request body is larger than {limit} bytes", "CONTENT_TOO_LARGE")


def limits_unavailable() -> ProxyError:
    # Admission could not reach its counters: refused rather than let through unchecked.
    return ProxyError(
        503,
        "Usage limits cannot be checked right now; retry shortly",
        "SERVICE_UNAVAILABLE",
        headers=[(b"retry-after", b"1")],
    )
