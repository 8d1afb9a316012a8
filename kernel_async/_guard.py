"""Servers that would keep a walk going forever, stopped; odd pages, counted.

A pure check of each page a walk takes, in walk order. It ends the walk with a
:class:`~kernel_async.PaginationError` where following the server would never end or would
deliver nothing: empty pages that keep saying there is more, the walk's first page served
again at later offsets (a server, proxy or cache that ignores ``offset``), the same page for
every offset. What it can work around (a middle page that lost its ``X-Has-More``) it counts,
or raises in strict mode.
"""

from __future__ import annotations

from typing import Final

from kernel_async._errors import PaginationError
from kernel_async._models import Invocation, Page

__all__ = ["MAX_EMPTY_PAGES", "MAX_REPEATED_PAGES", "ServerGuard"]

MAX_EMPTY_PAGES: Final = 3
"""Empty pages in a row that say ``X-Has-More: true`` before the walk stops with a
:class:`~kernel_async.PaginationError` (a server that would otherwise be walked forever)."""

MAX_REPEATED_PAGES: Final = 16
"""Pages in a row with the very same ids as the page before, at later offsets, before the
walk stops with a PaginationError (a server or cache that serves one page for any offset)."""


_FIRST_PAGE_MIN: Final = 5
"""A first page this small can come round again by chance under churn; smaller ones are left
to the same-page guard."""


def _same_ids(a: tuple[Invocation, ...], b: tuple[Invocation, ...]) -> bool:
    """Whether two pages hold the same invocations in the same order (cheap when not)."""
    return (
        len(a) == len(b) > 0
        and a[0].id == b[0].id
        and a[-1].id == b[-1].id
        and all(x.id == y.id for x, y in zip(a, b, strict=True))
    )


class ServerGuard:
    """Checks each page a walk takes (see the module docs).

    Args:
        strict: Raise a PaginationError for anomalies instead of counting them.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self._strict = strict
        self._empty_run = 0
        self._repeated_run = 0
        self._previous_items: tuple[Invocation, ...] = ()
        self._first_items: tuple[Invocation, ...] | None = None
        self._first_end = 0  # the offset just past the first page
        self._first_repeats = 0  # pages in a row that were the first page again, further on

    def check(self, page: Page, cursor_id: str | None = None) -> int:
        """Check the next page; returns how many anomalies it had (0 or 1).

        ``cursor_id`` is the last invocation the walk delivered: a page that holds it is not
        a server ignoring ``offset``, however much it looks like the first page (inserts at
        the head can push the first page down to where the walk is).

        Raises:
            PaginationError: the walk cannot go on (or, in strict mode, an anomaly).
        """
        anomalies = 0
        if page.anomalies:
            anomalies = 1
            if self._strict:
                raise PaginationError(
                    f"page at offset {page.offset}: {'; '.join(page.anomalies)}",
                    offset=page.offset,
                    request_id=page.request_id,
                )
        if not page.items and page.has_more:
            self._empty_run += 1
            anomalies = 1
            if self._empty_run >= MAX_EMPTY_PAGES:
                raise PaginationError(
                    f"{self._empty_run} empty pages in a row say there is more "
                    f"(last at offset {page.offset})",
                    offset=page.offset,
                    request_id=page.request_id,
                )
        else:
            self._empty_run = 0
        items = page.items
        if self._first_items is None:
            self._first_items, self._first_end = items, page.offset + len(items)
        elif (
            len(items) >= _FIRST_PAGE_MIN
            and page.offset >= self._first_end
            and _same_ids(items, self._first_items)
            # Looked for last: a scan of the page, needed only when it is the first page again.
            and not (cursor_id is not None and any(item.id == cursor_id for item in items))
        ):
            # The first page again, a whole page further on. Head inserts can do that once
            # in a while; three times in a row is a server (or cache) that ignores offset.
            self._first_repeats += 1
            if self._first_repeats >= 3:
                raise PaginationError(
                    f"the page at offset {page.offset} is the walk's first page again, for the "
                    "third time in a row: the server (or a proxy or cache in front of it) seems "
                    "to ignore offset, or invocations start faster than the walk can move",
                    offset=page.offset,
                    request_id=page.request_id,
                )
        else:
            self._first_repeats = 0
        repeated = _same_ids(items, self._previous_items)
        self._repeated_run = self._repeated_run + 1 if repeated else 0
        self._previous_items = items
        if self._repeated_run >= MAX_REPEATED_PAGES:
            raise PaginationError(
                f"{self._repeated_run + 1} pages in a row, up to offset {page.offset}, hold the "
                "same invocations: the server (or a cache) serves one page for any offset",
                offset=page.offset,
                request_id=page.request_id,
            )
        return anomalies
