"""The seed-001 protocol: what a widget sends, and every line and error it gets back.

Request: ``POST`` JSON ``{"sessionId", "message"}``; ``sessionId`` matches
``^[A-Za-z0-9._:-]{1,128}$``. Answer: ``application/x-ndjson``, one object per line::

    {"type":"start","conversationId":"…"}
    {"type":"token","token":"We"}
    {"type":"done","message":"We are …","conversationId":"…"}
    {"type":"error","error":"…"}           (instead of done, when the stream broke)

A refusal before the stream is ``{"error": "…"}`` with its status, and nothing else ever: this
module is the only place those bodies are made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

# The seed's ^[A-Za-z0-9._:-]{1,128}$, used with fullmatch: "$" would also match before a "\n".
SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
NDJSON = b"application/x-ndjson"
_FIELDS = frozenset({"sessionId", "message"})

# The seed's own phrases; the portal says why after them.
INVALID_PAYLOAD = "Invalid request payload"
UNAUTHORIZED = "Unauthorized"
TOO_MANY_REQUESTS = "Too many requests"
INTERNAL_ERROR = "Internal server error"

Headers = list[tuple[bytes, bytes]]


@dataclass
class WidgetError(Exception):
    """A refusal before the stream: ``{"error": message}`` with ``status`` and ``headers``."""

    status: int
    message: str
    headers: Headers = field(default_factory=list)

    def body(self) -> bytes:
        return error_body(self.message)


def error_body(message: str) -> bytes:
    return _dumps({"error": message})


def invalid(reason: str) -> WidgetError:
    return WidgetError(400, f"{INVALID_PAYLOAD}: {reason}")


def unauthorized(reason: str) -> WidgetError:
    return WidgetError(401, f"{UNAUTHORIZED}: {reason}")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    session_id: str
    message: str


def max_body_bytes() -> int:
    # A message of the longest allowed length, every character escaped, fits with room.
    return int(settings.WIDGET_MAX_MESSAGE_CHARS) * 4 + 1024


def parse_chat_request(body: bytes, content_type: str) -> ChatRequest:
    """The request's ``sessionId`` and ``message``, or a 400 ``WidgetError`` saying why."""
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise invalid("send the body as Content-Type: application/json")
    try:
        value = json.loads(body)
    except ValueError:
        raise invalid("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise invalid('the body must be a JSON object {"sessionId", "message"}')
    unknown = sorted(set(value) - _FIELDS)
    if unknown:
        raise invalid(f"unknown field {unknown[0]!r} (only sessionId and message are accepted)")
    session_id = value.get("sessionId")
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise invalid(
            "sessionId must be 1 to 128 letters, digits, '.', '_', ':' or '-' "
            "(^[A-Za-z0-9._:-]{1,128}$)"
        )
    message = value.get("message")
    if not isinstance(message, str) or not message.strip():
        raise invalid("message must be a non-empty string")
    longest = int(settings.WIDGET_MAX_MESSAGE_CHARS)
    if len(message) > longest:
        raise invalid(f"message is longer than {longest} characters")
    return ChatRequest(session_id=session_id, message=message)


# -- the stream's lines ------------------------------------------------------------------------


def start_line(conversation_id: str) -> bytes:
    return _line({"type": "start", "conversationId": conversation_id})


def token_line(token: str) -> bytes:
    return _line({"type": "token", "token": token})


def done_line(message: str, conversation_id: str) -> bytes:
    return _line({"type": "done", "message": message, "conversationId": conversation_id})


def error_line(error: str) -> bytes:
    return _line({"type": "error", "error": error})


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _line(value: dict[str, Any]) -> bytes:
    # No blank lines ever: some JSONL readers throw on them (UPSTREAM.md §10).
    return _dumps(value) + b"\n"


def header_list(pairs: Iterable[tuple[str, str]]) -> Headers:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]
