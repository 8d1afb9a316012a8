"""The page requests of one walk, as tasks: started, waited for, discarded and reaped.

The listing (:mod:`kernel_async._listing`) decides with its plan which requests to make and
which to drop; this is where they run. Two promises are kept here:

- **Nothing outlives the walk.** A discarded request is cancelled at once and awaited by
  :meth:`PageTasks.reap` (``aclose()``, or the end of the walk); a listing dropped without
  closing cancels every request it still has (:meth:`PageTasks.cancel_all`).
- **A discarded request's failure is not the walk's.** Its exception is marked retrieved, so
  asyncio logs no "Task exception was never retrieved" for it. Pages that are used need no
  callback for that: their result is read by the walk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from kernel_async._models import Page
from kernel_async._tasks import cancel_and_wait
from kernel_async._walk_records import Request
from kernel_async._window import AdaptiveWindow

__all__ = ["FetchPage", "PageTasks", "arrival"]

FetchPage = Callable[[int, int | None, float | None], Coroutine[Any, Any, Page]]
"""Fetch the page at an offset, of a ``limit`` (``None``: the walk's page size), within a
deadline (loop time); the client binds the filters."""


def _retrieve(task: asyncio.Task[Page]) -> None:
    if not task.cancelled():
        task.exception()


def _timed(
    adaptive: AdaptiveWindow, started: float, after_first: bool, task: asyncio.Task[Page]
) -> None:
    # The first page with items tells the adaptive window a round trip, and the first with
    # items among those requested after it arrived tells it again, without the set-up.
    if not task.cancelled() and task.exception() is None:
        round_trip, items = task.get_loop().time() - started, len(task.result())
        if after_first:
            adaptive.next_page(round_trip, items)
        else:
            adaptive.first_page(round_trip, items)


def _cancel(tasks: list[asyncio.Task[Page]]) -> None:
    for task in tasks:
        if task.done():
            _retrieve(task)
        else:
            task.add_done_callback(_retrieve)
            task.cancel()


def _wake(waiter: asyncio.Future[None], _task: asyncio.Task[Page]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def arrival(task: asyncio.Task[Page]) -> None:
    """Wait until ``task`` is done, without cancelling it if the wait is cancelled.

    What ``asyncio.wait((task,))`` does, for one task and with less machinery: a walk waits
    like this for most of its pages.
    """
    waiter: asyncio.Future[None] = task.get_loop().create_future()
    wake = functools.partial(_wake, waiter)
    task.add_done_callback(wake)
    try:
        await waiter
    finally:
        task.remove_done_callback(wake)


class PageTasks:
    """The walk's requests in flight or buffered, by request key, and those it discarded.

    Args:
        fetch: Starts the request for a page (offset, limit, deadline in loop time).
        adaptive: The adaptive window, which learns the round trip from the first page that
            arrives with items, then from the first with items among the requests made after
            it arrived (``None`` for a fixed window).
    """

    def __init__(self, fetch: FetchPage, adaptive: AdaptiveWindow | None = None) -> None:
        self._fetch = fetch
        self._adaptive = adaptive
        self._by_key: dict[int, asyncio.Task[Page]] = {}
        self._discarded: set[asyncio.Task[Page]] = set()  # cancelled, not yet awaited

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: int) -> asyncio.Task[Page] | None:
        """The task of a request still held, if any."""
        return self._by_key.get(key)

    def running(self) -> int:
        """How many requests have not been answered yet."""
        return sum(1 for task in self._by_key.values() if not task.done())

    def arrived(self, requests: Iterable[Request]) -> int:
        """How many of these requests have their answer already."""
        return sum(
            1
            for request in requests
            if (task := self._by_key.get(request.key)) is not None and task.done()
        )

    def launch(self, requests: list[Request], deadline_at: float | None) -> None:
        """Start a task per request."""
        loop = asyncio.get_running_loop()
        # Until the adaptive window has learnt the round trip, each request reports its own.
        adaptive = self._adaptive if self._adaptive and self._adaptive.learning else None
        for request in requests:
            task = loop.create_task(
                self._fetch(request.offset, request.limit, deadline_at),
                name=f"kernel-async: page at offset {request.offset}",
            )
            if adaptive is not None:
                timed = functools.partial(_timed, adaptive, loop.time(), adaptive.started)
                task.add_done_callback(timed)
            self._by_key[request.key] = task

    def taken(self, key: int) -> None:
        """The walk has read this request's page: forget its task."""
        del self._by_key[key]

    def discard(self, keys: Iterable[int]) -> None:
        """Cancel these requests now; they are awaited later (:meth:`reap`), not here."""
        for key in keys:
            task = self._by_key.pop(key, None)
            if task is None:
                continue
            if task.done():
                _retrieve(task)
            else:
                # Its failure, if it fails before the cancellation lands, is not the walk's.
                task.add_done_callback(_retrieve)
                task.cancel()
                self._discarded.add(task)
        if self._discarded:
            self._discarded = {task for task in self._discarded if not task.done()}

    async def reap(self) -> None:
        """Discard every request left and wait until all those discarded have finished.

        Every caller waits for all of them: a second ``aclose()`` (the consumer's ``async
        with``, while another task closes the listing) returns no sooner than the first.
        """
        self.discard(tuple(self._by_key))
        try:
            await cancel_and_wait(tuple(self._discarded))
        finally:
            self._discarded = {task for task in self._discarded if not task.done()}

    def __del__(self) -> None:
        # The tasks are held here: whoever drops this object last, none outlives it.
        if getattr(self, "_by_key", None) is not None:
            self.cancel_all()

    def cancel_all(self) -> None:
        """Cancel everything without waiting (a listing dropped unclosed: nothing can wait).

        From any thread: a listing's last reference may go in another one (a worker, a
        garbage collection there), and a task may be cancelled only in its loop's thread.
        """
        tasks = [*self._by_key.values(), *self._discarded]
        if not tasks:
            return
        loop = tasks[0].get_loop()  # a walk's tasks all run in its loop
        if loop.is_closed():
            for task in tasks:
                if task.done():
                    _retrieve(task)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            _cancel(tasks)
        else:
            # The loop may close meanwhile: then nothing runs any more, nothing to cancel.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_cancel, tasks)
