"""Cursor pages ordered by id: stable under inserts, and as fast on page 200 as on page 1.

The cursor holds the last id seen, so a page is one indexed range scan (``id > n ... LIMIT``)
whatever the table's size; there is no count and no offset.
"""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

MAX_TAKE = 100


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 50
    max_page_size = MAX_TAKE
    page_size_query_param = "take"
    page_size_query_description = f"Items per page, 1 to {MAX_TAKE} (default 50)."
    cursor_query_description = "The `next` or `previous` link's cursor; omit for the first page."

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param or "take")
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TAKE:
            raise ValidationError({"take": f"Must be a whole number from 1 to {MAX_TAKE}."})
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor: Cursor | None = super().decode_cursor(request)
        except NotFound:  # DRF answers a bad cursor with 404; it is a bad request
            cursor = None
        else:
            # Every link this paginator makes holds a position (the ids are unique), and it goes
            # into ``id > position``: anything but digits would be a 500.
            if cursor is None or str(cursor.position or "").isdigit():
                return cursor
        raise ValidationError({"cursor": "Not a cursor of this list; use a `next` link."})


class NewestFirstCursorPagination(IdCursorPagination):
    """For the audit log: the latest events first."""

    ordering = "-id"
