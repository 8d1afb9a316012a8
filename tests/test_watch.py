"""Watching invocations against the emulator: the events against its log of changes, the
cost of a poll, memory, errors, closing, cancelling, and the helpers built on events."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs
import pytest
from watchcheck import PollClock, WatchVerdict, judge_watch

from kernel_async import (
    APITimeoutError,
    AsyncKernel,
    EventKind,
    InternalServerError,
    InvocationEvent,
    InvocationStatus,
    InvocationWatch,
    RateLimitError,
)
from kernel_async.testing import (
    Fault,
    FaultKind,
    FaultSchedule,
    KernelEmulator,
    LiveData,
    make_invocation,
)

from conftest import NOW, until

STEADY_KINDS = {"head_insert": 2, "status_change": 4, "delete": 0.5, "middle_insert": 0.3}
"""Invocations start, run, finish, are deleted and are reported late."""


async def watch_events(
    client: AsyncKernel, *, polls: int, **kwargs: Any
) -> tuple[list[InvocationEvent], InvocationWatch]:
    """Iterate a watch until its ``polls``-th poll has reported something."""
    watch = client.invocations.watch(**kwargs)
    events: list[InvocationEvent] = []
    async with watch:
        async for event in watch:
            events.append(event)
            if watch.polls >= polls:
                break
    return events, watch


async def watched(
    seed: int, *, polls: int, reorder: bool, limit: int, lookback: float, rate: float
) -> tuple[WatchVerdict, InvocationWatch]:
    """One seeded watch of live data, judged against the emulator's log."""
    clock = PollClock()
    live = LiveData(
        seed=seed, rate=rate, reorder=reorder, kinds=STEADY_KINDS, script=clock.script()
    )
    async with KernelEmulator(count=120, seed=seed, now=NOW, live=live) as emulator:
        initial = emulator.invocations
        async with emulator.client(in_memory=True) as client:
            watch = client.invocations.watch(
                interval=0, lookback=timedelta(seconds=lookback), limit=limit
            )
            clock.watch = watch
            events = []
            async with watch:
                async for event in watch:
                    events.append(event)
                    if watch.polls >= polls:
                        break
        verdict = judge_watch(
            events,
            initial,
            emulator,
            clock,
            lookback_ns=int(lookback * 1e9),
            delivered_polls=watch.polls - 1,  # left in the middle of the last poll's events
        )
        return verdict, watch


# -- the promise, against the emulator's log ------------------------------------------------


def test_every_transition_separated_by_a_complete_poll_is_reported_once() -> None:
    totals: Counter[str] = Counter()
    rng = random.Random(13)
    for seed in range(60):
        verdict, watch = asyncio.run(
            watched(
                seed,
                polls=50,
                reorder=seed % 2 == 0,
                limit=rng.choice([2, 5, 7, 20, 100]),
                lookback=rng.choice([0.0, 5.0, 30.0]),
                rate=rng.choice([0.1, 0.3, 0.6]),
            )
        )
        totals.update(attrs.asdict(verdict))
        totals.update(polls=watch.polls, incomplete_polls=watch.incomplete_polls)
        totals.update(possible_gaps=watch.possible_gaps)
        assert (verdict.missed, verdict.duplicated, verdict.invented) == (0, 0, 0), (seed, verdict)
    print("\nwatch against the log, 60 seeded watches of 50 polls:", dict(totals))
    assert totals["owed"] > 4_000  # the promise was put to the test, not met vacuously
    assert totals["unowed"] > 0  # some moves were seen by polls that overlapped them
    assert totals["outside"] > 0  # and some inserts came older than the window


async def test_two_moves_between_two_polls_are_one_event() -> None:
    data = [make_invocation(id="inv_a", status="queued", started_at=NOW - timedelta(seconds=1))]

    def finish(emulator: KernelEmulator) -> None:
        emulator.set_status("inv_a", "running")
        emulator.set_status("inv_a", "failed", status_reason="boom")

    async with (
        KernelEmulator(data, now=NOW, live=LiveData(script={1: finish})) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        events, _ = await watch_events(client, polls=2, interval=0, since=NOW - timedelta(1))
    assert [(e.kind, e.previous_status, e.status) for e in events] == [
        (EventKind.SEEN, None, "queued"),
        (EventKind.CHANGED, "queued", "failed"),
    ]
    assert events[1].invocation.status_reason == "boom"


# -- what a poll costs, and memory --------------------------------------------------------------


async def test_a_long_run_costs_the_same_per_poll_and_memory_stays_flat() -> None:
    # Invocations keep starting and finishing; two (in a status the API may add one day)
    # never do. Each poll walks a short window and looks the two up by id: no walk back to
    # when they started, however old they get, and no memory of what is done and gone by.
    stuck = [
        make_invocation(id=f"inv_stuck{n}", status="paused", started_at=NOW - timedelta(days=1))
        for n in range(2)
    ]
    live = LiveData(seed=5, rate=1.0, kinds={"head_insert": 1, "status_change": 3})
    async with (
        KernelEmulator(stuck, now=NOW, live=live) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=0, lookback=2.0, since=NOW - timedelta(2))
        samples: dict[int, tuple[int, int]] = {}  # per hundred polls: memory, requests
        async with watch:
            async for _ in watch:
                samples.setdefault(watch.polls // 100, (watch.remembered, len(emulator.requests)))
                if watch.polls >= 1500:
                    break
    remembered = [r for r, _ in samples.values()]
    requests = [b - a for (_, a), (_, b) in itertools.pairwise(samples.values())]
    print(f"\nmemory per hundred polls: {remembered}\nrequests per hundred polls: {requests}")
    assert max(remembered) <= 20  # the window, what is in flight, the two stuck ones
    assert max(requests[-5:]) <= 1.25 * min(requests[:5])  # flat: no walk back in time
    assert {"inv_stuck0", "inv_stuck1"} <= {i.id for i in watch.in_flight}
    assert len(emulator.invocations) > 1000  # while the data grew, and moved on


@pytest.mark.parametrize(("limit", "namesakes"), [(None, 101), (10, 30)])
async def test_a_lookup_reads_on_past_others_named_like_its_invocation(
    limit: int | None, namesakes: int
) -> None:
    # ``query`` matches ids, app and action names: finished invocations whose ids contain the
    # followed one's come before it, more than a page of them. A lookup that stopped at its
    # first page would never see it, and the watch would never learn that it finished.
    old = NOW - timedelta(hours=3)
    data = [make_invocation(id="inv_1", status="running", started_at=old)]
    data += [
        make_invocation(
            id=f"inv_1_{n:03}", status="succeeded", started_at=old + timedelta(seconds=n + 1)
        )
        for n in range(namesakes)
    ]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=0, limit=limit)
        async with watch:
            assert await watch.poll() == []  # inv_1 is followed, by lookups from now on
            emulator.set_status("inv_1", "failed")
            events = await watch.poll()
            assert watch.requests == len(emulator.requests)
    assert [(e.invocation.id, e.previous_status, e.status) for e in events] == [
        ("inv_1", "running", "failed")
    ]
    page = limit or 100
    lookups = [dict(r.query) for r in emulator.requests if "query" in dict(r.query)]
    # Pages of the watch's own size, one after the other, until the one that holds it.
    assert {q["limit"] for q in lookups} == {str(page)}
    offsets = [int(q["offset"]) for q in lookups]
    assert offsets[-1] >= namesakes + 1 - page
    assert offsets == sorted(offsets)


@pytest.mark.parametrize("followed", [2, 5])
async def test_few_in_flight_are_looked_up_by_id_many_are_walked_by_status(followed: int) -> None:
    old = NOW - timedelta(hours=3)
    data = [
        make_invocation(id=f"inv_{n}", status="running", started_at=old) for n in range(followed)
    ]
    data.append(make_invocation(id="inv_new", status="queued", started_at=NOW))

    def finish(emulator: KernelEmulator) -> None:
        emulator.set_status("inv_0", "failed")

    live = LiveData(script={12: finish})
    async with (
        KernelEmulator(data, now=NOW, live=live) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        events, watch = await watch_events(client, polls=1, interval=0)
    assert [(e.invocation.id, e.previous_status, e.status) for e in events] == [
        ("inv_0", "running", "failed")
    ]
    # After the first poll's four walks: the window, the window widened back from what it
    # found (see widened_since), and what is in flight.
    later = [dict(r.query) for r in emulator.requests[4:]]
    lookups = [q["query"] for q in later if "query" in q]
    walks = Counter(q.get("status", "window") for q in later if "query" not in q)
    if followed < 3:
        # One lookup per followed invocation per poll; only the window is walked.
        assert walks.keys() == {"window"}
        assert len(lookups) == followed * (watch.polls - 1)
    else:
        # Two walks per poll, since the oldest followed; a lookup only for the one that
        # left them (it finished).
        assert walks["queued"] == walks["running"] == walks["window"] == watch.polls - 1
        assert all(q["since"] == "2026-06-01T09:00:00Z" for q in later if "status" in q)
        assert lookups == ["inv_0"]


# -- errors, resuming, closing, cancelling --------------------------------------------------


async def test_a_poll_that_fails_raises_and_the_watch_goes_on_from_where_it_was() -> None:
    data = [make_invocation(id="inv_a", status="queued", started_at=NOW)]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True, max_retries=0) as client,
    ):
        watch = client.invocations.watch(interval=0, since=NOW - timedelta(1))
        async with watch:
            first = await anext(watch)
            emulator.set_status("inv_a", "running")
            emulator.faults = FaultSchedule(
                seed=0, rate=1.0, faults=[Fault(kind=FaultKind.STATUS, status=500)]
            )
            with pytest.raises(InternalServerError):
                await anext(watch)
            assert isinstance(watch.error, InternalServerError)
            emulator.faults = None
            second = await anext(watch)
    assert (first.kind, first.status) == (EventKind.SEEN, "queued")
    assert (second.kind, second.previous_status, second.status) == (
        EventKind.CHANGED,
        "queued",
        "running",
    )


class _LookupsFail(FaultSchedule):
    """Every lookup (``query=<id>``) fails with a 500; walks are answered."""

    def decide(self, query: Mapping[str, str], attempt: int) -> Fault | None:
        return Fault(kind=FaultKind.STATUS, status=500) if "query" in query else None


async def test_a_lookup_that_fails_raises_its_error_not_a_group() -> None:
    # The lookups run in a TaskGroup; its ExceptionGroup is not an APIError, which is what
    # the resume recipe catches.
    old = NOW - timedelta(hours=3)
    data = [make_invocation(id="inv_old", status="running", started_at=old)]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True, max_retries=0) as client,
    ):
        watch = client.invocations.watch(interval=0)
        async with watch:
            assert await watch.poll() == []  # inv_old is followed, by lookups from now on
            emulator.set_status("inv_old", "failed")
            emulator.faults = _LookupsFail(seed=0, rate=1.0)
            with pytest.raises(InternalServerError):
                await watch.poll()
            assert isinstance(watch.error, InternalServerError)
            emulator.faults = None
            events = await watch.poll()
            # Counted as sent, the failed lookup too: what the server saw.
            assert watch.requests == len(emulator.requests)
    assert [(e.invocation.id, e.previous_status, e.status) for e in events] == [
        ("inv_old", "running", "failed")
    ]


async def test_a_deadline_applies_to_each_poll() -> None:
    async with (
        KernelEmulator(count=5, now=NOW, latency=0.5) as emulator,
        emulator.client() as client,
    ):
        watch = client.invocations.watch(deadline=0.05, max_retries=0)
        with pytest.raises(APITimeoutError) as caught:
            async with watch:
                await anext(watch)
    assert caught.value.limit == "deadline"


async def test_pushback_lengthens_the_interval() -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=0)
        async with watch:
            iterator = aiter(watch)
            task = asyncio.ensure_future(anext(iterator))
            await until(lambda: watch.polls >= 2)
            assert watch.interval == 0
            emulator.faults = FaultSchedule(
                seed=0,
                rate=1.0,
                faults=[Fault(kind=FaultKind.STATUS, status=429, retry_after_ms="1")],
                max_per_request=1,
            )
            polls = watch.polls
            await until(lambda: watch.polls > polls + 1)
            assert watch.interval >= 1.0  # doubled from at least a second, not zero
            await watch.aclose()
            with pytest.raises(StopAsyncIteration):
                await task


@pytest.mark.parametrize("interval", [0, 120])
async def test_pushback_never_shortens_the_interval(interval: float) -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=interval)
        async with watch:
            emulator.faults = FaultSchedule(
                seed=0,
                rate=1.0,
                faults=[Fault(kind=FaultKind.STATUS, status=429, retry_after_ms="1")],
                max_per_request=1,
            )
            await watch.poll()  # retried, after a 429 on each request
            assert watch.interval == max(interval, 1.0)  # a pushback slows the watch only


async def test_a_poll_that_fails_on_pushback_waits_as_asked_before_the_next() -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True, max_retries=0) as client,
    ):
        watch = client.invocations.watch(interval=0)
        async with watch:
            emulator.faults = FaultSchedule(
                seed=0,
                rate=1.0,
                faults=[Fault(kind=FaultKind.STATUS, status=429, retry_after="30")],
            )
            with pytest.raises(RateLimitError):
                await anext(watch)
            assert watch.interval == 30  # iterating again waits as the server asked
            sent = len(emulator.requests)
            consumer = asyncio.ensure_future(anext(watch))
            for _ in range(20):
                await asyncio.sleep(0)
            assert len(emulator.requests) == sent  # nothing sent meanwhile
            await watch.aclose()
            with pytest.raises(StopAsyncIteration):
                await consumer


async def test_aclose_from_another_task_ends_a_watch_waiting_for_its_next_poll() -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=3600)
        consumer = asyncio.ensure_future(anext(watch))
        await until(lambda: watch.polls == 1)
        await watch.aclose()
        with pytest.raises(StopAsyncIteration):
            await consumer
        assert watch.closed
        with pytest.raises(StopAsyncIteration):
            await anext(watch)


async def test_break_close_and_cancel_leave_no_task() -> None:
    live = LiveData(seed=2, rate=1.0, reorder=True, kinds=STEADY_KINDS)
    async with (
        KernelEmulator(count=300, now=NOW, live=live) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        before = asyncio.all_tasks()
        # break
        async for _ in client.invocations.watch(interval=0, lookback=1.0, limit=5):
            break
        assert asyncio.all_tasks() == before
        # cancel, at every turn of the loop the first polls take
        for turns in range(0, 60, 3):
            watch = client.invocations.watch(interval=0, limit=5)
            consumer = asyncio.ensure_future(anext(watch))
            for _ in range(turns):
                await asyncio.sleep(0)
            consumer.cancel()
            with pytest.raises((asyncio.CancelledError, StopAsyncIteration)):
                await consumer
            assert asyncio.all_tasks() == before
            # The same watch goes on: a cancelled poll is asked again, whole.
            async with watch:
                await anext(watch) if watch.polls else None


async def test_a_cancelled_poll_loses_no_event() -> None:
    data = [make_invocation(id=f"inv_{n}", status="queued", started_at=NOW) for n in range(3)]
    live = LiveData(seed=3, reorder=True)
    async with (
        KernelEmulator(data, now=NOW, live=live) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=0, since=NOW - timedelta(1), limit=2)
        seen: list[str] = []
        async with watch:
            for turns in range(1, 30):
                consumer = asyncio.ensure_future(anext(watch))
                for _ in range(turns):
                    await asyncio.sleep(0)
                if consumer.done():
                    seen.append((await consumer).invocation.id)
                    break
                consumer.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await consumer
            seen += [(await anext(watch)).invocation.id for _ in range(3 - len(seen))]
    assert sorted(seen) == ["inv_0", "inv_1", "inv_2"]


async def test_one_watch_has_one_consumer() -> None:
    async with (
        KernelEmulator(count=5, now=NOW, latency=0.05) as emulator,
        emulator.client() as client,
    ):
        watch = client.invocations.watch(interval=0)
        async with watch:
            first = asyncio.ensure_future(anext(watch))
            await until(lambda: emulator.in_flight > 0)
            with pytest.raises(RuntimeError, match="one consumer"):
                await anext(watch)
            await watch.aclose()
            with pytest.raises(StopAsyncIteration):
                await first


# -- the status filter, on the client --------------------------------------------------------


async def test_a_status_filter_sees_moves_the_servers_filter_cannot() -> None:
    data = [
        make_invocation(id="inv_q", status="queued", started_at=NOW),
        make_invocation(id="inv_r", status="running", started_at=NOW),
    ]

    def move(emulator: KernelEmulator) -> None:
        emulator.set_status("inv_q", "failed")  # into the filter: seen, from queued
        emulator.set_status("inv_r", "succeeded")  # never in it: not reported

    async with (
        # The first poll walks the window, widens it, then walks what is queued: the move
        # comes before that walk's answer (at tick 2), after the window's.
        KernelEmulator(data, now=NOW, live=LiveData(script={2: move})) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=0, status=["failed"])
        async with watch:
            event = await anext(watch)
    assert (event.invocation.id, event.previous_status, event.status) == (
        "inv_q",
        "queued",
        "failed",
    )
    # Walked without a server-side status filter: moves out of it must be visible.
    assert all("status" not in r.query for r in emulator.requests[:1])


# -- the helpers ----------------------------------------------------------------------------


async def test_wait_returns_each_invocation_once_final_in_the_order_given() -> None:
    data = [
        make_invocation(id=f"inv_{n}", status="running", started_at=NOW - timedelta(minutes=n))
        for n in range(4)
    ]

    def progress(emulator: KernelEmulator) -> None:
        n = emulator.served
        if n == 2:
            emulator.set_status("inv_1", "failed")
        elif n == 4:
            emulator.remove_invocation("inv_2")
        elif n == 6:
            emulator.set_status("inv_0", "succeeded")
            emulator.set_status("inv_3", "succeeded")

    live = LiveData(script=dict.fromkeys(range(8), progress))
    async with (
        KernelEmulator(data, now=NOW, live=live) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        async with client.invocations.list() as listing:
            runs = [i async for i in listing]
        finished = await client.invocations.wait([runs[0], "inv_1", "inv_2", runs[3]], interval=0)
    assert [None if i is None else (i.id, i.status) for i in finished] == [
        ("inv_0", "succeeded"),
        ("inv_1", "failed"),
        None,  # deleted while waited for
        ("inv_3", "succeeded"),
    ]


async def test_wait_times_out_naming_what_is_not_final() -> None:
    data = [make_invocation(id="inv_slow", status="running", started_at=NOW)]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        pending = r"2 of 2 invocations .* after 0\.2 s: inv_slow, inv_missing"
        with pytest.raises(TimeoutError, match=pending):
            await client.invocations.wait(["inv_slow", "inv_missing"], timeout=0.2, interval=0.01)


async def test_wait_for_ids_with_a_since_walks_what_is_in_flight() -> None:
    data = [
        make_invocation(id=f"inv_{n}", status="running", started_at=NOW - timedelta(minutes=1))
        for n in range(4)
    ]

    def finish(emulator: KernelEmulator) -> None:
        for n in range(4):
            emulator.set_status(f"inv_{n}", "succeeded")

    async with (
        KernelEmulator(data, now=NOW, live=LiveData(script={4: finish})) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        finished = await client.invocations.wait(
            [f"inv_{n}" for n in range(4)], since=NOW - timedelta(hours=1), interval=0
        )
    assert [i.status for i in finished if i is not None] == ["succeeded"] * 4
    statuses = Counter(r.query.get("status") for r in emulator.requests)
    assert statuses["queued"] >= 1
    assert statuses["running"] >= 1
    # Four ids: two walks a poll, and a lookup only for what the walks no longer hold.
    assert sum(1 for r in emulator.requests if "query" in r.query) <= 4


async def test_failures_yields_each_failure_once() -> None:
    live = LiveData(seed=11, rate=1.0, kinds={"head_insert": 1, "status_change": 2})
    async with (
        KernelEmulator(count=50, now=NOW, live=live) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        failed = []
        async with client.invocations.failures(interval=0) as failures:
            async for invocation in failures:
                failed.append(invocation)
                if len(failed) == 10:
                    break
    assert all(i.status == "failed" for i in failed)
    assert len({i.id for i in failed}) == 10
    logged = {c.id for c in emulator.changes if c.status_after == "failed"}
    assert {i.id for i in failed} <= logged  # each one really failed while it ran


# -- bad arguments: nothing is sent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"interval": -1}, ValueError),
        ({"interval": float("nan")}, ValueError),
        ({"interval": "2"}, TypeError),
        ({"interval": True}, TypeError),
        ({"lookback": -1}, ValueError),
        ({"lookback": timedelta(seconds=-1)}, ValueError),
        ({"lookback": "30s"}, TypeError),
        ({"lookback": timedelta.max}, ValueError),  # past the longest Go duration
        ({"lookback": timedelta(days=200_000)}, ValueError),
        ({"lookback": 1e20}, ValueError),
        ({"interval": 10**400}, ValueError),  # not an OverflowError
        ({"lookback": timedelta(hours=2562048)}, ValueError),
        ({"status": "done"}, ValueError),
        ({"status": []}, ValueError),
        ({"status": 3}, TypeError),
        # Iterable, but not a collection of statuses: a mapping would be taken as its keys,
        # bytes as integers.
        ({"status": {"failed": 1}}, TypeError),
        ({"status": b"failed"}, TypeError),
        ({"status": bytearray(b"failed")}, TypeError),
        ({"final_statuses": "failed"}, TypeError),
        ({"final_statuses": {"failed": True}}, TypeError),
        ({"final_statuses": b"failed"}, TypeError),
        ({"final_statuses": []}, ValueError),
        ({"final_statuses": [""]}, ValueError),
        ({"since": "yesterday"}, ValueError),
        ({"limit": 0}, ValueError),
        ({"deadline": 0}, ValueError),
        ({"max_retries": -1}, ValueError),
        ({"extra_query": {"since": "1h"}}, ValueError),
        ({"app_name": ""}, ValueError),
    ],
)
async def test_bad_watch_arguments_raise_before_anything_is_sent(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        with pytest.raises(error) as caught:
            client.invocations.watch(**kwargs)
        (name,) = kwargs
        assert name in str(caught.value)  # the error names the parameter
        assert emulator.requests == []


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((["inv_a"],), {"timeout": 0}, ValueError),
        ((["inv_a"],), {"timeout": -1}, ValueError),
        ((["inv_a"],), {"timeout": "1"}, TypeError),
        ((["inv_a"],), {"timeout": 10**400}, ValueError),
        (([],), {}, ValueError),
        (("inv_a",), {}, TypeError),
        (({"inv_a": 1},), {}, TypeError),  # not its keys: a mapping is not a list of ids
        ((b"inv_a",), {}, TypeError),
        ((["inv_a"],), {"final_statuses": {"failed": 1}}, TypeError),
        (([""],), {}, ValueError),
        (([3],), {}, TypeError),
        ((["inv_a"],), {"since": "soon"}, ValueError),
        ((["inv_a"],), {"interval": -1}, ValueError),
    ],
)
async def test_bad_wait_arguments_raise_before_anything_is_sent(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        # A bounded wait: an argument taken by mistake would wait for an id that never comes.
        with pytest.raises(error) as caught:
            async with asyncio.timeout(10):
                await client.invocations.wait(*args, **kwargs)
        for name in kwargs or {"invocation": None}:
            assert name in str(caught.value)  # the error names the parameter
        assert emulator.requests == []


@pytest.mark.parametrize(
    ("status", "reported"),
    [
        ("failed", {"failed"}),  # one status, as documented
        (InvocationStatus.FAILED, {"failed"}),
        (["failed", "queued"], {"failed", "queued"}),
        (("failed",), {"failed"}),
        ({"failed", "queued"}, {"failed", "queued"}),
        # A view of a mapping's keys says what it means; the mapping itself is refused.
        ({"failed": 1, "queued": 2}.keys(), {"failed", "queued"}),
        ((s for s in ["failed", "queued"]), {"failed", "queued"}),
    ],
    ids=["str", "enum", "list", "tuple", "set", "keys-view", "generator"],
)
async def test_a_status_or_any_collection_of_statuses_is_taken(
    status: Any, reported: set[str]
) -> None:
    async with (
        KernelEmulator(count=60, seed=2, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        since = NOW - timedelta(days=3650)
        async with client.invocations.watch(status=status, since=since, interval=0) as watch:
            events = await watch.poll()
        expected = [i for i in emulator.invocations if i["status"] in reported]
        assert expected  # the data has some of each chosen status
        assert sorted(e.invocation.id for e in events) == sorted(i["id"] for i in expected)


async def test_a_watch_of_limit_1_walks_pages_of_two_and_misses_nothing() -> None:
    """What the watch guide says of a small limit: it costs requests, not completeness.

    A page of one invocation cannot overlap the page before, so the walks send `limit=2`
    (one new invocation per request, as list() does); every poll is complete.
    """
    async with (
        KernelEmulator(count=100, seed=0, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        in_flight = emulator.list_invocations(status="queued")
        in_flight += emulator.list_invocations(status="running")
        since = NOW - timedelta(days=3650)
        async with client.invocations.watch(limit=1, since=since, interval=0) as watch:
            first = await watch.poll()
            emulator.set_status(str(in_flight[0]["id"]), "failed")
            second = await watch.poll()
        assert sorted(e.invocation.id for e in first) == sorted(
            i["id"] for i in emulator.invocations
        )
        assert [(e.kind, e.invocation.id, e.status) for e in second] == [
            (EventKind.CHANGED, in_flight[0]["id"], "failed")
        ]
        assert (watch.incomplete_polls, watch.possible_gaps) == (0, 0)
        walks = [r for r in emulator.requests if "query" not in r.query]
        assert {r.query["limit"] for r in walks} == {"2"}
        # Every invocation, one new per page: at least as many requests as invocations.
        assert len(walks) >= len(emulator.invocations)


async def test_a_long_since_and_a_long_lookback_together_still_poll() -> None:
    # Each is shorter than the longest Go duration; the first poll's window is their sum.
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(
            since=timedelta(days=106_000), lookback=timedelta(days=1_000), interval=0
        )
        async with watch:
            events = await watch.poll()
            await watch.poll()
    assert len(events) == 5


async def test_a_watch_says_what_it_is() -> None:
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=0, since=NOW - timedelta(days=30))
        async with watch:
            await anext(watch)
        assert repr(watch).startswith("<InvocationWatch closed polls=1 remembered=5")
        assert emulator.api_key not in repr(watch)


async def test_poll_returns_one_polls_events_whatever_the_interval() -> None:
    data = [make_invocation(id=f"inv_{n}", status="queued", started_at=NOW) for n in range(3)]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        watch = client.invocations.watch(interval=3600, since=NOW - timedelta(1))
        async with watch:
            first = await anext(watch)  # the first poll: three seen, one delivered
            rest = await watch.poll()  # two left over, then a poll now: nothing new
            emulator.set_status("inv_1", "running")
            moved = await watch.poll()  # no wait for the hour's interval
        assert [e.invocation.id for e in [first, *rest]] == ["inv_0", "inv_1", "inv_2"]
        assert [(e.invocation.id, e.status) for e in moved] == [("inv_1", "running")]
        assert watch.polls == 3
        with pytest.raises(RuntimeError, match="closed"):
            await watch.poll()
