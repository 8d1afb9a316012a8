"""Rendering invocations as a terminal table, as plain functions of values.

Rows are printed as they arrive (a walk streams), so columns have fixed widths chosen from the
terminal's width and the ids seen so far. The id is what you copy, so it is kept whole: its
column grows to the longest id (:meth:`TableLayout.fitting_ids`), the other columns shrink
first, then whole columns are hidden, and the status reason takes what is left. Only an id
that does not fit beside the status is cut, in the middle, so that its two ends still tell
it apart.

Everything in a cell comes from the server, so it is shown with
:func:`~kernel_async._text.printable`: a control character in an app name or a status reason
is displayed escaped, never sent to the terminal, and measured in the columns a terminal
gives it (``kernel_async._text``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any, Final

import attrs

from kernel_async._models import Invocation
from kernel_async._text import display_width, ellipsis_for, fit, fit_id, printable
from kernel_async._watch_state import InvocationEvent

__all__ = [
    "EVENT_WIDTH",
    "ID_WIDTH",
    "TableLayout",
    "format_duration",
    "render_event",
    "render_event_header",
    "render_header",
    "render_row",
]

_RESET: Final = "\x1b[0m"
# ANSI SGR colours (ECMA-48 section 8.3.117): green, red, yellow, dim.
STATUS_COLOURS: Final[Mapping[str, str]] = {
    "succeeded": "\x1b[32m",
    "failed": "\x1b[31m",
    "running": "\x1b[33m",
    "queued": "\x1b[2m",
}
_MIN_REASON: Final = 12

# Shrinking order and the narrowest width of each column that may shrink.
_SHRINKABLE: Final = (("version", 6), ("action", 8), ("app", 8))
# Hidden in this order when even the narrowest columns do not fit (0 hides a column).
_HIDDEN_FIRST: Final = ("version", "duration", "action", "app", "started")
# A watch's rows say what happened to which app: the start time gives way before them.
_EVENT_HIDDEN_FIRST: Final = ("version", "duration", "started", "action", "app")
# Spare width goes back to the shrunk columns in this order.
_GROW: Final = ("app", "action", "version")


EVENT_WIDTH: Final = 8 + 1 + 9 + 1
"""What a watch's rows put before an invocation's columns: the event, then the status before."""

ID_WIDTH: Final = 24
"""The ID column's width, at the least: a Kernel id (a cuid2) is 24 characters."""


@attrs.frozen
class TableLayout:
    """Column widths for a terminal ``width`` columns wide; a width of 0 hides a column.

    ``encoding`` is the terminal's (as :func:`codecs.lookup` names it): what it cannot show
    (an ASCII terminal, ``PYTHONIOENCODING=ascii``) is escaped before the cells are measured,
    and a cut cell ends in ``...`` instead of ``\u2026``. ``hide``: the order in which whole
    columns give way, kept for :meth:`fitting_ids`.
    """

    width: int = 120
    id: int = ID_WIDTH
    app: int = 14
    action: int = 18
    version: int = 12
    status: int = 9
    started: int = 19
    duration: int = 8
    encoding: str = "utf-8"
    hide: tuple[str, ...] = _HIDDEN_FIRST

    @classmethod
    def for_events(cls, width: int, *, encoding: str = "utf-8") -> TableLayout:
        """The layout of a watch's rows on a terminal ``width`` columns wide.

        What :meth:`for_width` gives the columns after the event and the status before
        (:data:`EVENT_WIDTH`), except that the start time is hidden before the action and the
        app: a row says what happened to which app.
        """
        return cls.for_width(
            max(width - EVENT_WIDTH, 1), hide=_EVENT_HIDDEN_FIRST, encoding=encoding
        )

    @classmethod
    def for_width(
        cls,
        width: int,
        *,
        hide: tuple[str, ...] = _HIDDEN_FIRST,
        encoding: str = "utf-8",
        id_width: int = ID_WIDTH,
    ) -> TableLayout:
        """Fit ``width`` columns with an ID column ``id_width`` wide (at least :data:`ID_WIDTH`).

        Version, action and app shrink to make room for a reason; when even their narrowest
        do not fit, whole columns are hidden (version, then duration, action, app, started),
        and the room that frees goes back to the columns that shrank. The id and the status
        always show: when even they do not fit, the ID column is cut to what is left, down to
        :data:`ID_WIDTH` (below about 34 columns the line wraps instead).
        """
        preferred = cls(width=width, id=max(id_width, ID_WIDTH), encoding=encoding, hide=hide)
        layout = preferred
        for name, smallest in _SHRINKABLE:
            overflow = layout.fixed_width() + 1 + _MIN_REASON - width
            if overflow <= 0:
                break
            current = getattr(layout, name)
            layout = layout._resized(name, max(smallest, current - overflow))
        for name in hide:
            if layout.fixed_width() <= width:
                break
            layout = layout._resized(name, 0)
        overflow = layout.fixed_width() - width
        if overflow > 0:  # the last resort: the id is cut (in the middle: _text.fit_id)
            layout = layout._resized("id", max(layout.id - overflow, ID_WIDTH))
        if not layout.reason:
            for name in _GROW:
                current = getattr(layout, name)
                spare = width - layout.fixed_width()
                if current and spare > 0:
                    grown = min(getattr(preferred, name), current + spare)
                    layout = layout._resized(name, grown)
        return layout

    def fitting_ids(self, ids: Iterable[str]) -> TableLayout:
        """This layout, or one whose ID column is wide enough for ``ids``, room permitting.

        ``ids`` as the server sent them: each is measured as :func:`printable` shows it. The
        ID column only grows, to the widest of them, and the other columns give way as
        :meth:`for_width` has it. Whoever prints rows as they come checks each batch before
        printing it, and prints the header again when the layout changes, since the rows
        printed before keep their columns.
        """
        widest = max((display_width(printable(i, self.encoding)) for i in ids), default=0)
        if widest <= self.id:
            return self
        wider = TableLayout.for_width(
            self.width, hide=self.hide, encoding=self.encoding, id_width=widest
        )
        return wider if wider.id > self.id else self

    def _resized(self, column: str, width: int) -> TableLayout:
        widths: dict[str, Any] = {column: width}
        return attrs.evolve(self, **widths)

    def columns(self) -> tuple[int, ...]:
        """The widths of the visible columns before the reason."""
        widths = (
            self.id,
            self.app,
            self.action,
            self.version,
            self.status,
            self.started,
            self.duration,
        )
        return tuple(w for w in widths if w)

    def fixed_width(self) -> int:
        """Columns before the reason, with one space between each."""
        columns = self.columns()
        return sum(columns) + len(columns) - 1

    @property
    def ellipsis(self) -> str:
        """What ends a cut cell on this terminal."""
        return ellipsis_for(self.encoding)

    @property
    def reason(self) -> int:
        """What is left for the status reason (0 hides it)."""
        left = self.width - self.fixed_width() - 1
        return left if left >= _MIN_REASON else 0


def format_duration(seconds: float | None) -> str:
    """``0.8s``, ``12.3s``, ``4m05s``, ``2h03m``; ``-`` while unfinished.

    >>> format_duration(0.84), format_duration(245), format_duration(None)
    ('0.8s', '4m05s', '-')
    """
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _line(
    layout: TableLayout,
    *,
    id: str,
    app: str,
    action: str,
    version: str,
    status: str,
    colour: str | None,
    started: str,
    duration: str,
    reason: str,
) -> str:
    cells = [fit_id(id, layout.id, layout.ellipsis)]  # whole, unless even it cannot fit
    for text, width in ((app, layout.app), (action, layout.action), (version, layout.version)):
        if width:
            cells.append(fit(text, width, layout.ellipsis))
    status_cell = fit(status, layout.status, layout.ellipsis)
    cells.append(f"{colour}{status_cell}{_RESET}" if colour else status_cell)
    if layout.started:
        cells.append(fit(started, layout.started, layout.ellipsis))
    if layout.duration:
        cells.append(duration.rjust(layout.duration))
    if layout.reason:
        fits = display_width(reason) <= layout.reason
        cells.append(reason if fits else fit(reason, layout.reason, layout.ellipsis))
    return " ".join(cells).rstrip()


def render_header(layout: TableLayout) -> str:
    """The header line."""
    return _line(
        layout,
        id="ID",
        app="APP",
        action="ACTION",
        version="VERSION",
        status="STATUS",
        colour=None,
        started="STARTED (UTC)",
        duration="DURATION",
        reason="REASON",
    )


def render_row(invocation: Invocation, layout: TableLayout, *, colour: bool) -> str:
    """One invocation as one line; the status coloured when ``colour`` is set.

    Every text from the server is passed through :func:`printable`, for the layout's encoding.
    """
    status = str(invocation.status)
    return _line(
        layout,
        id=printable(invocation.id, layout.encoding),
        app=printable(invocation.app_name, layout.encoding),
        action=printable(invocation.action_name, layout.encoding),
        version=printable(invocation.version, layout.encoding),
        status=printable(status, layout.encoding),
        colour=STATUS_COLOURS.get(status) if colour else None,
        started=_started(invocation),
        duration=format_duration(invocation.duration),
        reason=printable(invocation.status_reason or "", layout.encoding),
    )


def _started(invocation: Invocation) -> str:
    try:
        # isoformat, not strftime: %Y writes year 1 (Go's zero time) as "1" on glibc.
        return invocation.started_at.astimezone(UTC).isoformat(" ", "seconds")[:19]
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is valid RFC 3339, and before year 1 in UTC
        return "before 0001-01-01"


def render_event_header(layout: TableLayout) -> str:
    """The header line of a watch's rows (``layout`` for the width left after the event)."""
    return f"{'EVENT':<8} {'FROM':<9} " + render_header(layout)


def render_event(event: InvocationEvent, layout: TableLayout, *, colour: bool) -> str:
    """One watch event as one line: what happened, the status before, then the invocation.

    ``layout`` is for the terminal's width less :data:`EVENT_WIDTH`.
    """
    previous = (
        printable(str(event.previous_status), layout.encoding) if event.previous_status else ""
    )
    before = fit(previous, 9, layout.ellipsis)
    if colour and previous in STATUS_COLOURS:
        before = f"{STATUS_COLOURS[previous]}{before}{_RESET}"
    return f"{event.kind.value:<8} {before} " + render_row(event.invocation, layout, colour=colour)
