"""The walk behind a listing: its state, and the steps that deliver its pages in order.

:class:`ListingWalk` is the base of :class:`~kernel_async._listing.InvocationListing`, which
adds what its user calls and reads. The plan (:class:`~kernel_async._walk.WalkPlan`) decides
what to request and what to deliver, the requests run as tasks of
:class:`~kernel_async._page_tasks.PageTasks`, and the walk delivers what the plan says, in
order, to its one consumer: it launches the requests the plan asks for, steers an adaptive
window by what it measures, waits for the page at the head, and ends (every request awaited)
when the plan is done, a page fails or the deadline passes.

Cancellation safety: the only await while walking is the wait for the next page in order, and
it does not cancel that page's request. Every change to the plan and the buffer happens after
it, with no await in between, so a cancellation (``asyncio.timeout``, ``wait_for`` around each
item, a failing ``TaskGroup`` sibling) loses nothing: iterating again carries on exactly where
the walk was, and so does a new listing from :attr:`InvocationListing.resume_token`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs

from kernel_async._anchor import Anchor
from kernel_async._errors import APIConnectionError, APITimeoutError
from kernel_async._models import Invocation, Page
from kernel_async._page_tasks import FetchPage, PageTasks, arrival
from kernel_async._pages import AsyncInvocationPage  # for get_type_hints() at run time
from kernel_async._resume import ResumeToken
from kernel_async._walk import WalkPlan
from kernel_async._walk_records import Request
from kernel_async._window import AdaptiveWindow

__all__ = ["ListingWalk"]

_TOKEN_TAIL: Final = 9  # items of the previous batch kept for the resume token


class ListingWalk:
    """The state of a listing's walk, and the steps that advance it (see the module docs)."""

    def __init__(
        self,
        fetch: FetchPage,
        *,
        plan: WalkPlan,
        prefetch: int,
        filters: Mapping[str, str],
        deadline: float | None = None,
        resumed_from: ResumeToken | None = None,
        adaptive: AdaptiveWindow | None = None,
        pushbacks: Callable[[], int] | None = None,
        first_page: Callable[[], Awaitable[AsyncInvocationPage]] | None = None,
    ) -> None:
        self._first_page = first_page
        self._plan = plan
        self._prefetch = prefetch
        self._filters = dict(filters)
        self._deadline = deadline
        self._deadline_at: float | None = None  # set when the first request starts
        self._tasks = PageTasks(fetch, adaptive)  # the requests in flight or buffered
        self._batch: tuple[Invocation, ...] = ()  # the items of the page being consumed
        self._batch_start = 0  # the position of _batch[0]
        self._index = 0  # the next item of _batch to yield
        self._previous: tuple[Invocation, ...] = ()  # the last items consumed before _batch
        # The last invocation consumed before _batch, with its ties: what a token resumes after.
        self._consumed = resumed_from.anchor() if resumed_from is not None else None
        self._page: Page | None = None  # the page the batch came from, for pages()
        self._mode: str | None = None
        self._busy = False
        self._consumer: asyncio.Task[Any] | None = None  # the task iterating, once one does
        self._closed = False
        self._told_end = False  # the consumer saw the end (StopAsyncIteration or the error)
        self._error: BaseException | None = None
        # An adaptive window (prefetch=None) and what it learns from: the first round trips
        # (PageTasks times them), waits for the network or pages waiting, and the client's
        # "slow down" answers.
        self._adaptive = adaptive
        self._pushbacks = pushbacks
        self._pushbacks_seen = pushbacks() if pushbacks is not None else 0

    def _claim(self, mode: str) -> None:
        if self._mode is not None and self._mode != mode:
            raise RuntimeError(f"this listing is already being iterated by {self._mode}")
        self._check_consumer()
        if self._told_end or (self._closed and not self._plan.complete):
            what = f"failed ({type(self._error).__name__})" if self._error else "ended"
            raise RuntimeError(
                f"this listing has {what}; a listing is walked once. Call "
                "client.invocations.list() again, with resume=listing.resume_token to carry on"
            )
        self._mode = mode

    async def _next_page(self) -> Page:
        """The next page for :meth:`pages`: the batch :meth:`_advance` loaded, as a whole."""
        if not await self._advance():
            self._told_end = True
            raise StopAsyncIteration
        self._index = len(self._batch)
        page = self._page
        assert page is not None
        return attrs.evolve(page, items=self._batch, offset=self._batch_start)

    def _launch(self, requests: list[Request]) -> None:
        if not requests:
            return
        if self._deadline is not None and self._deadline_at is None:
            self._deadline_at = asyncio.get_running_loop().time() + self._deadline
        self._tasks.launch(requests, self._deadline_at)

    def _steer(self) -> None:
        """Tell the plan how many pages it may have in flight now (adaptive walks only)."""
        adaptive = self._adaptive
        if adaptive is None:
            return
        if self._pushbacks is not None:
            seen = self._pushbacks()
            for _ in range(seen - self._pushbacks_seen):  # each "slow down" halves the window
                adaptive.pushback()
            self._pushbacks_seen = seen
        self._plan.set_max_window(adaptive.decide())

    def _observe_wait(self, head: Request, *, ready: bool) -> None:
        """Tell the adaptive window whether the walk is waiting on the network or ahead."""
        adaptive = self._adaptive
        if adaptive is None:
            return
        if ready:
            ahead = self._tasks.arrived(self._plan.scheduled[1:])
            adaptive.waited(network=False, ready_ahead=ahead, at=asyncio.get_running_loop().time())
        else:
            network = self._tasks.running() >= self._plan.window
            adaptive.waited(network=network, ready_ahead=0, at=asyncio.get_running_loop().time())

    async def _end(self, error: BaseException | None) -> bool:
        """End the walk (with ``error`` raised, if any) once every request has finished."""
        self._closed = True
        if error is not None:
            self._error = error
        self._tasks.discard(self._plan.close())
        await self._tasks.reap()
        if error is not None:
            self._told_end = True
            raise error
        return False

    def _check_consumer(self) -> None:
        """One task iterates a listing; another may start iterating once that one has ended.

        Checked when an iteration starts (``async for``, ``pages()``), not at every item or
        page: an iterator handed to another task (the rest of a walk streamed by a web
        framework's task, say) goes on there.
        """
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop: iter() outside async code
            return
        consumer = self._consumer
        if consumer is not None and consumer is not task and not consumer.done():
            raise RuntimeError(
                f"another task ({consumer.get_name()}) is iterating this listing; a listing "
                "has one consumer at a time (hand it over once that task has ended)"
            )
        self._consumer = task

    async def _advance(self) -> bool:
        """Load the next page with something new into the buffer; ``False`` at the end."""
        if self._busy:
            raise RuntimeError(
                "another task is iterating this listing; a listing has one consumer at a time"
            )
        self._busy = True
        try:
            return await self._next_batch()
        finally:
            self._busy = False

    async def _next_batch(self) -> bool:
        if self._closed:
            if self._error is not None and not self._told_end:
                self._told_end = True  # the cleanup before raising it was interrupted
                raise self._error
            return False  # what is still buffered stays where resume_token says it is
        self._release_batch()
        plan = self._plan
        while True:
            if self._was_closed():
                return False
            if plan.done:
                return await self._end(None)
            if self._deadline_passed() and not self._head_ready():
                # A slow consumer does not stretch the walk: it ends at a page boundary, once
                # the pages that already arrived are delivered.
                error = APITimeoutError(
                    f"the walk's deadline of {self._deadline} s passed", limit="deadline"
                )
                return await self._end(error)
            self._steer()
            self._launch(plan.plan(self._prefetch))
            head = plan.head
            assert head is not None  # the plan always has the next page in flight
            task = self._tasks.get(head.key)
            assert task is not None  # the plan's head is always in flight or buffered
            self._observe_wait(head, ready=task.done())
            if not task.done():
                # The only await of the walk. The wait does not cancel the request if we
                # are cancelled here, and nothing has changed yet: going on is exact.
                await arrival(task)
                if self._was_closed():  # by aclose() in another task: end normally
                    return False
            try:
                page = self._result(task, head)
                accepted = plan.accept(head.key, page)
            except Exception as error:  # noqa: BLE001 - the page's error, whatever it is
                return await self._end(error)
            if not plan.holds(head.key):  # a page that floats is kept until it can be placed
                self._tasks.taken(head.key)
            self._tasks.discard(accepted.discard)
            if not accepted.items:
                continue
            self._batch, self._batch_start, self._index = accepted.items, accepted.start, 0
            self._page = page if accepted.page is None else accepted.page
            # This page is now being consumed and takes one slot of the window.
            self._steer()
            self._launch(plan.plan(self._prefetch - 1))
            return True

    def _deadline_passed(self) -> bool:
        deadline_at = self._deadline_at
        return deadline_at is not None and asyncio.get_running_loop().time() >= deadline_at

    def _head_ready(self) -> bool:
        head = self._plan.head
        task = self._tasks.get(head.key) if head is not None else None
        return task is not None and task.done()

    def _was_closed(self) -> bool:
        # A method, not the attribute: another task may have closed the listing during the
        # await, which a type checker's narrowing of `self._closed` cannot know.
        return self._closed

    def _release_batch(self) -> None:
        """Forget the consumed page before waiting for the next (bounded memory)."""
        consumed = self._batch[: self._index]
        if consumed:
            self._previous = (self._previous + consumed[-_TOKEN_TAIL:])[-_TOKEN_TAIL:]
            position = self._batch_start + len(consumed) - 1
            self._consumed = Anchor.after(consumed, position, self._consumed)
        self._batch, self._index = (), 0

    @staticmethod
    def _result(task: asyncio.Task[Page], request: Request) -> Page:
        if task.cancelled():
            # Nobody in this listing cancelled it (aclose() ends the walk before this point).
            raise APIConnectionError(f"the request for offset {request.offset} was cancelled")
        return task.result()
