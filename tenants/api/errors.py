"""Every error of the management API as ``{"message", "code"}``, with the status that fits.

Installed as DRF's ``EXCEPTION_HANDLER`` (``portal/settings.py``); ``not_found`` answers paths
under the API prefix that match no endpoint, so even a typo gets the same shape.

The codes are the upstream's (UPSTREAM.md §2), so one client can handle both APIs. Failures of
the upstream reach a caller of this API as 502 (or 504 for a timeout): the portal is the
gateway, and an upstream 401 means the partner's stored secret is wrong, not that the caller is
logged out. Upstream refusals of the caller's own input (400, 409, 422, 429) keep their status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from portal.upstream import UpstreamError, UpstreamTimeout
from tenants.services import AccountError
from tenants.services.errors import describe_account_error

logger = logging.getLogger("tenants.api")

_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    403: "NOT_AUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    504: "GATEWAY_TIMEOUT",
}
# What a 401 tells the client to do (RFC 9110 wants the header on every 401).
AUTHENTICATE_HEADER = 'Bearer realm="portal"'


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every error response (documented in the OpenAPI schema)."""

    message = serializers.CharField(help_text="What went wrong, in words fit for a person.")
    code = serializers.CharField(help_text="For programs: BAD_REQUEST, NOT_FOUND, CONFLICT...")


def describe_validation(detail: Any, field: str = "") -> list[str]:
    """``"name: This field is required."``-style lines for a DRF validation ``detail``."""
    if isinstance(detail, Mapping):
        lines: list[str] = []
        for key, item in detail.items():
            name = "" if key in ("non_field_errors", "detail") else str(key)
            lines += describe_validation(
                item, f"{field}.{name}" if field and name else field or name
            )
        return lines
    if isinstance(detail, Sequence) and not isinstance(detail, str):
        return [line for item in detail for line in describe_validation(item, field)]
    return [f"{field}: {detail}" if field else str(detail)]


def describe(exc: Exception) -> tuple[int, str, str]:
    """``(status, code, message)`` for an exception raised while answering an API request."""
    if isinstance(exc, AccountError):
        return describe_account_error(exc)
    if isinstance(exc, UpstreamError):
        status = 504 if isinstance(exc, UpstreamTimeout) else 502
        return status, _CODE_BY_STATUS[status], exc.message
    if isinstance(exc, exceptions.ValidationError):
        lines = describe_validation(exc.detail) or ["The request is not valid."]
        return 400, "BAD_REQUEST", "; ".join(lines)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # DRF turns these into 403 when the first authenticator sends no WWW-Authenticate;
        # the API says 401 whatever the authenticator list.
        return 401, "NOT_AUTHENTICATED", str(exc.detail)
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "NOT_AUTHORIZED", str(exc) or "You may not do this."
    if isinstance(exc, exceptions.PermissionDenied):
        return 403, "NOT_AUTHORIZED", str(exc.detail)
    if isinstance(exc, Http404):
        return 404, "NOT_FOUND", str(exc) or "Not found."
    if isinstance(exc, exceptions.APIException):
        status = exc.status_code
        return status, _CODE_BY_STATUS.get(status, f"ERROR_{status}"), str(exc.detail)
    return 500, "INTERNAL_SERVER_ERROR", "Something went wrong on our side; it has been logged."


def handle_exception(exc: Exception, context: Mapping[str, Any]) -> Response:
    status, code, message = describe(exc)
    if status >= 500 and not isinstance(exc, AccountError | UpstreamError):
        logger.error("Unhandled error in %s", context.get("view"), exc_info=exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = AUTHENTICATE_HEADER
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait is not None:
        headers["Retry-After"] = str(int(wait))
    set_rollback()
    return Response({"message": message, "code": code}, status=status, headers=headers)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under the API prefix that is no endpoint (paths end with a slash)."""
    message = f"No endpoint {request.path}."
    if not request.path.endswith("/"):
        message += " Paths of this API end with a slash."
    return JsonResponse({"message": message, "code": "NOT_FOUND"}, status=404)
