"""Keyset (cursor) pagination on the primary key, newest first.

No OFFSET and no COUNT(*): a page is one indexed range scan of ``size + 1`` rows whatever the
table holds, which keeps the tenants list and the audit log fast at 10,000 tenants and millions
of events. The cursor is a primary key the person could have seen anyway; it is only ever used
inside a queryset that the tenancy chokepoint has already scoped, so a forged one reaches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page[T: Model]:
    items: list[T]
    # ``after``: the pk to continue from (older rows); ``before``: the pk to go back from.
    after: int | None
    before: int | None

    @property
    def has_other_pages(self) -> bool:
        return self.after is not None or self.before is not None


def _cursor(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


def keyset_page[T: Model](
    queryset: QuerySet[T], params: Mapping[str, Any], *, size: int = PAGE_SIZE
) -> Page[T]:
    """One page of ``queryset`` in ``-pk`` order, from the ``after``/``before`` cursor in params.

    ``after=<pk>`` lists the rows after that one in list order (smaller pks); ``before=<pk>``
    the rows just before it, so "Newer" pages can walk back without an offset.
    """
    before = _cursor(params, "before")
    after = _cursor(params, "after")
    if before is not None:
        rows = list(queryset.filter(pk__gt=before).order_by("pk")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return Page(
            items=rows,
            after=rows[-1].pk if rows else None,
            before=rows[0].pk if rows and more_newer else None,
        )
    if after is not None:
        queryset = queryset.filter(pk__lt=after)
    rows = list(queryset.order_by("-pk")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return Page(
        items=rows,
        after=rows[-1].pk if rows and more_older else None,
        before=rows[0].pk if rows and after is not None else None,
    )
