"""Closing a watch from another task, in the middle of a poll.

``watch.aclose()`` stops the poll in progress: when it returns, every walk and lookup of that
poll has ended, nothing more is sent, and the task iterating the watch sees the iteration end
normally, with no further event. First at the watch's own layer, with requests that answer
only when the test says so (each walk runs in a task of its own, as a listing's page requests
do); then end to end, against the emulator in process and over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import pytest

from kernel_async import Invocation, InvocationEvent, InvocationWatch
from kernel_async._models import Page
from kernel_async._timestamps import format_rfc3339_nano
from kernel_async._watch_state import WatchState
from kernel_async.testing import (
    Fault,
    FaultKind,
    FaultSchedule,
    KernelEmulator,
    RecordedRequest,
    make_invocation,
)

from conftest import NOW, until

FOREVER = 3600.0
"""A request that takes this long is never answered in a test: only a close ends it."""


def invocation(name: str, status: str = "running") -> Invocation:
    ns = int(NOW.timestamp()) * 1_000_000_000
    return Invocation(
        id=name,
        app_name="app",
        version="1",
        action_name="act",
        started_at=datetime.fromtimestamp(ns / 1e9, UTC),
        status=status,
        started_at_raw=format_rfc3339_nano(ns),
    )


# -- at the watch's layer ----------------------------------------------------------------------


class HeldRequests:
    """The watch's walks and lookups, held until :attr:`answer` is set.

    ``sent`` lists each as it starts, ``running`` counts those not ended yet; each walk
    requests its page in a task of its own, as the listing does.
    """

    lookups_at_once = 4

    def __init__(self, invocations: Sequence[Invocation] = (), *, pushed_back: bool = False):
        self.invocations = list(invocations)
        self.answer = asyncio.Event()
        self.sent: list[str] = []
        self.running = 0
        self.walks: list[HeldWalk] = []
        self._pushed_back = pushed_back
        self._pushbacks = 0

    def walk(self, *, since: str | None, status: str | None, deadline: float | None) -> HeldWalk:
        found = [i for i in self.invocations if status is None or i.status == status]
        walk = HeldWalk(self.request(f"walk status={status}", found))
        self.walks.append(walk)
        return walk

    def lookup(self, invocation_id: str, *, offset: int, deadline: float | None) -> Awaitable[Page]:
        found = [i for i in self.invocations if i.id == invocation_id]
        return self.request(f"lookup {invocation_id}", found)

    async def request(self, what: str, found: list[Invocation]) -> Page:
        self.sent.append(what)
        self.running += 1
        try:
            await self.answer.wait()
        finally:
            self.running -= 1
        return Page(items=tuple(found), offset=0, limit=None, has_more=False, next_offset=None)

    def pushbacks(self) -> int:
        # Pushed back during every poll: read before and after each, it has always grown.
        self._pushbacks += self._pushed_back
        return self._pushbacks


class HeldWalk:
    """One walk of one page, requested in a task of its own when iteration starts."""

    possible_gaps = 0

    def __init__(self, page: Awaitable[Page]) -> None:
        self._page = page
        self._task: asyncio.Future[Page] | None = None
        self._items: list[Invocation] | None = None
        self.closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Invocation:
        if self._items is None:
            self._task = asyncio.ensure_future(self._page)
            self._items = list(await asyncio.shield(self._task))
        if not self._items:
            raise StopAsyncIteration
        return self._items.pop(0)

    async def aclose(self) -> None:
        self.closed = True
        if self._task is None:
            self._page.close()  # type: ignore[attr-defined]  # a coroutine never started
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def held_watch(
    requests: HeldRequests, state: WatchState, *, interval: float = 0
) -> InvocationWatch:
    return InvocationWatch(state, requests, interval=interval, deadline=None)  # type: ignore[arg-type]


async def stop_while_it_polls(
    watch: InvocationWatch, requests: HeldRequests, *, running: int
) -> asyncio.Future[Any]:
    """Iterate the watch in a task, close it from this one once ``running`` are held."""
    before = asyncio.all_tasks()
    consumer = asyncio.ensure_future(anext(watch))
    await until(lambda: requests.running == running)
    assert len(asyncio.all_tasks() - before) > 1  # the consumer, and the requests' tasks
    await watch.aclose()
    # Now, not later: the poll has ended, and with it every request of it.
    assert consumer.done()
    assert requests.running == 0
    assert asyncio.all_tasks() == before
    assert all(walk.closed for walk in requests.walks)
    sent = list(requests.sent)
    requests.answer.set()  # anything of that poll still going would go on now
    for _ in range(20):
        await asyncio.sleep(0)
    assert requests.sent == sent
    return consumer


async def test_aclose_stops_a_poll_in_the_middle_of_its_walks() -> None:
    requests = HeldRequests([invocation("inv_a"), invocation("inv_b", "queued")])
    watch = held_watch(requests, WatchState())  # since=None: the window, then what is in flight
    consumer = await stop_while_it_polls(watch, requests, running=1)
    with pytest.raises(StopAsyncIteration):
        await consumer
    assert requests.sent == ["walk status=None"]  # not the in-flight walks that came next
    # The stopped poll changed nothing the watch remembers, nor its error.
    assert (watch.polls, watch.remembered, watch.error) == (0, 0, None)
    with pytest.raises(StopAsyncIteration):
        await anext(watch)


async def test_aclose_stops_a_poll_in_the_middle_of_its_lookups() -> None:
    requests = HeldRequests([invocation("inv_a"), invocation("inv_b")])
    watch = held_watch(requests, WatchState(invocations=["inv_a", "inv_b"]))
    consumer = await stop_while_it_polls(watch, requests, running=2)
    with pytest.raises(StopAsyncIteration):
        await consumer
    assert sorted(requests.sent) == ["lookup inv_a", "lookup inv_b"]
    assert watch.polls == 0
    assert watch.latest("inv_a") is None
    assert not watch.finished


async def test_aclose_stops_the_wait_after_a_pushback() -> None:
    requests = HeldRequests([invocation("inv_a")], pushed_back=True)
    requests.answer.set()
    watch = held_watch(requests, WatchState(since=timedelta(hours=1)))
    first = await anext(watch)
    assert watch.interval >= 1.0  # pushed back: the next poll waits at least a second
    consumer = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)
    await watch.aclose()
    assert consumer.done()
    with pytest.raises(StopAsyncIteration):
        await consumer
    assert first.invocation.id == "inv_a"
    # The first poll's window and its widening (a duration's window), and no second poll.
    assert requests.sent == ["walk status=None"] * 2
    assert watch.polls == 1


async def test_aclose_twice_at_once_and_again_after() -> None:
    requests = HeldRequests([invocation("inv_a")])
    watch = held_watch(requests, WatchState(since=timedelta(hours=1)))
    consumer = asyncio.ensure_future(anext(watch))
    await until(lambda: requests.running == 1)
    closers = [asyncio.ensure_future(watch.aclose()) for _ in range(2)]
    await asyncio.gather(*closers)
    assert consumer.done()
    assert requests.running == 0
    await watch.aclose()  # once closed, again is nothing
    async with watch:  # and so is leaving `async with`
        pass
    with pytest.raises(StopAsyncIteration):
        await consumer
    assert requests.sent == ["walk status=None"]


async def test_poll_stopped_by_aclose_returns_no_events() -> None:
    requests = HeldRequests([invocation("inv_a")])
    watch = held_watch(requests, WatchState(since=timedelta(hours=1)))
    polling = asyncio.ensure_future(watch.poll())
    await until(lambda: requests.running == 1)
    await watch.aclose()
    assert polling.done()
    assert await polling == []
    assert watch.polls == 0
    with pytest.raises(RuntimeError, match="closed"):
        await watch.poll()


async def test_events_not_delivered_when_closed_are_not_delivered() -> None:
    requests = HeldRequests([invocation(f"inv_{n}") for n in range(3)])
    requests.answer.set()
    watch = held_watch(requests, WatchState(since=timedelta(hours=1)))
    taken: list[InvocationEvent] = []

    async def consume() -> None:
        async for event in watch:
            taken.append(event)
            await asyncio.sleep(3600)  # busy with it when the watch is closed

    consumer = asyncio.ensure_future(consume())
    await until(lambda: len(taken) == 1)
    await watch.aclose()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    with pytest.raises(StopAsyncIteration):
        await anext(watch)
    assert len(taken) == 1  # two more came with the same poll: not delivered after aclose()
    assert watch.polls == 1


async def test_the_consumer_task_is_left_as_it_was() -> None:
    # aclose() cancels the consumer's task to stop its poll, and takes that cancellation
    # back: the task's own code (its timeouts, its task groups) never sees it.
    requests = HeldRequests([invocation("inv_a")])
    watch = held_watch(requests, WatchState(since=timedelta(hours=1)))

    async def consume() -> int:
        async with asyncio.timeout(FOREVER):
            async for _ in watch:
                pass
        await asyncio.sleep(0)  # a cancellation left behind would be raised here
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    consumer = asyncio.ensure_future(consume())
    await until(lambda: requests.running == 1)
    await watch.aclose()
    await asyncio.sleep(0)  # its one step after the iteration
    assert consumer.done()
    assert await consumer == 0


async def test_a_cancellation_that_meets_aclose_is_not_swallowed() -> None:
    requests = HeldRequests([invocation("inv_a")])
    watch = held_watch(requests, WatchState(since=timedelta(hours=1)))
    consumer = asyncio.ensure_future(anext(watch))
    await until(lambda: requests.running == 1)
    consumer.cancel()
    await watch.aclose()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert requests.running == 0


async def test_a_failure_that_meets_aclose_ends_the_iteration_quietly() -> None:
    # The poll's walk fails as it is stopped: the watch was closed, so the consumer's
    # iteration ends normally, and the error is not kept as the watch's.
    class Failing(HeldRequests):
        async def request(self, what: str, found: list[Invocation]) -> Page:
            self.sent.append(what)
            self.running += 1
            try:
                await self.answer.wait()
            except asyncio.CancelledError:
                raise RuntimeError("the walk failed on its way out") from None
            finally:
                self.running -= 1
            raise AssertionError("never answered")

    requests = Failing([invocation("inv_a")])
    watch = held_watch(requests, WatchState(since=timedelta(hours=1)))
    consumer = asyncio.ensure_future(anext(watch))
    await until(lambda: requests.running == 1)
    await watch.aclose()
    assert consumer.done()
    with pytest.raises(StopAsyncIteration):
        await consumer
    assert watch.error is None


# -- end to end ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def iterating(awaitable: Awaitable[Any]) -> AsyncIterator[asyncio.Future[Any]]:
    """``awaitable`` in a task; if the test fails while it still runs, it is cancelled, so
    that closing the client does not wait for its held request."""
    task = asyncio.ensure_future(awaitable)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])


def hold(which: str) -> Any:
    """Emulator latency: requests of this kind are held (until a close ends them)."""

    def latency(recorded: RecordedRequest) -> float:
        query: Mapping[str, str] = recorded.query
        kind = "lookup" if "query" in query else query.get("status", "window")
        return FOREVER if kind == which else 0.0

    return latency


OLD = NOW - timedelta(hours=3)


def library(tasks: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """The tasks that run kernel-async's code (not the emulator's server, not the test's)."""
    return {
        task
        for task in tasks
        if "/kernel_async/" in task.get_coro().cr_code.co_filename  # type: ignore[union-attr]
        and "/testing/" not in task.get_coro().cr_code.co_filename  # type: ignore[union-attr]
    }


@pytest.mark.parametrize(
    ("which", "since"),
    [("window", timedelta(hours=1)), ("queued", None), ("lookup", None)],
    ids=["window walk", "in-flight walk", "lookup"],
)
async def test_aclose_in_the_middle_of_a_poll_against_the_emulator(
    which: str, since: timedelta | None
) -> None:
    data = [
        make_invocation(id="inv_old", status="running", started_at=OLD),
        make_invocation(id="inv_new", status="queued", started_at=NOW),
    ]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=0, since=since)
        if which == "lookup":
            assert await watch.poll() == []  # inv_old is followed by lookups from now on
        emulator.latency = hold(which)
        polls = watch.polls
        before = asyncio.all_tasks()
        async with iterating(anext(watch)) as consumer:
            await until(lambda: emulator.in_flight > 0)
            await watch.aclose()
            assert consumer.done()
            assert emulator.in_flight == 0  # every request of the poll ended
            assert asyncio.all_tasks() == before
            sent = len(emulator.requests)
            emulator.latency = 0.0
            for _ in range(20):
                await asyncio.sleep(0)
            assert len(emulator.requests) == sent
            with pytest.raises(StopAsyncIteration):
                await consumer
        assert watch.polls == polls
        assert watch.error is None


async def test_aclose_while_a_walk_waits_to_retry() -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True, max_retries=3) as client,
    ):
        emulator.faults = FaultSchedule(
            seed=0,
            rate=1.0,
            faults=[Fault(kind=FaultKind.STATUS, status=503, retry_after="30")],
            max_per_request=1,
        )
        watch = client.invocations.watch(interval=0, since=timedelta(hours=1))
        before = asyncio.all_tasks()
        async with iterating(anext(watch)) as consumer:
            # Answered 503, asked to wait 30 s: the walk's page request waits to retry.
            await until(lambda: len(emulator.requests) == 1 and emulator.in_flight == 0)
            assert len(asyncio.all_tasks() - before) > 1
            await watch.aclose()
            assert consumer.done()
            assert asyncio.all_tasks() == before
            with pytest.raises(StopAsyncIteration):
                await consumer
        assert len(emulator.requests) == 1  # no retry
        assert watch.polls == 0


async def test_aclose_over_tcp_leaves_nothing_to_send_and_nothing_to_deliver() -> None:
    # The reviewer's case: a slow server, a watch with events coming, closed mid-poll.
    data = [make_invocation(id=f"inv_{n}", status="running", started_at=NOW) for n in range(5)]
    async with (
        KernelEmulator(data, now=NOW, latency=FOREVER) as emulator,
        emulator.client(max_connections=4) as client,
    ):
        delivered: list[InvocationEvent] = []

        async def consume() -> None:
            async for event in watch:
                delivered.append(event)

        watch = client.invocations.watch(interval=0, since=timedelta(hours=1))
        before = asyncio.all_tasks()
        async with iterating(consume()) as consumer:
            await until(lambda: emulator.in_flight > 0)
            await watch.aclose()
            assert consumer.done()
            await consumer  # ended normally
        # What is left is the client's: the connection of the request already sent, which
        # it holds a moment for the answer (see the transport), never a task of the watch.
        left = asyncio.all_tasks() - before
        assert {task.get_coro().__qualname__ for task in library(left)} <= {
            "AiohttpTransport._exchange"
        }
        sent = len(emulator.requests)
        emulator.latency = 0.0
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(emulator.requests) == sent == 1
        assert delivered == []
        await client.aclose()
        assert library(asyncio.all_tasks()) == set()


async def test_async_with_and_break_still_leave_nothing() -> None:
    data = [make_invocation(id=f"inv_{n}", status="running", started_at=NOW) for n in range(3)]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        before = asyncio.all_tasks()
        async with client.invocations.watch(interval=0, since=timedelta(hours=1)) as watch:
            async for _ in watch:
                break
        assert watch.closed
        assert asyncio.all_tasks() == before
        sent = len(emulator.requests)
        with pytest.raises(StopAsyncIteration):
            await anext(watch)
        assert len(emulator.requests) == sent
