"""How many pages a walk keeps in flight when no ``prefetch`` is fixed: a pure policy.

A walk is fastest with just enough pages in flight to cover one round trip while it works
through the page it has. Fewer, and it waits on the network; more, and pages only wait in the
buffer (memory, and wasted requests past the end). Neither the round trip nor the work per
page is known in advance, so :class:`AdaptiveWindow` starts from an estimate and corrects it
with what the walk sees:

* **the first page** teaches the round trip; the window starts at the pages that cover it at
  about :data:`ITEM_COST` of work per invocation (halved: that request also opened the
  connection, two or three round trips to a real API), :data:`START_AT_MOST` at most: a walk
  of a few pages does not know it is short, and every page past its end is a wasted request;
* **the next page to arrive** teaches it again: the first with items among those requested
  once the first page had arrived most likely came over the connection the first opened, so
  its round trip has no set-up in it. The window it asks for, never more than the first
  page's whole round trip asks for (a page answered after a retry's wait, or a short last
  page, says nothing of the network), is taken once the walk needs a page past that first
  wave: a walk that ends within it sends no more requests past its end than before. Halving
  the first guess cost a longer walk a round trip whenever opening the connection was cheap;
* **waiting on the network**, with the whole window in flight, grows it: by half when the
  walk waited for every page of a round (a window's worth of pages: they arrive in bursts)
  at a window of six or more, by a quarter (one page at least) otherwise;
* **pages waiting on the walk** all round long (two or more already arrived behind each page
  it took) shrink it by one: the walk's own work (its consumer, structuring the pages) is
  what takes the time, and more pages in flight would only sit in the buffer;
* **growth that does not pay** is undone, and not tried again for a few rounds: a saturated
  server, or the walk's own work, sets the pace. It pays when a round at the larger window
  brings pages faster than the best round so far by half as much as the window grew (more
  pages in flight bring them at most that much faster). The first round at a larger window
  that does not pay gets a second look: it still brings pages requested a round trip ago,
  when the window was smaller;
* **a server that pushes back** (429, 503, ``Retry-After``) halves it, each time it asks, and
  it grows back by one page per four windows of pages: a server that throttles tends to
  again, and each page in flight then costs a wasted request.

It never leaves ``[1, maximum]``. Observations in, window out: no clock and no loop here.
"""

from __future__ import annotations

import math
from typing import Final

from kernel_async._defaults import DEFAULT_MAX_PREFETCH

__all__ = ["DEFAULT_MAX_PREFETCH", "ITEM_COST", "START_AT_MOST", "AdaptiveWindow"]


ITEM_COST: Final = 5e-6
"""Seconds of work per invocation assumed for the first decision (structuring, and a light
loop body), measured on a slow machine: a slower consumer shows up as pages waiting."""

START_AT_MOST: Final = 16
"""The largest window the first page can set. Beyond it the window grows only from rounds
whose pages it waited for: a long walk on a slow network gets there a round later, and a walk
of two or three pages sends no more requests past its end than before the maximum was 32."""

_RECOVERY: Final = 4  # windows of pages per page the window grows back after pushback
_PAYS: Final = 1.1  # a round at the same window sets a new best rate from this much faster
# A larger window is kept if its round brings pages faster by at least this share of what the
# window grew by: 11 to 12 pages in flight can bring pages 9 % faster at most, never the 10 %
# a fixed bar would ask, so a fixed bar stopped growth at about ten pages.
_PAYS_SHARE: Final = 0.5
_ROUND: Final = 8  # the fewest pages in a round: fewer are too few to time
_HOLD_ROUNDS: Final = 8  # rounds before trying a larger window again when the last did not pay
_FAST_FROM: Final = 6  # from this window on, a round of nothing but waits grows it by half


def _seconds(round_trip: float) -> float:
    # No clock gives a negative or infinite time; a caller's bug teaches nothing.
    return round_trip if math.isfinite(round_trip) and round_trip > 0 else 0.0


class AdaptiveWindow:
    """Pages in flight for a walk without a fixed ``prefetch`` (see the module docs).

    A plain class, not an attrs one: attrs would generate methods it does not need at import
    (start-up time).

    Args:
        maximum: The most pages in flight (``max_prefetch``, within the connection limit).
    """

    __slots__ = (
        "_best_rate",
        "_best_window",
        "_ceiling",
        "_corrected",
        "_first_wave",
        "_full",
        "_hold",
        "_needed",
        "_round_pages",
        "_round_ready",
        "_round_start",
        "_round_waits",
        "_second_look",
        "_settled",
        "_started",
        "maximum",
        "peak",
        "window",
    )

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.window = 1
        self.peak = 1
        self._started = False
        self._full = 1  # the window the first page's whole round trip asks for: a cap
        self._first_wave = 0  # the window the first page set
        self._needed = 0  # pages the walk has needed, the first included
        self._corrected: int | None = None  # the window the next page asks for, not yet taken
        self._settled = False  # the next page's round trip is known
        self._ceiling: float | None = None  # lowered by pushback, rising again page by page
        # One round is a window's worth of pages (eight at least): pages arrive in bursts, so
        # the window is judged by the round, not by the page.
        self._round_pages = 0
        self._round_waits = 0
        self._round_ready: int | None = None  # the fewest pages found waiting behind the one taken
        self._round_start: float | None = None
        # The best rate of pages seen, and the window it came with: growing past it is kept
        # only if it pays (a saturated server answers no faster for more pages in flight).
        self._best_rate = 0.0
        self._best_window = 1
        self._hold = 0  # rounds to wait before trying a larger window again
        self._second_look = False  # a larger window's first round did not pay: one more

    def __repr__(self) -> str:
        return f"AdaptiveWindow(maximum={self.maximum}, window={self.window}, peak={self.peak})"

    @property
    def started(self) -> bool:
        """Whether a first page with items has set the window (see :meth:`first_page`)."""
        return self._started

    @property
    def learning(self) -> bool:
        """Whether a page's round trip may still set the window (see :meth:`next_page`)."""
        return not self._settled

    def first_page(self, round_trip: float, items: int) -> None:
        """The first page took ``round_trip`` seconds and held ``items`` invocations.

        An empty page teaches nothing about the work per page: the window waits for one that
        is not (one page at a time meanwhile).
        """
        if self._started or items <= 0:
            return
        self._started = True
        seconds = _seconds(round_trip)
        self._full = self._covering(seconds, items)
        self._first_wave = self._set(self._covering(seconds / 2, items))

    def next_page(self, round_trip: float, items: int) -> None:
        """A page requested once the first had arrived took ``round_trip`` seconds.

        The first of them with items tells the window to take once the walk needs a page
        past the first wave (see the module docs); later ones, and any before the first
        page, change nothing.
        """
        if not self._started or self._settled or items <= 0:
            return
        self._settled = True
        self._corrected = min(self._covering(_seconds(round_trip), items), self._full)

    def _covering(self, round_trip: float, items: int) -> int:
        # The pages that cover a round trip at ITEM_COST per invocation, plus the one in hand.
        pages = round_trip / (ITEM_COST * items)
        start = min(self.maximum, START_AT_MOST)
        return start if pages >= start else math.ceil(pages) + 1

    def waited(self, *, network: bool, ready_ahead: int, at: float) -> None:
        """The walk needed its next page.

        Args:
            network: It had to wait for it, with the whole window in flight.
            ready_ahead: How many pages after it had already arrived.
            at: When (any clock in seconds: only differences count).
        """
        self._needed += 1
        if self._corrected is not None and self._needed > self._first_wave + 1:
            # Past the first page and the wave it set: the list is longer than that.
            self._set(self._corrected)
            self._corrected = None
        if self._ceiling is not None:  # after pushback: one page more per four windows of pages
            self._ceiling += 1 / (_RECOVERY * max(self._ceiling, 1.0))
            if self._ceiling >= self.maximum:
                self._ceiling = None
        if self._round_start is None:  # the clock starts with the first page taken
            self._round_start = at
            return
        self._round_pages += 1
        self._round_waits += network
        ready = 0 if network else ready_ahead
        self._round_ready = ready if self._round_ready is None else min(self._round_ready, ready)
        if self._round_pages < max(self.window, _ROUND):
            return
        rate = self._round_pages / max(at - self._round_start, 1e-9)
        judging = False
        if rate >= self._best_rate * self._bar():
            self._best_rate, self._best_window = rate, self.window
            self._second_look = False
        elif self.window > self._best_window and not self._second_look:
            # The first round at a larger window still brings pages requested when it was
            # smaller (a round trip ago, about a round): judge it on the next round as well.
            self._second_look = judging = True
        elif self.window > self._best_window:
            # More pages in flight, no more pages a second: the server (or the walk's own
            # work) sets the pace. Go back, and try again later: conditions change.
            self._set(self._best_window)
            self._best_rate, self._hold, judging = rate, _HOLD_ROUNDS, True
            self._second_look = False
        if judging:
            pass
        elif self._hold:
            self._hold -= 1
        elif self._round_waits == self._round_pages and self.window >= _FAST_FROM:
            # Every page waited for, at a window that a round trip of real latency asked
            # for: far too small, grow fast. Near no latency the server or the walk's own
            # work sets the pace, and growing by one page at a time finds it.
            self._set(self.window + self.window // 2)
        elif self._round_waits:
            self._set(self.window + max(1, self.window // 4))
        elif self._round_ready >= 2:
            self._set(self.window - 1)
        self._round_pages, self._round_waits, self._round_ready = 0, 0, None
        self._round_start = at

    def _bar(self) -> float:
        # How much faster than the best round this one must be to count: for a larger window,
        # half of what it grew by (at best, pages come as much faster as the window grew).
        if self.window > self._best_window:
            return 1 + _PAYS_SHARE * (self.window / self._best_window - 1)
        return _PAYS

    def pushback(self) -> None:
        """The server asked the client to slow down: halve the window.

        Again each time it asks, even before the window has grown back.
        """
        current = float(self.window) if self._ceiling is None else min(self._ceiling, self.window)
        self._ceiling = max(1.0, current / 2)
        self._set(self.window)
        self._second_look = False  # granted to a window that the pushback just took away

    def decide(self) -> int:
        """The window now (one page before the first has arrived)."""
        return self._set(self.window)

    def _set(self, window: int) -> int:
        bound = self.maximum if self._ceiling is None else min(self.maximum, int(self._ceiling))
        self.window = max(1, min(bound, window))
        self.peak = max(self.peak, self.window)
        return self.window
