"""Shared by the watch tests: a watch's events judged against the emulator's log of changes.

The emulator logs each change with the logical time it happened at (``Change.tick``: it is
seen by every data response computed at that tick or later). :class:`PollClock` records,
through the live mode's script, which poll of the watch each response belonged to. A status
that an invocation held for the whole of some poll (every response of the poll computed
after the change that set it, and before the change that ended it) was observed by that
poll, so the watch owes an event for it: that is the promise, "every transition separated by
a complete poll", made checkable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from kernel_async import EventKind, InvocationEvent, InvocationWatch
from kernel_async._timestamps import rfc3339_to_epoch_ns
from kernel_async.testing import ChangeKind, KernelEmulator

GONE = "gone"  # the pseudo-status after a delete


class PollClock:
    """Which poll of ``watch`` computed each data response: give :meth:`script` to LiveData."""

    def __init__(self, ticks: int = 200_000) -> None:
        self.watch: InvocationWatch | None = None
        self.poll_at: dict[int, int] = {}  # response tick -> the poll it belonged to (1-based)
        self.incomplete_after: dict[int, int] = {}  # poll -> incomplete polls before it
        self.ticks = ticks

    def script(self) -> dict[int, Any]:
        def record(emulator: KernelEmulator) -> None:
            assert self.watch is not None
            poll = self.watch.polls + 1
            self.poll_at[emulator.served] = poll
            self.incomplete_after[poll] = self.watch.incomplete_polls

        return dict.fromkeys(range(self.ticks), record)

    def spans(self, served: int) -> dict[int, tuple[int, int]]:
        """The first and last response tick of each poll whose walks could vouch for what
        they did not deliver (see ``watch.incomplete_polls``)."""
        if max(self.poll_at) != served - 1:
            raise AssertionError("the clock did not record every response: give it more ticks")
        spans: dict[int, tuple[int, int]] = {}
        for tick, poll in sorted(self.poll_at.items()):
            first, _ = spans.get(poll, (tick, tick))
            spans[poll] = (first, tick)
        complete = self.incomplete_after
        return {
            poll: span
            for poll, span in spans.items()
            if poll + 1 in complete and complete[poll + 1] == complete[poll]
        }


@attrs.frozen
class WatchVerdict:
    """How a watch did against the data's own log of changes."""

    invocations: int  # the invocations the watch was responsible for
    owed: int  # statuses they held for the whole of a poll, after the first: each owed an event
    reported: int  # events
    missed: int  # owed and not reported
    duplicated: int  # events for a status already reported (or before it), or not a change
    invented: int  # events for a status the invocation never had, or from the wrong one
    unowed: int  # events not owed: a status seen by a poll that overlapped its change
    outside: int  # inserted, but older than the window of every poll that saw them


@attrs.frozen
class _Interval:
    status: str
    start: float  # the tick of the change that set it (-1: held before the watch)
    end: float  # the tick of the change that ended it (inf: still held)


def judge_watch(
    events: Sequence[InvocationEvent],
    initial: Sequence[dict[str, Any]],
    emulator: KernelEmulator,
    clock: PollClock,
    *,
    since_change: int = 0,
    quiet_start: bool = True,
    final: frozenset[str] = frozenset({"succeeded", "failed"}),
    lookback_ns: int = 30 * 10**9,
    debug: bool = False,
    delivered_polls: int,
) -> WatchVerdict:
    """Compare a watch's events with the history of the data.

    Args:
        events: What the watch reported, in order.
        initial: The data before the watch's first poll (``emulator.invocations``).
        emulator: The emulator, for its log of changes.
        clock: The poll of each response.
        since_change: Changes before this index happened before the watch.
        quiet_start: The watch started with ``since=None`` (its first poll reports nothing).
        final: The watch's final statuses.
        lookback_ns: The watch's lookback.
        delivered_polls: How many polls had all their events delivered (a watch left in
            the middle of a poll's events: ``watch.polls - 1``).
    """
    spans = clock.spans(emulator.served)
    complete = sorted(span for poll, span in spans.items() if poll <= delivered_polls)
    if not complete:
        raise AssertionError("the watch made no complete poll")
    # A watch that starts now knows what is in flight from its first complete poll on.
    first_poll = complete[0]
    histories: dict[str, list[_Interval]] = {
        str(item["id"]): [_Interval(str(item["status"]), -1, math.inf)] for item in initial
    }
    started: dict[str, int] = {
        str(item["id"]): rfc3339_to_epoch_ns(str(item["started_at"])) for item in initial
    }
    # The newest start inserted up to each tick: no watch's window starts later than that,
    # less its lookback.
    newest_by_tick: list[tuple[int, int]] = [(-1, max(started.values(), default=0))]
    for change in emulator.changes[since_change:]:
        history = histories.setdefault(change.id, [])
        if history:
            history[-1] = attrs.evolve(history[-1], end=change.tick)
        status = GONE if change.kind is ChangeKind.DELETE else str(change.status_after)
        history.append(_Interval(status, change.tick, math.inf))
        if change.kind is ChangeKind.INSERT:
            started[change.id] = change.started_at_ns
            newest = max(newest_by_tick[-1][1], change.started_at_ns)
            newest_by_tick.append((change.tick, newest))

    def in_view(invocation_id: str, poll: tuple[int, int]) -> bool:
        """Whether the poll's window surely covered the invocation: it starts at the newest
        the watch saw, less the lookback, and the watch saw nothing newer than what was
        inserted by the end of the poll."""
        newest = max(n for tick, n in newest_by_tick if tick <= poll[1])
        return started[invocation_id] >= newest - lookback_ns

    reported: dict[str, list[InvocationEvent]] = {}
    for event in events:
        reported.setdefault(event.invocation.id, []).append(event)
    owed = missed = duplicated = invented = unowed = outside = responsible = 0
    for invocation_id, history in histories.items():
        got = reported.get(invocation_id, [])
        known_from = _known_from(invocation_id, history, complete, first_poll, final, in_view)
        if known_from is None:
            # Outside the promise: final (or gone) before the watch began, or inserted
            # older than the window of every poll that saw it.
            outside += history[0].start >= first_poll[0]
            continue
        responsible += 1
        index = {interval.status: i for i, interval in enumerate(history)}
        last = -1
        reported_indexes = set()
        for event in got:
            status = GONE if event.kind is EventKind.GONE else str(event.status)
            position = index.get(status)
            if position is None or (
                event.kind is EventKind.CHANGED
                and index.get(str(event.previous_status), math.inf) >= position
            ):
                invented += 1
                continue
            if position <= last:
                duplicated += 1
                continue
            last = position
            reported_indexes.add(position)
        later = [poll for poll in complete if poll[0] >= known_from[0]]
        for position, interval in enumerate(history):
            held = _held(interval, later)
            baseline = quiet_start and interval.start <= first_poll[1]
            # A delete is owed an event when the watch was still following the invocation
            # (its status before was seen by a poll, and was not final).
            optional = interval.status == GONE and (
                position == 0
                or history[position - 1].status in final
                or not _held(history[position - 1], later)
            )
            if held and not baseline and not optional:
                owed += 1
                if position not in reported_indexes:
                    missed += 1
                    if debug:
                        print("MISSED", invocation_id, position, history, got, complete)
            elif position in reported_indexes:
                unowed += 1
    return WatchVerdict(
        invocations=responsible,
        owed=owed,
        reported=len(events),
        missed=missed,
        duplicated=duplicated,
        invented=invented,
        unowed=unowed,
        outside=outside,
    )


def _known_from(
    invocation_id: str,
    history: Sequence[_Interval],
    polls: Sequence[tuple[int, int]],
    first_poll: tuple[int, int],
    final: frozenset[str],
    in_view: Callable[[str, tuple[int, int]], bool],
) -> tuple[int, int] | None:
    """The first poll from which the watch must know the invocation, or ``None``.

    One in flight for the whole of the first poll is known from it (followed silently);
    one inserted since, from the first poll whose window covered it while one of its
    statuses held throughout the poll.
    """
    if history[0].start < first_poll[0]:
        held = next(
            (i for i in history if i.start <= first_poll[0] and first_poll[1] < i.end), None
        )
        if held is None or held.status in final or held.status == GONE:
            return None
        return first_poll
    for poll in polls:
        if (
            poll[0] >= history[0].start
            and in_view(invocation_id, poll)
            and any(_held(interval, [poll]) for interval in history if interval.status != GONE)
        ):
            return poll
    return None


def _held(interval: _Interval, polls: Sequence[tuple[int, int]]) -> bool:
    """Whether some poll's every response saw this status."""
    return any(interval.start <= first and last < interval.end for first, last in polls)
