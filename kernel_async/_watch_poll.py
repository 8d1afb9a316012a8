"""One poll of a watch: its questions, what it found, and the wait before the next.

:class:`~kernel_async._watch_state.WatchState` makes the :class:`PollPlan` of each poll and
reads the :class:`PollAnswers` to it; the watch (:mod:`kernel_async._watch`) asks the
questions, fills in the answers, and waits :func:`next_wait` seconds before the next poll,
longer after the server pushed back. Plain values and a pure function, apart from the state
machine's memory and rules: what the two layers exchange, and when they poll again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from kernel_async._models import Invocation
from kernel_async._timestamps import format_rfc3339_nano

__all__ = [
    "MAX_INTERVAL",
    "PollAnswers",
    "PollPlan",
    "merged",
    "next_wait",
    "unplaced",
    "widened_since",
]

MAX_INTERVAL: Final = 60.0
"""The longest wait between two polls that the server's pushback makes (unless the watch's
own interval is longer)."""


@attrs.frozen(kw_only=True)
class PollPlan:
    """The questions of one poll.

    Attributes:
        since: ``since`` of the window walk: an RFC 3339 time, or a Go duration before the
            server's now (while nothing has been seen, so that no clock of ours is
            involved); ``None``: no window walk (a watch of given invocations).
        window: The window's start in epoch nanoseconds, when it is an instant.
        in_flight: Statuses to walk for the invocations followed (or, on the first poll of
            a watch that starts now, for everything already in flight).
        in_flight_since: ``since`` of those walks (``None``: whatever their age).
        follow: The ids followed: each one the walks do not find is looked up.
        widen_back: For a window that is a duration: how far (nanoseconds) before the
            newest invocation it finds the next window will start, which the poll walks
            too (:func:`widened_since`), so that the next window never reaches back past
            what this poll covered. ``None``: no such walk.
    """

    since: str | None
    window: int | None = None
    in_flight: tuple[str, ...] = ()
    in_flight_since: str | None = None
    follow: tuple[str, ...] = ()
    widen_back: int | None = None


@attrs.frozen(kw_only=True)
class PollAnswers:
    """What one poll found.

    Attributes:
        window: The window walk's invocations (empty if there was none).
        window_complete: Whether that walk can vouch for what it did not deliver (it
            counted no possible gap): only then is a missing invocation gone, and only
            then does the window move on.
        in_flight: The in-flight walks' invocations.
        in_flight_complete: Whether those walks counted no possible gap.
        looked_up: For each id looked up, the invocation, or ``None`` when the lookup shows
            it is not there. An id whose lookup could not tell is left out.
        widened: The walk from :func:`widened_since`, if the plan asked for one.
        widened_complete: Whether that walk counted no possible gap.
    """

    window: Sequence[Invocation] = ()
    window_complete: bool = True
    widened: Sequence[Invocation] = ()
    widened_complete: bool = True
    in_flight: Sequence[Invocation] = ()
    in_flight_complete: bool = True
    looked_up: Mapping[str, Invocation | None] = attrs.field(factory=dict)


def widened_since(plan: PollPlan, window: Sequence[Invocation]) -> str | None:
    """The ``since`` of the walk that widens a duration window, given what it found.

    A window that is a duration of the server's clock starts at an instant the watch cannot
    know; the next window starts ``widen_back`` before the newest invocation found, which
    may be earlier. Walking from there too, in the same poll, tells what was listed there
    already, so the next window finds nothing there it could take for new. ``None``: the
    plan asks for no such walk, the window found nothing, or it found one that started
    that early (so it reached there).
    """
    if plan.widen_back is None or not window:
        return None
    starts = [invocation.started_at_ns for invocation in window]
    since = max(starts) - plan.widen_back
    # One found there or before shows that the window reached there already.
    return None if min(starts) <= since else format_rfc3339_nano(since)


def unplaced(window: Sequence[Invocation], widened: Sequence[Invocation]) -> bool:
    """Whether the widened walk found one the window did not, older than all it found.

    Such a one started before the window's start (listed already: learnt silently), or
    inside the window and was listed between the two walks (listed late: new). Only the
    server knows where its duration started: a second walk of the window tells them apart.
    """
    if not window:
        return False
    found = {invocation.id for invocation in window}
    reached = min(invocation.started_at_ns for invocation in window)
    return any(i.started_at_ns < reached and i.id not in found for i in widened)


def merged(first: Sequence[Invocation], again: Sequence[Invocation]) -> list[Invocation]:
    """Two walks of one window as one: each invocation as the later walk found it."""
    by_id = {invocation.id: invocation for invocation in first}
    by_id.update((invocation.id, invocation) for invocation in again)
    return list(by_id.values())


def next_wait(
    wait: float, interval: float, *, pushed_back: bool, asked: float | None = None
) -> float:
    """Seconds to wait before the next poll, after one that took ``wait`` before it.

    ``interval`` is the wait asked for. After a poll the server pushed back on (a 429 or
    503, whether the client retried it or the poll failed on it), the wait doubles, from at
    least a second and at least what the server ``asked`` for (``Retry-After``), up to
    :data:`MAX_INTERVAL`; it is never shorter than ``interval``: pushback only slows a watch.
    """
    if not pushed_back:
        return interval
    longer = min(max(wait * 2, 1.0, asked or 0.0), MAX_INTERVAL)
    return max(longer, interval)
