"""How many pages a walk keeps in flight when no ``prefetch`` is fixed: a pure policy.

A walk is fastest with just enough pages in flight to cover one round trip while it works
through the page it has: ``round trip / time per page + 1``. Fewer, and the walk waits on the
network; more, and pages only wait in the buffer (memory, and wasted requests past the end).
Neither number is known in advance, so :class:`AdaptiveWindow` measures both:

* the **round trip** is the shortest seen so far (the network's own latency; a longer one
  includes time queued behind the walk's own work, and would feed back into a larger window);
* the **time per page** is how long the walk spends on each page it delivers (the consumer's
  loop body and the structuring of the next), smoothed, and estimated from the page's size
  until the first is measured.

It starts from the first page's round trip, then corrects with what it sees: the consumer
waited for the next page with every request in flight (grow by one), or found two pages or
more already waiting (shrink by one). A server that pushes back (429, 503, ``Retry-After``)
halves it, and it grows back by one page per window of pages. It never leaves
``[1, maximum]``. Observations in, window out: no clock and no loop here.
"""

from __future__ import annotations

import math
from typing import Final

import attrs

__all__ = ["DEFAULT_MAX_PREFETCH", "ITEM_COST", "AdaptiveWindow"]

DEFAULT_MAX_PREFETCH: Final = 16
"""The most pages an adaptive walk keeps in flight unless told otherwise: enough for a
round trip of 100 ms at the API's page size (nox -s bench)."""

ITEM_COST: Final = 5e-6
"""Seconds of work per invocation assumed until the first page is measured."""

_SMOOTHING: Final = 0.3  # weight of a new time-per-page sample


@attrs.define
class AdaptiveWindow:
    """Pages in flight for a walk without a fixed ``prefetch`` (see the module docs).

    Args:
        maximum: The most pages in flight (``max_prefetch``, within the connection limit).
    """

    maximum: int
    window: int = 1
    peak: int = 1
    _round_trip: float | None = None
    _page_cost: float | None = None
    _correction: int = 0
    _ceiling: float | None = None  # lowered by pushback, rising again page by page
    _items: int = 1  # invocations per page, for the cost of a page not yet measured

    def round_trip(self, seconds: float) -> None:
        """A page request took this long, from sending to its page being ready."""
        if seconds > 0 and (self._round_trip is None or seconds < self._round_trip):
            self._round_trip = seconds

    def page_cost(self, seconds: float) -> None:
        """The walk spent this long on one page (the consumer's work, and structuring)."""
        if seconds < 0:
            return
        if self._page_cost is None:
            self._page_cost = seconds
        else:
            self._page_cost += _SMOOTHING * (seconds - self._page_cost)

    def waited(self, *, network: bool, ready_ahead: int) -> None:
        """The walk needed its next page.

        Args:
            network: It had to wait for it, with the whole window in flight.
            ready_ahead: How many pages after it had already arrived.
        """
        if network and self.window < self.maximum:
            self._correction += 1
        elif not network and ready_ahead >= 2 and self.window > 1:
            self._correction -= 1

    def pushback(self) -> None:
        """The server asked the client to slow down: halve the window."""
        self._ceiling = max(1.0, self.window / 2)
        self._correction = min(self._correction, 0)

    def decide(self, items_per_page: int) -> int:
        """The window now, for pages of about ``items_per_page`` invocations."""
        self._items = max(items_per_page, 1)
        if self._round_trip is None:
            return self._settle(1)  # before the first page: it goes alone
        if self._ceiling is not None:
            self._ceiling += 1 / max(self._ceiling, 1.0)  # one page more per window of pages
            if self._ceiling >= self.maximum:
                self._ceiling = None
        target = self._target() + self._correction
        if self._ceiling is not None:
            target = min(target, int(self._ceiling))
        return self._settle(target)

    def _target(self) -> int:
        if self._round_trip is None:
            return 1
        cost = self._page_cost
        if cost is None or cost <= 0:
            cost = ITEM_COST * self._items
        return math.ceil(self._round_trip / cost) + 1

    def _settle(self, target: int) -> int:
        window = max(1, min(self.maximum, target))
        # The correction only ever needs to span the window's range.
        self._correction = max(-self.maximum, min(self._correction, self.maximum))
        self.window = window
        self.peak = max(self.peak, window)
        return window
