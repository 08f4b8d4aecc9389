"""OpenAPI pieces: the documented error responses and the hook that keeps the schema to this API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from tenants.api.errors import ErrorSerializer

PREFIX = "/api/v1/portal/"

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (`BAD_REQUEST`)."),
    401: OpenApiResponse(ErrorSerializer, description="Not logged in (`NOT_AUTHENTICATED`)."),
    403: OpenApiResponse(
        ErrorSerializer, description="Visible, but not your role (`NOT_AUTHORIZED`)."
    ),
    404: OpenApiResponse(
        ErrorSerializer, description="No such object, or not yours (`NOT_FOUND`)."
    ),
}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="Conflicts with the current state.")}
UPSTREAM_ERRORS = {
    **CONFLICT,
    502: OpenApiResponse(ErrorSerializer, description="The upstream failed (`BAD_GATEWAY`)."),
    504: OpenApiResponse(
        ErrorSerializer, description="The upstream timed out (`GATEWAY_TIMEOUT`)."
    ),
}


def only_management_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Spectacular preprocessing hook: other DRF views of the project are not this API."""
    return [endpoint for endpoint in endpoints if str(endpoint[0]).startswith(PREFIX)]
