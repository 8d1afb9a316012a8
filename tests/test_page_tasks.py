"""A walk's page requests as tasks: discarded at once, reaped, never failing the walk unseen."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

from kernel_async import APIConnectionError, Invocation, Page
from kernel_async._page_tasks import PageTasks, arrival
from kernel_async._walk_records import Request
from kernel_async._window import AdaptiveWindow
from kernel_async.testing import make_invocation


def page(offset: int) -> Page:
    return Page(items=(), offset=offset, limit=100, has_more=False, next_offset=None)


class Fetches:
    """A FetchPage whose requests wait until the test answers them."""

    def __init__(self) -> None:
        self.answers: dict[int, asyncio.Future[Page]] = {}
        self.cancelled: list[int] = []

    async def __call__(self, offset: int, limit: int | None, deadline_at: float | None) -> Page:
        answer = self.answers[offset] = asyncio.get_running_loop().create_future()
        try:
            return await answer
        except asyncio.CancelledError:
            self.cancelled.append(offset)
            raise


async def test_a_discarded_request_is_cancelled_at_once_and_reaped() -> None:
    fetches = Fetches()
    tasks = PageTasks(fetches)
    tasks.launch([Request(0, 0), Request(1, 100)], None)
    await asyncio.sleep(0)
    task = tasks.get(1)
    assert task is not None
    tasks.discard([1])
    assert tasks.get(1) is None
    assert len(tasks) == 1
    await tasks.reap()  # the one left is discarded too, and both are awaited
    assert task.cancelled()
    assert sorted(fetches.cancelled) == [0, 100]
    assert len(tasks) == 0


async def test_a_discarded_request_that_fails_is_not_reported_as_unretrieved() -> None:
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _loop, context: reported.append(context)
    )

    async def failing(offset: int, limit: int | None, deadline_at: float | None) -> Page:
        raise APIConnectionError(f"offset {offset} failed")

    tasks = PageTasks(failing)
    tasks.launch([Request(0, 0), Request(1, 100)], None)
    await asyncio.sleep(0)  # both failed already
    tasks.discard([0])  # done: marked retrieved now
    tasks.launch([Request(2, 200)], None)
    tasks.discard([2])  # not started: cancelled, and retrieved if it fails first
    await tasks.reap()
    del tasks
    gc.collect()
    await asyncio.sleep(0)
    assert reported == []


async def test_a_used_page_needs_no_callback_and_its_failure_is_the_walks() -> None:
    fetches = Fetches()
    tasks = PageTasks(fetches)
    tasks.launch([Request(0, 0)], None)
    await asyncio.sleep(0)
    task = tasks.get(0)
    assert task is not None
    fetches.answers[0].set_exception(APIConnectionError("boom"))
    await arrival(task)
    with pytest.raises(APIConnectionError):
        task.result()
    tasks.taken(0)
    assert len(tasks) == 0


async def test_a_cancelled_wait_for_a_page_leaves_its_request_running() -> None:
    fetches = Fetches()
    tasks = PageTasks(fetches)
    tasks.launch([Request(0, 0)], None)
    task = tasks.get(0)
    assert task is not None
    waiting = asyncio.ensure_future(arrival(task))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not task.done()
    fetches.answers[0].set_result(page(0))
    await arrival(task)
    assert task.result().offset == 0
    await tasks.reap()


async def test_dropping_cancels_every_request_without_waiting() -> None:
    fetches = Fetches()
    tasks = PageTasks(fetches)
    tasks.launch([Request(0, 0), Request(1, 100)], None)
    await asyncio.sleep(0)
    running = [tasks.get(0), tasks.get(1)]
    tasks.cancel_all()
    await asyncio.sleep(0)
    assert all(task is not None and task.cancelled() for task in running)


async def test_the_first_page_with_items_teaches_the_adaptive_window() -> None:
    fetches = Fetches()
    adaptive = AdaptiveWindow(16)
    tasks = PageTasks(fetches, adaptive)
    tasks.launch([Request(0, 0), Request(1, 100)], None)
    await asyncio.sleep(0)
    empty = Page(items=(), offset=0, limit=100, has_more=True, next_offset=100)
    fetches.answers[0].set_result(empty)  # an empty page says nothing about the work per page
    first = tasks.get(0)
    assert first is not None
    await arrival(first)
    await asyncio.sleep(0)  # its done callbacks have run
    assert not adaptive.started
    item = Invocation.from_dict(make_invocation(id="i1"))
    full = Page(items=(item,), offset=100, limit=100, has_more=False, next_offset=None)
    fetches.answers[100].set_result(full)
    second = tasks.get(1)
    assert second is not None
    await arrival(second)
    await asyncio.sleep(0)
    assert adaptive.started
    assert 1 <= adaptive.decide() <= 16
    await tasks.reap()


async def test_a_request_made_after_the_first_page_teaches_the_window_again() -> None:
    # Launched once the first page had arrived, the next page's round trip is the one without
    # the connection's set-up: the policy hears it through next_page, once.
    fetches = Fetches()
    adaptive = AdaptiveWindow(16)
    tasks = PageTasks(fetches, adaptive)
    item = Invocation.from_dict(make_invocation(id="i1"))

    async def answer(key: int, offset: int) -> None:
        fetches.answers[offset].set_result(
            Page(items=(item,), offset=offset, limit=100, has_more=True, next_offset=offset + 1)
        )
        task = tasks.get(key)
        assert task is not None
        await arrival(task)
        await asyncio.sleep(0)  # its done callbacks have run

    tasks.launch([Request(0, 0), Request(9, 9)], None)
    await asyncio.sleep(0)
    await answer(0, 0)
    assert adaptive.started
    assert adaptive.learning
    await answer(9, 9)  # requested before the first page arrived: its set-up counts too
    assert adaptive.learning
    tasks.launch([Request(1, 1), Request(2, 2)], None)
    await asyncio.sleep(0)
    await answer(1, 1)
    assert not adaptive.learning  # the first request made after it has set the window again
    await tasks.reap()


async def test_two_reaps_at_once_both_wait_for_every_request() -> None:
    # Another task's aclose() and the consumer's `async with` exit, say: the second returns
    # no sooner than the first, though the requests take a few loop steps to unwind.
    unwinding: list[asyncio.Task[Any]] = []

    async def slow_to_cancel(offset: int, limit: int | None, deadline_at: float | None) -> Page:
        task = asyncio.current_task()
        assert task is not None
        unwinding.append(task)
        try:
            await asyncio.sleep(10)
        finally:
            for _ in range(20):
                await asyncio.sleep(0)
        raise AssertionError("cancelled before this")

    tasks = PageTasks(slow_to_cancel)
    tasks.launch([Request(0, 0), Request(1, 100), Request(2, 200)], None)
    await asyncio.sleep(0)
    first = asyncio.ensure_future(tasks.reap())
    await asyncio.sleep(0)
    await tasks.reap()
    assert [task.done() for task in unwinding] == [True, True, True]
    await first


async def test_dropped_on_its_own_it_reports_no_failure_unseen() -> None:
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))

    async def failing(offset: int, limit: int | None, deadline_at: float | None) -> Page:
        raise APIConnectionError(f"offset {offset} failed")

    tasks = PageTasks(failing)
    tasks.launch([Request(0, 0)], None)
    await asyncio.sleep(0)  # failed, never discarded
    del tasks
    gc.collect()
    await asyncio.sleep(0)
    assert reported == []


async def test_dropped_in_another_thread_it_cancels_through_the_loop() -> None:
    # A listing's last reference can go in a worker thread (or a GC pass there): a task may
    # be cancelled only from its loop's thread, which debug mode checks.
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    fetches = Fetches()
    box = {"tasks": PageTasks(fetches)}
    box["tasks"].launch([Request(0, 0), Request(1, 100)], None)
    await asyncio.sleep(0)
    running = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    thread = threading.Thread(target=box.clear)  # the last reference goes there
    thread.start()
    thread.join()
    gc.collect()
    done, _ = await asyncio.wait(running, timeout=5)
    assert done == set(running)
    assert all(task.cancelled() for task in running)
    assert sorted(fetches.cancelled) == [0, 100]
