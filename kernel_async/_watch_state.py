"""What a watch knows and reports, as a pure state machine: plans out, answers in, events out.

A watch follows ``GET /invocations`` as it changes by polling it. A poll asks three kinds of
questions, planned here (:meth:`WatchState.plan`, a
:class:`~kernel_async._watch_poll.PollPlan`) and asked by the I/O layer
(:mod:`kernel_async._watch`), whose :class:`~kernel_async._watch_poll.PollAnswers` come back
to :meth:`WatchState.observe`:

* **the window**: a walk over the invocations started since a while before the newest one
  seen (``lookback``: room for invocations the server lists a little late, and for clocks and
  timestamps that differ in precision; the instants compared are all the server's). A new id
  is reported once (:attr:`EventKind.SEEN`); a known one whose status moved is reported once
  per move (:attr:`EventKind.CHANGED`, with the status before); a known one missing from a
  complete walk of the window is reported and forgotten (:attr:`EventKind.GONE`);
* **the in-flight walks**: invocations that are still in flight (not in a final status) but
  started before the window are followed by ``status=queued`` and ``status=running`` walks
  since the oldest of them, which hold only what is in flight, so a run that takes hours
  never makes a poll walk back over everything that started since;
* **lookups**: a followed invocation that neither walk found (it finished, or went) is looked
  up by its id (``query=<id>``), as are all of them while there are fewer than
  :data:`FOLLOW_BY_WALK_FROM`.

An invocation that reached a final status and is older than the window is forgotten, so the
memory is the invocations in the window plus those in flight. Two moves of one invocation
between two polls (``queued`` to ``running`` to ``failed``) are one event, from the status
last seen to the status now: a watch reports what it observed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import timedelta
from typing import Final

import attrs

from kernel_async._models import Invocation, InvocationStatus
from kernel_async._timestamps import MAX_GO_DURATION_NS, format_go_duration, format_rfc3339_nano
from kernel_async._watch_poll import PollAnswers, PollPlan

__all__ = [
    "DEFAULT_FINAL_STATUSES",
    "FOLLOW_BY_WALK_FROM",
    "EventKind",
    "InvocationEvent",
    "WatchState",
]

DEFAULT_FINAL_STATUSES: Final = frozenset({InvocationStatus.SUCCEEDED, InvocationStatus.FAILED})
"""Statuses after which an invocation no longer changes: it is no longer followed."""

FOLLOW_BY_WALK_FROM: Final = 3
"""From this many invocations to follow, a poll walks ``status=queued`` and ``status=running``
(two requests, or more for many) instead of looking each up (one request each)."""

_HOLD_BACK: Final = 2
"""Polls in a row that walk the same window again after a walk that may have missed one."""

_LONGEST_SINCE: Final = timedelta(microseconds=MAX_GO_DURATION_NS // 1_000)

_WALKABLE: Final = ("queued", "running")  # the in-flight statuses the API filters on


class EventKind(enum.StrEnum):
    """What a watch saw happen to an invocation."""

    SEEN = "seen"
    """The invocation was seen for the first time."""
    CHANGED = "changed"
    """Its status moved since the watch last saw it (``previous_status`` says from what)."""
    GONE = "gone"
    """It is no longer listed (deleted); ``invocation`` is how it was last seen."""


@attrs.frozen(kw_only=True)
class InvocationEvent:
    """One thing a watch saw.

    Attributes:
        kind: What happened.
        invocation: The invocation as it is now (for :attr:`EventKind.GONE`: as last seen).
        previous_status: For :attr:`EventKind.CHANGED`, the status it had before; else
            ``None``.
    """

    kind: EventKind
    invocation: Invocation
    previous_status: InvocationStatus | str | None = None

    @property
    def status(self) -> InvocationStatus | str:
        """The invocation's status now (as last seen, for a gone one)."""
        return self.invocation.status


class WatchState:
    """The watch's memory and its rules (see the module docs).

    Args:
        since: Report every invocation started at or after this: an instant in epoch
            nanoseconds, or a duration before the server's now at the first poll. ``None``:
            report only what starts, or moves, once the watch runs; what is listed at the
            first poll is known silently, and what is in flight then is followed.
        lookback: How far before the newest invocation seen the window starts.
        final: Statuses after which an invocation is no longer followed.
        statuses: Report only moves into (or out of) these statuses, and invocations first
            seen in one of them; ``None``: everything.
        invocations: Follow only these (no window walk): each is reported when it is first
            found (if only its id is known) or when it moves, until it is final or gone.
            Known ones are passed as :class:`Invocation`; ids as strings.
        invocations_since: For ids, a time they started at or after (epoch nanoseconds),
            which lets the in-flight walks find them.
    """

    def __init__(
        self,
        *,
        since: int | timedelta | None = None,
        lookback: timedelta = timedelta(seconds=30),
        final: Iterable[str] = DEFAULT_FINAL_STATUSES,
        statuses: Iterable[str] | None = None,
        invocations: Iterable[Invocation | str] | None = None,
        invocations_since: int | None = None,
    ) -> None:
        self._since = since
        self._lookback_ns = lookback // timedelta(microseconds=1) * 1_000
        self._final = frozenset(str(status) for status in final)
        self._statuses = None if statuses is None else frozenset(str(s) for s in statuses)
        self._known: dict[str, Invocation] = {}
        self._newest: int | None = None  # the latest started_at the window walk found
        self._polls = 0
        # A watch that starts now learns what is in flight from walks of every age, until
        # a poll is complete (a walk that counted a possible gap may have missed one, which
        # would then never be followed).
        self._baseline_pending = since is None and invocations is None
        self._held_back = 0  # polls in a row whose window walk was not complete
        self._baseline_doubts = 0  # incomplete polls in a row while the baseline is pending
        self.possible_gaps = 0
        """Polls that moved on after a walk that could not vouch for what it did not deliver
        (see the listing's ``possible_gaps``): what that walk missed may never be seen."""
        self.incomplete_polls = 0
        """Polls with a walk that counted a possible gap: they are walked again, and what
        they may have missed is reported late (as one event) or, see possible_gaps, not."""
        self._given: tuple[str, ...] | None = None
        self._given_since = invocations_since
        self._done: set[str] = set()  # given invocations that are final, or went
        if invocations is not None:
            given: dict[str, None] = {}
            for item in invocations:
                if isinstance(item, Invocation):
                    given[item.id] = None
                    self._known[item.id] = item
                    if self.is_final(item):
                        self._done.add(item.id)
                else:
                    given[item] = None
            self._given = tuple(given)

    # -- what it holds -----------------------------------------------------------------------

    @property
    def polls(self) -> int:
        """Polls observed so far."""
        return self._polls

    @property
    def remembered(self) -> int:
        """How many invocations the watch keeps in memory (the window and those in flight)."""
        return len(self._known)

    @property
    def in_flight(self) -> tuple[Invocation, ...]:
        """The invocations followed because they have not reached a final status."""
        return tuple(i for i in self._known.values() if not self.is_final(i))

    @property
    def finished(self) -> bool:
        """For a watch of given invocations: whether every one is final or gone."""
        return self._given is not None and len(self._done) == len(self._given)

    @property
    def pending(self) -> tuple[str, ...]:
        """For a watch of given invocations: the ids not final or gone yet."""
        return tuple(i for i in self._given or () if i not in self._done)

    def latest(self, invocation_id: str) -> Invocation | None:
        """The invocation as last seen, if it is remembered."""
        return self._known.get(invocation_id)

    def is_final(self, invocation: Invocation) -> bool:
        """Whether this invocation's status is one after which it no longer changes."""
        return str(invocation.status) in self._final

    # -- planning ------------------------------------------------------------------------------

    def plan(self, elapsed: float) -> PollPlan:
        """The questions of the next poll; ``elapsed``: seconds since the watch started.

        Planning changes nothing: a poll that is never answered (cancelled, failed) is
        planned afresh.
        """
        if self._given is not None:
            since, window = None, None
        elif self._newest is not None:
            window = self._newest - self._lookback_ns
            if isinstance(self._since, int):
                window = max(window, self._since)
            since = format_rfc3339_nano(window)
        elif isinstance(self._since, int):
            window = self._since
            since = format_rfc3339_nano(window)
        else:
            # Nothing seen yet: a duration the server subtracts from its own now.
            before = self._since if self._since is not None else timedelta(0)
            back = (
                timedelta(seconds=max(elapsed, 0.0))
                + before
                + timedelta(microseconds=self._lookback_ns // 1_000)
            )
            # No further back than the longest Go duration (about 292 years) goes.
            since = format_go_duration(min(back, _LONGEST_SINCE))
            window = None
        statuses = tuple(s for s in _WALKABLE if s not in self._final)
        follow = self._to_follow(window)
        # A duration's start is the server's to know: the poll also walks from where the
        # next window will start (see widened_since), so that it covers all of that one.
        widen = self._lookback_ns or None if window is None and since is not None else None
        if self._baseline_pending:
            # Whatever is in flight when a watch starts is followed from then on.
            return PollPlan(
                since=since, window=window, in_flight=statuses, follow=follow, widen_back=widen
            )
        starts = [self._started_of(i) for i in follow]
        if len(follow) < FOLLOW_BY_WALK_FROM or not statuses or None in starts:
            return PollPlan(since=since, window=window, follow=follow, widen_back=widen)
        oldest = min(s for s in starts if s is not None)
        return PollPlan(
            since=since,
            window=window,
            in_flight=statuses,
            in_flight_since=format_rfc3339_nano(oldest),
            follow=follow,
            widen_back=widen,
        )

    def _to_follow(self, window: int | None) -> tuple[str, ...]:
        if self._given is not None:
            return self.pending
        return tuple(
            invocation.id
            for invocation in self._known.values()
            if not self.is_final(invocation)
            and (window is None or invocation.started_at_ns < window)
        )

    def _started_of(self, invocation_id: str) -> int | None:
        known = self._known.get(invocation_id)
        return known.started_at_ns if known is not None else self._given_since

    # -- observing -----------------------------------------------------------------------------

    def observe(self, plan: PollPlan, answers: PollAnswers) -> list[InvocationEvent]:
        """The events of a poll, given its plan and what it found; the memory moves on."""
        # A watch that starts now reports nothing until its first complete poll: that poll's
        # view is the baseline it reports changes from (an incomplete poll may have missed
        # what was already listed, which would otherwise be reported as new later).
        quiet = self._baseline_pending
        self._polls += 1
        complete = answers.window_complete and answers.widened_complete
        if not (complete and answers.in_flight_complete):
            self.incomplete_polls += 1
        window = plan.window
        in_doubt = False  # this poll moves on past a walk that may have missed one
        if complete or self._held_back + 1 >= _HOLD_BACK:
            # The window moves on past a walk that missed nothing; after one that may have
            # (it counted a possible gap), it is walked again, and after _HOLD_BACK such
            # walks in a row it moves on regardless, counted in possible_gaps.
            in_doubt = not complete
            self._held_back = 0
            for invocation in (*answers.window, *answers.widened):
                if window is None or invocation.started_at_ns >= window:
                    self._newest = max(self._newest or 0, invocation.started_at_ns)
        else:
            self._held_back += 1
        present: dict[str, Invocation] = {i.id: i for i in answers.window}
        baseline: set[str] = set()  # learnt silently: listed before the watch could tell
        reached = min((i.started_at_ns for i in answers.window), default=0)
        for invocation in answers.widened:
            # Walked from where the next window will start, back past the start of this
            # one (a duration of the server's clock, which reached at least as far back as
            # the oldest it found): what only this walk found before that was listed there
            # already, not started since.
            if invocation.started_at_ns < reached and invocation.id not in present:
                baseline.add(invocation.id)
            present[invocation.id] = invocation
        for invocation in answers.in_flight:
            # The in-flight walks refresh what is followed, and while the watch's baseline
            # is pending, they are what it follows (silently, if older than the window).
            # Anything else they hold is not this watch's to report.
            if invocation.id in self._known or invocation.id in (self._given or ()):
                present[invocation.id] = invocation
            elif self._baseline_pending and invocation.id not in present:
                present[invocation.id] = invocation
                if window is None or invocation.started_at_ns < window:
                    baseline.add(invocation.id)
        if self._baseline_pending:
            # The baseline is what was in flight during the watch's first complete poll:
            # until a poll's walks all vouch for what they did not deliver, an invocation
            # in flight may have been missed, and one missed there is never followed. As
            # the window, it moves on after _HOLD_BACK incomplete polls in a row (a server
            # of one invocation per page never completes a walk of two), in possible_gaps.
            if complete and answers.in_flight_complete:
                self._baseline_pending = False
            else:
                self._baseline_doubts += 1
                if self._baseline_doubts >= _HOLD_BACK:
                    self._baseline_pending, in_doubt = False, True
        self.possible_gaps += in_doubt
        present.update((i, found) for i, found in answers.looked_up.items() if found is not None)
        events: list[InvocationEvent] = []
        for invocation in sorted(present.values(), key=_oldest_first):
            events += self._update(invocation, quiet=quiet or invocation.id in baseline)
        for invocation_id, known in list(self._known.items()):
            if invocation_id in present:
                continue
            in_window = window is not None and known.started_at_ns >= window
            looked_up_gone = invocation_id in answers.looked_up
            if looked_up_gone or (in_window and complete and not quiet):
                # Listed before, inside what this poll asked about, and not now: deleted.
                del self._known[invocation_id]
                if self._given is not None:
                    self._done.add(invocation_id)
                if self._reports(known.status, None):
                    events.append(InvocationEvent(kind=EventKind.GONE, invocation=known))
            elif not in_window and self.is_final(known) and self._given is None:
                del self._known[invocation_id]  # older than the window and done: forgotten
        return events

    def _stale(self, before: Invocation, after: Invocation) -> bool:
        """Whether ``after`` shows a final invocation as it was before (a lagging replica).

        A final status is one after which an invocation no longer changes; which ones are
        the caller's to say (``final_statuses=``), the order is the API's: an answer that
        shows one back in a status that comes earlier (queued, then running) is stale, not
        a move. A move on from one the caller calls final (running, then succeeded) is not.
        """
        if not self.is_final(before) or self.is_final(after):
            return False
        now = str(after.status)
        was = str(before.status)
        earlier = _WALKABLE.index(now) if now in _WALKABLE else None
        return earlier is not None and earlier < (
            _WALKABLE.index(was) if was in _WALKABLE else len(_WALKABLE)
        )

    def _update(self, invocation: Invocation, *, quiet: bool) -> list[InvocationEvent]:
        before = self._known.get(invocation.id)
        if before is not None and self._stale(before, invocation):
            return []
        self._known[invocation.id] = invocation
        if self._given is not None and self.is_final(invocation):
            self._done.add(invocation.id)
        if before is None:
            if quiet or not self._reports(invocation.status, None):
                return []
            return [InvocationEvent(kind=EventKind.SEEN, invocation=invocation)]
        if before.status == invocation.status or not self._reports(
            invocation.status, before.status
        ):
            return []
        return [
            InvocationEvent(
                kind=EventKind.CHANGED, invocation=invocation, previous_status=before.status
            )
        ]

    def _reports(self, status: object, previous: object) -> bool:
        if self._statuses is None:
            return True
        return str(status) in self._statuses or (
            previous is not None and str(previous) in self._statuses
        )


def _oldest_first(invocation: Invocation) -> tuple[int, str]:
    # A feed reads forward in time. Ties keep a stable order, by id.
    return (invocation.started_at_ns, invocation.id)
