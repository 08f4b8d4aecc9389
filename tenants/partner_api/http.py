"""Request parsing and responses in the upstream's shapes (UPSTREAM.md §1, §2, §9)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse

from portal.upstream import UpstreamError, UpstreamTimeout
from tenants.credentials import CredentialError
from tenants.services import AccountError
from tenants.services.errors import describe_account_error


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"message": message, "code": code}, status=status)
    if code in {"NOT_AUTHORIZED", "LIMITS_REACHED"}:
        response["X-Failure-Code"] = code
    return response


def response_for(exc: Exception) -> JsonResponse:
    """The upstream-shaped error for anything a partner API call can raise."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, CredentialError):
        return error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, AccountError):
        return error_response(*describe_account_error(exc))
    if isinstance(exc, UpstreamError):
        status = 504 if isinstance(exc, UpstreamTimeout) else 502
        return error_response(
            status, "GATEWAY_TIMEOUT" if status == 504 else "BAD_GATEWAY", exc.message
        )
    raise exc


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The POST body as a JSON object, refused as the upstream refuses it."""
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise bad_request("Content-Type must be application/json")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(413, "CONTENT_TOO_LARGE", "The request body is too large") from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request('"value" must be of type object')
    return data


def check_keys(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = [key for key in body if key not in allowed]
    if unknown:
        # Joi's wording, which integrations may already match on (UPSTREAM.md §2).
        raise bad_request("; ".join(f'"{key}" is not allowed' for key in unknown))


def string_field(body: Mapping[str, Any], key: str, *, max_length: int = 10_000) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f'"{key}" must be a string')
    if len(value) > max_length:
        raise bad_request(
            f'"{key}" length must be less than or equal to {max_length} characters long'
        )
    return value


def object_field(body: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f'"{key}" must be of type object')
    return value


def epoch_ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None
