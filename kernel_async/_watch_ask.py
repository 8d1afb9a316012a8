"""A poll's questions, asked: the walks and lookups one poll of a watch makes.

:class:`~kernel_async._watch_poll.PollPlan` says what a poll asks (a window of recent
invocations, those in flight by status, and lookups by id of the ones followed that neither
showed); :class:`PollQuestions` asks it through the client (:class:`WatchRequests`) and
hands the answers back whole (:class:`~kernel_async._watch_poll.PollAnswers`), for
:class:`~kernel_async._watch_state.WatchState` to judge. Walks run one after another in the
polling task; lookups run at once in a task group of that task, so a poll that fails or is
cancelled leaves nothing running. Every walk is closed, and every request awaited, before a
poll returns or raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Final, Protocol

from kernel_async._errors import APITimeoutError
from kernel_async._models import Invocation, Page
from kernel_async._watch_poll import PollAnswers, PollPlan, merged, unplaced, widened_since

__all__ = ["PollQuestions", "WatchRequests", "WatchWalk"]


_LOOKUP_PAGES: Final = 10
"""The most pages a lookup by id reads in one poll (others named like the id come first)."""


class _Unknown:
    """A lookup that could not tell whether the invocation is there."""


_UNKNOWN: Final = _Unknown()


class WatchWalk(Protocol):
    """What a poll uses of a walk: an :class:`~kernel_async.InvocationListing`."""

    @property
    def possible_gaps(self) -> int:
        """Page boundaries where the walk could not prove it missed nothing."""
        ...

    def __aiter__(self) -> AsyncIterator[Invocation]:
        """The invocations, each once."""
        ...

    async def aclose(self) -> None:
        """Cancel and await every request still in flight."""
        ...


class WatchRequests(Protocol):
    """The requests a watch makes, with its filters and options bound."""

    def walk(self, *, since: str | None, status: str | None, deadline: float | None) -> WatchWalk:
        """A walk of the watch's filters with this ``since`` (``None``: any age), ``status``."""
        ...

    def lookup(self, invocation_id: str, *, offset: int, deadline: float | None) -> Awaitable[Page]:
        """One page of ``query=<id>`` within the watch's filters, from ``offset``."""
        ...

    def pushbacks(self) -> int:
        """How often the server has asked the client to slow down, so far."""
        ...

    @property
    def lookups_at_once(self) -> int:
        """How many lookups may be in flight at once."""
        ...


class PollQuestions:
    """The walks and lookups of each poll, through ``requests``, within ``deadline`` seconds.

    :attr:`sent` counts them as they are started, failed or not (what
    :attr:`InvocationWatch.requests <kernel_async.InvocationWatch.requests>` reports).
    """

    def __init__(self, requests: WatchRequests, *, deadline: float | None) -> None:
        self._requests = requests
        self._deadline = deadline
        self.sent = 0

    async def ask(self, plan: PollPlan) -> PollAnswers:
        """Make the poll's walks and lookups; raises what the first failure raised."""
        loop = asyncio.get_running_loop()
        deadline_at = None if self._deadline is None else loop.time() + self._deadline
        window: list[Invocation] = []
        complete = True
        if plan.since is not None:
            window, complete = await self._collect(plan.since, None, deadline_at)
        widened: list[Invocation] = []
        widened_complete = True
        if (since := widened_since(plan, window)) is not None:
            widened, widened_complete = await self._collect(since, None, deadline_at)
            if plan.since is not None and unplaced(window, widened):
                # Listed before the window's start, or inside it since its walk: the
                # window's second walk finds the second kind, reported as new.
                again, again_complete = await self._collect(plan.since, None, deadline_at)
                window, complete = merged(window, again), complete and again_complete
        in_flight: list[Invocation] = []
        in_flight_complete = True
        for status in plan.in_flight:
            found, walked_all = await self._collect(plan.in_flight_since, status, deadline_at)
            in_flight += found
            in_flight_complete = in_flight_complete and walked_all
        seen = {i.id for i in window} | {i.id for i in widened} | {i.id for i in in_flight}
        missing = [i for i in plan.follow if i not in seen]
        lookups = asyncio.Semaphore(self._requests.lookups_at_once)

        async def find(invocation_id: str) -> Invocation | _Unknown | None:
            # ``query`` searches ids, app and action names: others named like the id may
            # come first, so the lookup reads on while the pages have more, and only the last
            # page shows that the invocation is not there.
            offset = 0
            for _ in range(_LOOKUP_PAGES):
                async with lookups:
                    self.sent += 1  # counted as sent, as a walk is
                    page = await self._requests.lookup(
                        invocation_id, offset=offset, deadline=self._remaining(deadline_at)
                    )
                match = next((i for i in page.items if i.id == invocation_id), None)
                if match is not None or not page.has_more or page.next_offset is None:
                    return match
                offset = page.next_offset
            return _UNKNOWN  # so many named like it: left for the next poll

        # Each lookup runs in this task's TaskGroup: cancelled and awaited with the poll.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = {i: group.create_task(find(i)) for i in missing}
        except BaseExceptionGroup as failed:
            # The poll raises what failed, as a walk does (the docs' resume recipe catches
            # APIError), not the TaskGroup's wrapper; the other lookups were cancelled.
            raise failed.exceptions[0] from None
        looked_up = {
            i: result
            for i, task in tasks.items()
            if not isinstance(result := task.result(), _Unknown)
        }
        return PollAnswers(
            window=window,
            window_complete=complete,
            widened=widened,
            widened_complete=widened_complete,
            in_flight=in_flight,
            in_flight_complete=in_flight_complete,
            looked_up=looked_up,
        )

    async def _collect(
        self, since: str | None, status: str | None, deadline_at: float | None
    ) -> tuple[list[Invocation], bool]:
        self.sent += 1
        listing = self._requests.walk(
            since=since, status=status, deadline=self._remaining(deadline_at)
        )
        try:
            found = [invocation async for invocation in listing]
        finally:
            await listing.aclose()  # failed or cancelled: every request awaited
        return found, listing.possible_gaps == 0

    def _remaining(self, deadline_at: float | None) -> float | None:
        if deadline_at is None:
            return None
        remaining = deadline_at - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise APITimeoutError(
                f"the poll's deadline of {self._deadline} s passed", limit="deadline"
            )
        return remaining
