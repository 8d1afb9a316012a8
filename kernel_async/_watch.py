"""``InvocationWatch``: follow invocations as they start and change, by polling.

The rules (what a poll asks, what it reports, what is remembered) are
:class:`~kernel_async._watch_state.WatchState`'s, and the walks and lookups of a poll are
made by :class:`~kernel_async._watch_ask.PollQuestions`; this module runs the polls and
sleeps between them. Like the listing it is a class, not an async generator, and it starts no task
of its own: each poll runs in the task that iterates the watch, and closes the walks it
makes, so leaving the watch (``break``, an error, a cancellation) leaves nothing running.
:meth:`InvocationWatch.aclose` from another task stops a poll in progress the way
``asyncio.timeout`` stops its block: it cancels the iterating task, which takes that
cancellation back when it leaves the poll (so it never reaches the caller), and waits until
it has. A poll changes the watch's memory only once all its answers are in: a cancelled,
stopped or failed poll changed nothing, and a failed or cancelled one is asked again, whole,
on the next iteration.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from kernel_async._errors import APIStatusError
from kernel_async._models import Invocation, InvocationStatus
from kernel_async._retry import THROTTLE_STATUSES, parse_retry_after
from kernel_async._watch_ask import PollQuestions, WatchRequests
from kernel_async._watch_poll import MAX_INTERVAL, next_wait
from kernel_async._watch_state import EventKind, InvocationEvent, WatchState

__all__ = ["MAX_INTERVAL", "FailureStream", "InvocationWatch"]


class InvocationWatch:
    """Invocations as they start, change status and go: an async iterator of events.

    Returned by :meth:`Invocations.watch`; iterate it with ``async for``, inside
    ``async with`` (or close it with :meth:`aclose`)::

        async with client.invocations.watch(app_name="invoice-bot") as watch:
            async for event in watch:
                print(event.kind, event.invocation.id, event.previous_status, event.status)

    A watch of filters never ends by itself: stop it with ``break``, :meth:`aclose` (from
    any task, also in the middle of a poll) or a cancellation. A watch of given invocations
    ends once each is final or gone. When a poll fails (after the client's retries) the
    exception is raised and nothing is lost: iterating the watch again polls again, from
    where it was.
    """

    def __init__(
        self, state: WatchState, requests: WatchRequests, *, interval: float, deadline: float | None
    ) -> None:
        self._state = state
        self._requests = requests
        self._questions = PollQuestions(requests, deadline=deadline)
        self._interval = interval
        self._wait = 0.0  # before the first poll: none
        self._events: deque[InvocationEvent] = deque()
        self._closed = False
        self._started = time.monotonic()
        self._busy = False
        self._consumer_task: asyncio.Task[object] | None = None  # the task polling, if any
        self._stopping = False  # aclose() cancelled the consumer's task, once
        self._idle = asyncio.Event()  # no consumer is polling
        self._idle.set()
        self.error: BaseException | None = None
        """The exception that ended the last iteration, if one did (the watch can go on)."""

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"<InvocationWatch {state} polls={self.polls} remembered={self.remembered} "
            f"interval={self._interval}>"
        )

    # -- what it did -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def finished(self) -> bool:
        """For a watch of given invocations: whether each is final or gone."""
        return self._state.finished

    @property
    def polls(self) -> int:
        """How many polls have completed."""
        return self._state.polls

    @property
    def requests(self) -> int:
        """How many walks and lookups the polls have started.

        A walk may send several page requests; the watch guide says what a poll costs.
        """
        return self._questions.sent

    @property
    def possible_gaps(self) -> int:
        """Polls that moved on after walks that may have missed an invocation.

        A walk that counts a possible gap (heavy churn) is made again on the next poll; after
        two in a row the watch moves on and counts one here. 0: nothing was missed.
        """
        return self._state.possible_gaps

    @property
    def incomplete_polls(self) -> int:
        """Polls with a walk that counted a possible gap (heavy churn, small pages).

        The next poll walks the same ground again, so what such a poll missed is reported
        late, as one event, unless it ended in between (then :attr:`possible_gaps` counts).
        """
        return self._state.incomplete_polls

    @property
    def remembered(self) -> int:
        """How many invocations the watch keeps in memory: the window and those in flight."""
        return self._state.remembered

    @property
    def in_flight(self) -> tuple[Invocation, ...]:
        """The invocations followed because they have not reached a final status yet."""
        return self._state.in_flight

    @property
    def interval(self) -> float:
        """Seconds the watch waits before its next poll.

        None before the first; then the interval asked for, or longer after pushback.
        """
        return self._wait

    def latest(self, invocation_id: str) -> Invocation | None:
        """The invocation with this id as the watch last saw it, if it remembers it."""
        return self._state.latest(invocation_id)

    # -- iterating ---------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> InvocationEvent:
        while not self.closed:
            if self._events:
                return self._events.popleft()
            if self._state.finished:
                break
            async with self._consumer():
                await self._next_poll()
        raise StopAsyncIteration

    async def poll(self) -> list[InvocationEvent]:
        """Poll now, whatever the interval, and return what it saw.

        For code that keeps its own time (a scheduled job, a test): the events not yet
        delivered by iteration come first, then this poll's. Raises as iteration does;
        after a failed poll, nothing is lost. Stopped by :meth:`aclose` from another task,
        it returns no events, as iteration ends.
        """
        if self.closed:
            raise RuntimeError("this watch is closed")
        async with self._consumer():
            if not self._state.finished:
                await self._poll()
        events = list(self._events)  # none once closed: see _consumer()
        self._events.clear()
        return events

    @asynccontextmanager
    async def _consumer(self) -> AsyncIterator[None]:
        """One poll (and the wait before it) at a time, in the task that asked for it.

        The watch has one consumer. The error that ends a poll is kept in :attr:`error`; a
        poll that :meth:`aclose` stopped ends quietly (see :meth:`_take_back_stop`).
        """
        if self._busy:
            raise RuntimeError("another task is iterating this watch; it has one consumer")
        self._busy = True
        self._consumer_task = task = asyncio.current_task()
        self._idle.clear()
        try:
            yield
        except BaseException as error:
            if self._take_back_stop(task) and isinstance(error, Exception | asyncio.CancelledError):
                # Stopped by aclose(): whatever the poll raised on its way out (the
                # cancellation, or an error that met it) ends the iteration normally.
                return
            if not isinstance(error, asyncio.CancelledError | GeneratorExit):
                self.error = error
            raise
        else:
            self._take_back_stop(task)  # a poll that swallowed the cancellation: balanced
        finally:
            if self._closed:
                self._events.clear()  # closed meanwhile: nothing more is delivered
            self._busy = False
            self._consumer_task = None
            self._idle.set()

    def _take_back_stop(self, task: asyncio.Task[object] | None) -> bool:
        """Take back the cancellation :meth:`aclose` sent the consumer's task, if it sent one.

        True when it did and nobody else has cancelled that task meanwhile: then the poll
        ends quietly. Otherwise another cancellation goes on, as ``asyncio.timeout`` passes
        on one it did not make. The cancellation always met the poll: it was sent while the
        task waited inside it, and a task's cancellation is raised where it waits.
        """
        if not self._stopping or task is None:
            return False
        self._stopping = False
        return task.uncancel() == 0

    async def aclose(self) -> None:
        """Stop the watch, from any task; calling it again does nothing more.

        A poll in progress in another task is stopped: its walks and lookups are cancelled
        and awaited before this returns, so nothing is sent after it, and that task's
        iteration ends normally (:meth:`poll` returns no events), as it does for a task
        waiting between two polls. The stopped poll changed nothing the watch remembers
        (:attr:`polls` does not count it), and events not yet delivered are not delivered.
        """
        self._closed = True
        self._events.clear()
        task = self._consumer_task
        if task is None or task is asyncio.current_task():
            return
        if not self._stopping:
            self._stopping = True
            task.cancel("the watch was closed")  # taken back by _consumer()
        await self._idle.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- polling -----------------------------------------------------------------------------

    async def _next_poll(self) -> None:
        """Wait out the interval, then poll (aclose() stops the wait as it stops a poll)."""
        if self._wait > 0:
            await asyncio.sleep(self._wait)
        await self._poll()

    async def _poll(self) -> None:
        pushbacks = self._requests.pushbacks()
        plan = self._state.plan(time.monotonic() - self._started)
        try:
            answers = await self._questions.ask(plan)
        except APIStatusError as error:
            if error.status in THROTTLE_STATUSES:
                # The poll failed on a pushback (no retries left, or a Retry-After above
                # the client's cap): whoever iterates again waits longer, and as asked.
                asked = parse_retry_after(error.headers, now=time.time())
                self._wait = next_wait(self._wait, self._interval, pushed_back=True, asked=asked)
            raise
        # Everything is in: only now does the watch's memory change (see the module docs).
        self._events.extend(self._state.observe(plan, answers))
        # Pushed back during the poll (429 or 503; the client honoured each Retry-After
        # already): wait longer before the next one.
        pushed_back = self._requests.pushbacks() > pushbacks
        self._wait = next_wait(self._wait, self._interval, pushed_back=pushed_back)


class FailureStream:
    """The invocations a watch sees fail, as they fail, each once.

    Returned by :meth:`Invocations.failures`: an async iterator of :class:`Invocation` and
    an async context manager, built on a watch (:attr:`watch`).
    """

    def __init__(self, watch: InvocationWatch) -> None:
        self.watch = watch
        """The watch the failures come from."""

    def __repr__(self) -> str:
        return f"<FailureStream of {self.watch!r}>"

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Invocation:
        async for event in self.watch:
            if event.kind is not EventKind.GONE and event.status == InvocationStatus.FAILED:
                return event.invocation
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop the watch."""
        await self.watch.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
