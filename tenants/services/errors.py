"""The one exception services raise, and the input checks they share."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from portal.upstream import UpstreamError, UpstreamTimeout
from tenants.models import Account


class AccountError(Exception):
    """A state change that cannot be made; ``message`` is fit to show to the person asking.

    ``code`` follows the upstream's codes (``BAD_REQUEST``, ``CONFLICT``, ``NOT_FOUND``,
    ``NOT_AUTHORIZED``, ``BAD_GATEWAY``, ``GATEWAY_TIMEOUT``...) so API views can pass it on.
    """

    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def clean_timezone(value: str) -> str:
    if value not in _time_zones():
        raise AccountError(f"{value!r} is not a known time zone (for example Europe/London).")
    return value


def clean_name(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 200:
        raise AccountError("A name is required (at most 200 characters).")
    return name


def clean_image(value: str) -> str:
    """An image is a link to a picture (http or https), as the upstream stores it."""
    image = value.strip()
    if not image:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(image)
    except ValidationError:
        raise AccountError(f"{value!r} is not a valid image URL.") from None
    return image


def clean_email(value: str, *, required: bool = False) -> str:
    email = value.strip().lower()
    if not email:
        if required:
            raise AccountError("An e-mail address is required.")
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise AccountError(f"{value!r} is not a valid e-mail address.") from None
    return email


def clean_limits(value: Any) -> dict[str, Any]:
    """A JSON object whose values are numbers of at least 0, or objects of them."""
    if not isinstance(value, dict):
        raise AccountError("limits must be an object.")
    for key, item in value.items():
        if isinstance(item, dict):
            clean_limits(item)
        elif isinstance(item, bool) or not isinstance(item, int | float) or item < 0:
            raise AccountError(f"The limit {key!r} must be a number of at least 0.")
    return value


def clean_meta(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AccountError("meta must be an object.")
    return value


def merge_meta(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    # A shallow merge, as the upstream does; a null value removes the key.
    merged = {**current, **patch}
    return {key: item for key, item in merged.items() if item is not None}


def require_open(account: Account) -> None:
    if account.status == Account.Status.CLOSED:
        raise AccountError(f"{account.name} is closed.", "CONFLICT")


# Status of the codes services raise themselves; any other code on an ``AccountError`` is one the
# upstream sent (``tenants.services.upstream.call_upstream``), which is a gateway failure here.
_LOCAL_STATUS_BY_CODE = {
    "BAD_REQUEST": 400,
    "NOT_AUTHORIZED": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "UNPROCESSABLE_ENTITY": 422,
    "TOO_MANY_REQUESTS": 429,
    "LIMITS_REACHED": 429,
}
_TIMEOUT_CODES = {"GATEWAY_TIMEOUT", "TIMEOUT"}
# Upstream answers about the caller's input: passed on with their own status and code.
_UPSTREAM_CLIENT_STATUSES = {400, 409, 422, 429}


def describe_account_error(exc: AccountError) -> tuple[int, str, str]:
    """``(status, code, message)`` of an ``AccountError`` for an HTTP API (management, partner)."""
    cause = exc.__cause__
    if isinstance(cause, UpstreamTimeout) or exc.code in _TIMEOUT_CODES:
        return 504, "GATEWAY_TIMEOUT", exc.message
    if isinstance(cause, UpstreamError):
        if cause.status in _UPSTREAM_CLIENT_STATUSES:
            return cause.status, exc.code, exc.message
        return 502, "BAD_GATEWAY", exc.message
    if exc.code in _LOCAL_STATUS_BY_CODE:
        return _LOCAL_STATUS_BY_CODE[exc.code], exc.code, exc.message
    # An upstream code re-raised without its cause (a close that failed half-way).
    return 502, "BAD_GATEWAY", exc.message
