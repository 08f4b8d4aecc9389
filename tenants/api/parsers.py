"""The request bodies the API reads: JSON of bounded size, and multipart (a partner's logo)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser

# Far above any real request (an account's meta and limits). DRF's JSONParser reads the raw
# stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, so the bound is enforced here.
MAX_BODY_BYTES = 64 * 1024
TOO_BIG = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def declared_length(parser_context: Mapping[str, Any] | None) -> int | None:
    """The request's Content-Length, if it sent a usable one."""
    request = (parser_context or {}).get("request")
    declared = str(request.META.get("CONTENT_LENGTH", "")) if request is not None else ""
    return int(declared) if declared.isdigit() else None


class BoundedJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        declared = declared_length(parser_context)
        if declared is not None and declared > MAX_BODY_BYTES:
            raise ParseError(TOO_BIG)
        body = stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise ParseError(TOO_BIG)
        try:
            return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise ParseError("The request body is not UTF-8.") from None
        except ValueError as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}.") from None


class BoundedMultiPartParser(MultiPartParser):
    """Multipart forms for uploads (a brand's logo), refused by their declared size first.

    The limit is the logo's byte cap plus room for the other fields; the file itself is
    checked against its own cap by the service.
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.PORTAL_BRAND_LOGO_MAX_BYTES + MAX_BODY_BYTES
        declared = declared_length(parser_context)
        if declared is None:
            raise ParseError("A multipart request needs a Content-Length.")
        if declared > limit:
            raise ParseError(f"The request body is larger than {limit // 1024} KiB.")
        return super().parse(stream, media_type, parser_context)
