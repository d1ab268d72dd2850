"""Keyset pagination for console lists that must stay fast at a million rows.

OFFSET pagination reads and throws away every earlier row; keyset pagination seeks straight to the
page with `WHERE id < last_seen ORDER BY id DESC`. Totals are counted only up to a limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet


@dataclass
class Page:
    items: list
    next_cursor: int | None
    prev_cursor: int | None
    count: int
    count_is_exact: bool
    size: int

    @property
    def count_display(self) -> str:
        return f"{self.count:,}" if self.count_is_exact else f"{self.count:,}+"

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None


def bounded_count(qs: QuerySet, limit: int | None = None) -> tuple[int, bool]:
    """Count at most `limit` rows: (count, exact)."""
    limit = limit or settings.SIYU_COUNT_LIMIT
    n = qs.order_by()[: limit + 1].count()
    return (limit, False) if n > limit else (n, True)


def keyset_page(
    qs: QuerySet, *, after: int | None = None, before: int | None = None, size: int = 50
) -> Page:
    """A page of `qs` in descending primary-key order (newest first)."""
    size = max(1, min(int(size), 500))
    count, exact = bounded_count(qs)
    if before is not None:
        rows = list(qs.filter(pk__gt=before).order_by("pk")[: size + 1])
        has_more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        next_cursor = rows[-1].pk if rows else None
        prev_cursor = rows[0].pk if rows and has_more_newer else None
        return Page(rows, next_cursor, prev_cursor, count, exact, size)
    base = qs.filter(pk__lt=after) if after is not None else qs
    rows = list(base.order_by("-pk")[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    next_cursor = rows[-1].pk if rows and has_more else None
    prev_cursor = rows[0].pk if rows and after is not None else None
    return Page(rows, next_cursor, prev_cursor, count, exact, size)


def page_from_request(request, qs: QuerySet, size: int = 50) -> Page:
    def _int(name: str) -> int | None:
        raw = request.GET.get(name)
        try:
            return int(raw) if raw not in (None, "") else None
        except ValueError:
            return None

    return keyset_page(qs, after=_int("after"), before=_int("before"), size=_int("size") or size)
