"""The window of a walk under churn: how many pages it keeps in flight while the data moves.

Pages fetched at the same time straddle a change together: one change between their fetches
can cost each of them a bridge. So the walk plan (:class:`~kernel_async._walk.WalkPlan`) halves
its window after every bridge and widens it again by one page per window of clean pages
(additive increase, multiplicative decrease), never past the most pages in flight that the
caller, or an adaptive policy (:meth:`ChurnWindow.set_max_window`), allows.

A churn detector watches the latest :data:`CHURN_WINDOW` pages: once :data:`CHURN_LIMIT` of
them floated or brought nothing new, the data changes faster than bridging can keep up with,
and the walk goes one page at a time, unchecked, like a sequential walk (counting what it
cannot check); it checks again once the latest pages all went well.

:class:`ChurnWindow` is a base of the plan, which holds the state it works on (set up in the
plan's ``__init__``) and decides when a bridge halves the window and when a clean page widens
it; here are the window the plan reports, how a policy moves its bound, and the detector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections import deque

    from kernel_async._walk_records import WalkStats

__all__ = ["CHURN_LIMIT", "CHURN_WINDOW", "ChurnWindow"]

CHURN_WINDOW: Final = 16
"""How many of the latest pages the churn detector looks at."""

CHURN_LIMIT: Final = 6
"""Pages of the latest :data:`CHURN_WINDOW` that floated or brought nothing new, from which
the walk stops bridging and goes one page at a time like a sequential walk, counting what it
cannot check (see :class:`WalkStats`)."""


class ChurnWindow:
    """The walk plan's window under churn, and its churn detector (see the module docs)."""

    if TYPE_CHECKING:
        # What the plan sets up in its __init__.
        _max_window: int
        _window: float
        _floats: deque[bool]
        _unchecked: bool
        stats: WalkStats

    @property
    def window(self) -> int:
        """How many pages may be in flight now (``window``, lowered under churn)."""
        return int(self._window)

    def set_max_window(self, window: int) -> None:
        """Change the most pages in flight (an adaptive policy's decision)."""
        window = max(window, 1)
        if window == self._max_window:
            return
        # Unless churn holds the window down, it follows the policy; under churn it may only
        # shrink with it (and grows back page by page, up to the new maximum).
        if self._window >= self._max_window or window < self._window:
            self._window = float(window)
        self._max_window = window
        self._track_window()

    def _note_churn(self, *, churned: bool) -> None:
        """Go one page at a time, unchecked, while most pages float or bring nothing new.

        Back to checking (and a growing window) once the last pages all went well.
        """
        self._floats.append(churned)
        floats = sum(self._floats)
        if not self._unchecked and floats >= CHURN_LIMIT:
            self._unchecked = True
            self._window = 1.0
            self._track_window()
        elif self._unchecked and floats == 0:
            self._unchecked = False

    def _track_window(self) -> None:
        self.stats.window = self.window
        self.stats.peak_window = max(self.stats.peak_window, self.window)
