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

__all__ = ["MAX_INTERVAL", "PollAnswers", "PollPlan", "next_wait"]

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
    """

    since: str | None
    window: int | None = None
    in_flight: tuple[str, ...] = ()
    in_flight_since: str | None = None
    follow: tuple[str, ...] = ()


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
    """

    window: Sequence[Invocation] = ()
    window_complete: bool = True
    in_flight: Sequence[Invocation] = ()
    in_flight_complete: bool = True
    looked_up: Mapping[str, Invocation | None] = attrs.field(factory=dict)


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
