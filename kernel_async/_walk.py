"""The plan of a concurrent offset walk, as a pure state machine (no I/O, no loop).

The I/O layer (:mod:`kernel_async._listing`) asks the plan which offsets to request, hands it
each page in order, and cancels what the plan discards. Everything that decides *what* to fetch
and *what* to deliver is here, so it is tested with plain values.

The rules follow FACTS.md ("Pagination headers") and FIELD-NOTES section 1:

* The first page is requested alone; its headers teach the page step the server really uses
  (``X-Next-Offset - offset``, else ``X-Limit``), since servers cap ``limit``.
* Speculative offsets are ``last + step``. Every page is checked against its predecessor's
  ``X-Next-Offset``; when the next offset in the window is not that, the window is discarded
  and the walk resynchronises from the true offset.
* ``X-Has-More: false`` ends the walk and discards speculation past the end, whatever those
  requests returned, errors included.
* Items repeated from the previous pages mean the data shifted (an invocation started during
  the walk). Pages requested before that was seen may be stale, so the window is discarded
  and refetched, which keeps a concurrent walk as faithful as a sequential one; the repeats
  are dropped when ``dedupe`` is on. Memory for this is the ids of the last two pages.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import attrs

from kernel_async._models import Invocation, Page
from kernel_async._protocol import page_step

__all__ = ["RECENT_PAGES", "Accepted", "WalkPlan"]

RECENT_PAGES: Final = 2
"""How many delivered pages' ids dedupe remembers: shifts of up to this many pages between two
consecutive page fetches are caught."""


@attrs.frozen
class Accepted:
    """What to do with a page the plan accepted.

    Attributes:
        items: The items to deliver (repeats dropped when deduping, cut at ``max_items``).
        discard: Offsets whose requests must be cancelled and whose results ignored.
    """

    items: tuple[Invocation, ...]
    discard: tuple[int, ...]


class WalkPlan:
    """Which offsets a walk requests, and what it delivers from each page."""

    def __init__(self, *, start: int, max_items: int | None = None, dedupe: bool = True) -> None:
        self._expected = start  # the offset the next delivered page must start at
        self._scheduled: deque[int] = deque()  # requested, not yet delivered, in order
        self._step: int | None = None
        self._max_items = max_items
        self._dedupe = dedupe
        self._delivered = 0
        self._done = max_items == 0
        self._complete = False  # the server said there is nothing after the last page
        self._recent: deque[frozenset[str]] = deque(maxlen=RECENT_PAGES)
        self.resyncs = 0
        """How often the window was discarded because the next offset or the data moved."""

    @property
    def done(self) -> bool:
        """Whether the walk has ended (last page seen, ``max_items`` reached, or failed)."""
        return self._done

    @property
    def expected_offset(self) -> int:
        """The offset of the next page to deliver (after a ``max_items`` cut: the next item)."""
        return self._expected

    @property
    def resume_offset(self) -> int | None:
        """Where a new walk would carry on from; ``None`` once the last page was delivered."""
        return None if self._complete else self._expected

    @property
    def scheduled(self) -> tuple[int, ...]:
        """The offsets requested and not yet delivered, in order."""
        return tuple(self._scheduled)

    def plan(self, capacity: int) -> list[int]:
        """Offsets to request now so that at most ``capacity`` are outstanding.

        Before the first page the step is unknown, so only that page is requested. With
        ``max_items`` set, speculation stops at the offset that would satisfy it.
        """
        new: list[int] = []
        if self._done:
            return new
        if not self._scheduled and capacity > 0:
            self._scheduled.append(self._expected)
            new.append(self._expected)
        if self._step is None:
            return new
        horizon = None
        if self._max_items is not None:
            horizon = self._expected + self._max_items - self._delivered
        while len(self._scheduled) < capacity:
            offset = self._scheduled[-1] + self._step
            if horizon is not None and offset >= horizon:
                break
            self._scheduled.append(offset)
            new.append(offset)
        return new

    def accept(self, page: Page) -> Accepted:
        """Take the page at the head of the window; say what to deliver and what to drop."""
        if not self._scheduled or page.offset != self._scheduled[0]:
            raise ValueError(f"page at offset {page.offset} is not the head of the window")
        self._scheduled.popleft()
        items, shifted = self._drop_repeats(page.items)
        self._step = page_step(page) or self._step
        if self._max_items is not None and len(items) >= self._max_items - self._delivered:
            items = items[: self._max_items - self._delivered]
            self._delivered += len(items)
            self._done = True
            # Resume right after the last item delivered, inside this page.
            self._expected = page.offset + page.items.index(items[-1]) + 1
            self._complete = not page.has_more and self._expected >= page.offset + len(page)
            return Accepted(items, self._discard_all())
        self._delivered += len(items)
        if not page.has_more or page.next_offset is None:
            self._done = self._complete = True
            return Accepted(items, self._discard_all())
        self._expected = page.next_offset
        if self._scheduled and (shifted or self._scheduled[0] != page.next_offset):
            # Either the server's step is not what we speculated with, or the data moved
            # under pages requested earlier: refetch from the true next offset.
            self.resyncs += 1
            return Accepted(items, self._discard_all())
        return Accepted(items, ())

    def fail(self) -> tuple[int, ...]:
        """The head page failed: end the walk and discard the rest of the window."""
        if self._scheduled:
            self._scheduled.popleft()
        self._done = True
        return self._discard_all()

    def close(self) -> tuple[int, ...]:
        """End the walk early; returns every outstanding offset to cancel."""
        self._done = True
        return self._discard_all()

    def _discard_all(self) -> tuple[int, ...]:
        discarded = tuple(self._scheduled)
        self._scheduled.clear()
        return discarded

    def _drop_repeats(self, items: tuple[Invocation, ...]) -> tuple[tuple[Invocation, ...], bool]:
        """Items not seen in the last pages, and whether any were (the data shifted)."""
        ids = frozenset([item.id for item in items])
        seen = frozenset().union(*self._recent)
        self._recent.append(ids)
        if ids.isdisjoint(seen):
            return items, False
        if not self._dedupe:
            return items, True
        return tuple([item for item in items if item.id not in seen]), True
