"""``InvocationListing``: the async iterator that walks pages concurrently.

The plan (:class:`~kernel_async._walk.WalkPlan`) decides what to request and deliver; this
module only runs the requests as tasks and cleans up after them. It is a class, not an async
generator, on purpose (FIELD-NOTES section 2): ``break`` out of ``async for`` does not close an
async generator until garbage collection, and a task group inside a generator that yields
breaks ``aclose()`` on 3.11-3.13. Here ``aclose()`` (and ``async with``) cancels and awaits
every request before returning; dropping an unclosed listing cancels them too.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Self

import attrs

from kernel_async._errors import APITimeoutError
from kernel_async._models import Invocation, Page
from kernel_async._walk import WalkPlan

__all__ = ["InvocationListing"]

FetchPage = Callable[[int, float | None], Awaitable[Page]]
"""Fetch the page at an offset within a deadline (loop time); the client binds the filters."""


def _retrieve(task: asyncio.Task[Page]) -> None:
    # A discarded request's failure is not the walk's failure: mark it retrieved so asyncio
    # does not log "Task exception was never retrieved".
    if not task.cancelled():
        task.exception()


class InvocationListing:
    """Every invocation matching the filters, newest first, fetched several pages at a time.

    Returned by :meth:`Invocations.list`; iterate it with ``async for``, preferably inside
    ``async with`` so that leaving early cancels and awaits the requests still in flight::

        async with client.invocations.list(status="failed") as invocations:
            async for invocation in invocations:
                ...

    At most ``prefetch`` pages are requested, buffered or being consumed at once. Items come
    in the server's order; a failing page raises when its turn comes, after every item before
    it, and :attr:`resume_offset` says where to start again.
    """

    def __init__(
        self,
        fetch: FetchPage,
        *,
        start: int,
        prefetch: int,
        max_items: int | None,
        dedupe: bool,
        deadline: float | None = None,
    ) -> None:
        self._fetch = fetch
        self._deadline = deadline
        self._deadline_at: float | None = None  # set when the first request starts
        self._prefetch = prefetch
        self._plan = WalkPlan(start=start, max_items=max_items, dedupe=dedupe)
        self._window: dict[int, asyncio.Task[Page]] = {}
        self._items: deque[Invocation] = deque()
        self._current: Page | None = None
        self._current_raw: tuple[Invocation, ...] = ()
        self._mode: str | None = None
        self._closed = False
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<InvocationListing {state} prefetch={self._prefetch} "
            f"resume_offset={self.resume_offset} in_flight={len(self._window)}>"
        )

    # -- public surface --------------------------------------------------------------------

    @property
    def resume_offset(self) -> int | None:
        """The absolute offset of the next item not yet delivered; ``None`` once complete.

        After an error, or after leaving early, pass it as ``offset=`` to a new listing with
        the same filters to carry on where this one stopped.
        """
        if self._items and self._current is not None:
            # Part of the current page is still buffered: resume at its next item.
            return self._current.offset + self._current_raw.index(self._items[0])
        return self._plan.resume_offset

    @property
    def error(self) -> BaseException | None:
        """The exception that ended the walk, if one did."""
        return self._error

    @property
    def in_flight(self) -> int:
        """How many page requests are running or buffered right now."""
        return len(self._window)

    @property
    def resyncs(self) -> int:
        """How often speculation was thrown away (a capped page size, or shifting data)."""
        return self._plan.resyncs

    def __aiter__(self) -> Self:
        self._claim("items")
        return self

    async def __anext__(self) -> Invocation:
        if self._closed:
            raise StopAsyncIteration
        while not self._items:
            page = await self._next_page()
            if page is None:
                raise StopAsyncIteration
            self._items.extend(page.items)
        return self._items.popleft()

    def pages(self) -> AsyncIterator[Page]:
        """Iterate page by page instead: each :class:`Page` with its headers.

        Pages carry the items a plain item walk would yield (repeats dropped when deduping,
        cut at ``max_items``). A listing is walked either by item or by page, not both.
        """
        self._claim("pages")
        return self._iterate_pages()

    async def aclose(self) -> None:
        """Stop the walk: cancel and await every request still in flight. Idempotent.

        :attr:`resume_offset` still says where the walk stopped.
        """
        self._closed = True
        await self._cancel(self._plan.close())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped without aclose() (a bare `break`): nothing can be awaited here, but every
        # request is cancelled, so none outlives the listing. `async with` also waits for
        # them, which is why it is recommended.
        for task in getattr(self, "_window", {}).values():
            if not task.done() and not task.get_loop().is_closed():
                task.cancel()

    # -- the walk ----------------------------------------------------------------------------

    def _claim(self, mode: str) -> None:
        if self._mode is not None and self._mode != mode:
            raise RuntimeError(f"this listing is already being iterated by {self._mode}")
        self._mode = mode

    async def _iterate_pages(self) -> AsyncIterator[Page]:
        while (page := await self._next_page()) is not None:
            yield page

    def _launch(self, offsets: list[int]) -> None:
        if offsets and self._deadline is not None and self._deadline_at is None:
            self._deadline_at = asyncio.get_running_loop().time() + self._deadline
        for offset in offsets:
            task = asyncio.ensure_future(self._fetch(offset, self._deadline_at))
            task.set_name(f"kernel-async: page at offset {offset}")
            task.add_done_callback(_retrieve)
            self._window[offset] = task

    async def _cancel(self, offsets: tuple[int, ...]) -> None:
        """Cancel these requests and wait until every one of them has finished."""
        pending = {self._window.pop(offset) for offset in offsets if offset in self._window}
        for task in pending:
            task.cancel()
        interrupted = False
        while pending:
            # Like a TaskGroup, finish the cleanup even if we are cancelled meanwhile (the
            # requests are already cancelled, so this is short), then pass that on. Under
            # anyio (Starlette, FastAPI) a cancel scope re-delivers the cancellation at every
            # await, so progress is measured by what is done, not by `wait` returning.
            try:
                await asyncio.wait(pending)
            except asyncio.CancelledError:
                interrupted = True
            pending = {task for task in pending if not task.done()}
        if interrupted:
            raise asyncio.CancelledError

    async def _next_page(self) -> Page | None:
        """The next page in order, or ``None`` at the end; raises the page's error in turn."""
        self._current, self._current_raw = None, ()  # release the consumed page before waiting
        if self._closed:
            return None
        plan = self._plan
        if self._deadline_at is not None and asyncio.get_running_loop().time() >= self._deadline_at:
            # A slow consumer does not stretch the walk: it ends at a page boundary.
            self._error = APITimeoutError(
                f"the walk's deadline of {self._deadline} s passed", limit="deadline"
            )
            self._closed = True
            await self._cancel(plan.fail())
            raise self._error
        # The previous page is released: up to `prefetch` requests may be outstanding.
        self._launch(plan.plan(self._prefetch))
        if not plan.scheduled:
            self._closed = True
            return None
        offset = plan.scheduled[0]
        try:
            page = await self._window[offset]
        except BaseException as exc:
            # The head page failed, or the consumer was cancelled while waiting for it: stop
            # everything before the exception travels on (the original one, unchanged).
            self._window.pop(offset, None)
            if not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                self._error = exc
            self._closed = True
            await self._cancel(plan.fail())
            raise
        del self._window[offset]
        accepted = plan.accept(page)
        await self._cancel(accepted.discard)
        # This page is now being consumed and takes one slot of the window.
        self._launch(plan.plan(self._prefetch - 1))
        self._current_raw = page.items
        self._current = attrs.evolve(page, items=accepted.items)
        return self._current
