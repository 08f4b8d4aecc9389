"""The upstream error model (UPSTREAM.md §2): `{message, code}` bodies with fixed statuses.

Handlers raise `ApiError`; the dispatcher in `app.py` turns it into a response, so every error
leaves the sandbox with the same shape and headers whatever module raised it.
"""

from __future__ import annotations

from aiohttp import web

# Status -> (code, default message), as in the server's http-codes package. The portal maps
# these codes back to its own errors, so the strings must match the upstream exactly.
STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("NOT_AUTHENTICATED", "Not authenticated"),
    402: ("NO_SUBSCRIPTION", "No subscription"),
    403: ("NOT_AUTHORIZED", "Not authorized"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    408: ("TIMEOUT", "Timeout"),
    409: ("CONFLICT", "Conflict"),
    422: ("UNPROCESSABLE_ENTITY", "Unprocessable entity"),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
    500: ("INTERNAL_SERVER_ERROR", "Something went wrong"),
    501: ("NOT_IMPLEMENTED", "Not implemented"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}

# The real server adds X-Failure-Code only for these two statuses; clients (and the portal's
# retry logic) key on the header to tell "not yours" and "out of allowance" from the rest.
_FAILURE_CODE_STATUSES = frozenset({403, 429})


class ApiError(Exception):
    """An error answered as `{message, code}` with `status`."""

    def __init__(self, status: int, message: str | None = None, code: str | None = None) -> None:
        default_code, default_message = STATUS_CODES.get(status, ("GENERIC_ERROR", "Error"))
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def to_response(self) -> web.Response:
        headers = {"X-Failure-Code": self.code} if self.status in _FAILURE_CODE_STATUSES else {}
        return web.json_response(
            {"message": self.message, "code": self.code}, status=self.status, headers=headers
        )


def bad_request(message: str = "Bad request") -> ApiError:
    return ApiError(400, message)


def not_authenticated(message: str = "Not authenticated") -> ApiError:
    return ApiError(401, message)


def not_authorized(message: str = "Not authorized") -> ApiError:
    return ApiError(403, message)


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, message)


def conflict(message: str = "Unique constraint violation") -> ApiError:
    return ApiError(409, message)


def limits_reached(message: str) -> ApiError:
    return ApiError(429, message, "LIMITS_REACHED")
