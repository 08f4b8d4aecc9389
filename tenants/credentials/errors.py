"""The one exception of the credentials package."""

from __future__ import annotations

from typing import Literal

# Why authentication failed, for logs and metrics; the client sees only ``message``.
Reason = Literal[
    "missing", "malformed", "checksum", "unknown", "wrong_secret", "expired", "revoked"
]


class CredentialError(Exception):
    """A credential that does not authenticate; the proxy answers ``{message, code}`` with it.

    ``status`` and ``code`` follow the upstream's error model (401 ``NOT_AUTHENTICATED``), so
    the proxy and the partner API can return them unchanged.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: Reason,
        code: str = "NOT_AUTHENTICATED",
        status: int = 401,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason: Reason = reason
        self.code = code
        self.status = status
