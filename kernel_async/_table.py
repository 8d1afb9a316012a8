"""Rendering invocations as a terminal table, as plain functions of values.

Rows are printed as they arrive (a walk streams), so columns have fixed widths and the last
column, the status reason, takes whatever width the terminal has left.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Final

import attrs

from kernel_async._models import Invocation

__all__ = ["TableLayout", "format_duration", "render_header", "render_row"]

_RESET: Final = "\x1b[0m"
# ANSI SGR colours (ECMA-48 section 8.3.117): green, red, yellow, dim.
STATUS_COLOURS: Final[Mapping[str, str]] = {
    "succeeded": "\x1b[32m",
    "failed": "\x1b[31m",
    "running": "\x1b[33m",
    "queued": "\x1b[2m",
}
_MIN_REASON: Final = 12


@attrs.frozen
class TableLayout:
    """Column widths for a terminal ``width`` columns wide."""

    width: int = 120
    id: int = 24
    app: int = 14
    action: int = 18
    version: int = 12
    status: int = 9
    started: int = 19
    duration: int = 8

    @classmethod
    def for_width(cls, width: int) -> TableLayout:
        """Fit ``width`` columns.

        App, action and version shrink to make room for a reason; the id shrinks only when
        even the other columns at their narrowest do not fit (ids are what you copy).
        """
        layout = cls(width=width)
        for name, smallest in (("app", 8), ("action", 8), ("version", 6)):
            overflow = layout.fixed_width() + _MIN_REASON - width
            if overflow <= 0:
                break
            current = getattr(layout, name)
            layout = attrs.evolve(layout, **{name: max(smallest, current - overflow)})
        overflow = layout.fixed_width() - width
        if overflow > 0:
            layout = attrs.evolve(layout, id=max(10, layout.id - overflow))
        return layout

    def fixed_width(self) -> int:
        """Columns before the reason, with one space after each."""
        columns = (self.id, self.app, self.action, self.version, self.status, self.started)
        return sum(columns) + self.duration + 7

    @property
    def reason(self) -> int:
        """What is left for the status reason (0 hides it)."""
        left = self.width - self.fixed_width()
        return left if left >= _MIN_REASON else 0


def _fit(text: str, width: int) -> str:
    if len(text) <= width:
        return text.ljust(width)
    return text[: max(width - 1, 0)] + "\u2026"


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


def _join(layout: TableLayout, cells: tuple[str, ...], status: str, reason: str) -> str:
    line = " ".join(cells[:4]) + " " + status + " " + " ".join(cells[4:])
    if layout.reason:
        line += " " + (reason if len(reason) <= layout.reason else _fit(reason, layout.reason))
    return line.rstrip()


def render_header(layout: TableLayout) -> str:
    """The header line."""
    cells = (
        _fit("ID", layout.id),
        _fit("APP", layout.app),
        _fit("ACTION", layout.action),
        _fit("VERSION", layout.version),
        _fit("STARTED (UTC)", layout.started),
        "DURATION".rjust(layout.duration),
    )
    return _join(layout, cells, _fit("STATUS", layout.status), "REASON")


def render_row(invocation: Invocation, layout: TableLayout, *, colour: bool) -> str:
    """One invocation as one line; the status coloured when ``colour`` is set."""
    started = invocation.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    cells = (
        _fit(invocation.id, layout.id),
        _fit(invocation.app_name, layout.app),
        _fit(invocation.action_name, layout.action),
        _fit(invocation.version, layout.version),
        _fit(started, layout.started),
        format_duration(invocation.duration).rjust(layout.duration),
    )
    status_text = str(invocation.status)
    status = _fit(status_text, layout.status)
    if colour and status_text in STATUS_COLOURS:
        status = f"{STATUS_COLOURS[status_text]}{status}{_RESET}"
    return _join(layout, cells, status, invocation.status_reason or "")
