"""A cancellation at any step of the event loop loses nothing, and duplicates nothing.

The walk runs in process (``emulator.client(in_memory=True)``), where the order in which tasks
run depends on nothing but the code: cancelling the consumer after the k-th step of the loop
lands at a different point of the walk for each k. For every k until the walk completes, the
consumer is cancelled there; then either the same listing goes on, or a new listing starts from
its resume token. Either way the invocations delivered, before and after, are exactly the walk:
on static data the whole list, on live data every invocation that stayed, once, in order. The
same holds walking by page (``listing.pages()``), the cancelled iterator going on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable

import pytest

import kernel_async._window
from kernel_async import Invocation, InvocationListing, Page
from kernel_async.testing import KernelEmulator, LiveData, generate_invocations, make_invocation

from conftest import NOW
from live import judge

MAX_STEPS = int(os.environ.get("KERNEL_ASYNC_CANCEL_STEPS", "100000"))


def static() -> KernelEmulator:
    return KernelEmulator(generate_invocations(100, seed=1, now=NOW), now=NOW)


def live() -> KernelEmulator:
    data = generate_invocations(100, seed=2, now=NOW)
    return KernelEmulator(data, now=NOW, live=LiveData(seed=2, rate=0.3, reorder=True))


def walked(listing: InvocationListing, by: str) -> AsyncIterator[Invocation | Page]:
    """What the consumer iterates: the listing itself, or its pages."""
    return listing.pages() if by == "pages" else listing


def take(got: list[Invocation], step: Invocation | Page) -> None:
    if isinstance(step, Page):
        got += step.items
    else:
        got.append(step)


async def cancelled_after(
    steps: int, iterator: AsyncIterator[Invocation | Page], got: list[Invocation]
) -> bool:
    """Consume ``iterator`` into ``got``, cancelled after ``steps`` loop steps; True if it
    finished first."""

    async def consume() -> None:
        async for step in iterator:
            take(got, step)

    task = asyncio.create_task(consume())
    for _ in range(steps):
        if task.done():
            break
        await asyncio.sleep(0)
    finished = task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return finished


@pytest.mark.parametrize("make", [static, live], ids=["static", "live"])
@pytest.mark.parametrize("prefetch", [1, 3, 8, None])
@pytest.mark.parametrize("going_on", ["same listing", "resume token"])
@pytest.mark.parametrize("by", ["items", "pages"])
async def test_a_cancellation_at_any_step_loses_nothing(
    make: Callable[[], KernelEmulator],
    prefetch: int | None,
    going_on: str,
    by: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if prefetch is None:
        # The adaptive window starts from the first page's round trip at ITEM_COST of work
        # per invocation. On a loaded machine that round trip is slow and the window covered
        # all 17 pages at once: the walk took 10 loop steps, too few to cancel it all along,
        # and the window never changed again. Priced this high, the work per page says one
        # or two pages cover a round trip, and the window grows from there as the walk waits
        # on the network, whatever the machine: it changes across the awaits cancelled.
        monkeypatch.setattr(kernel_async._window, "ITEM_COST", 1.0)
    for steps in itertools.count():
        assert steps < MAX_STEPS
        emulator = make()
        initial = emulator.list_invocations()
        got: list[Invocation] = []
        async with emulator.client(in_memory=True) as client:
            listing = client.invocations.list(limit=6, prefetch=prefetch)
            async with listing:
                iterator = walked(listing, by)
                finished = await cancelled_after(steps, iterator, got)
                if going_on == "same listing" and not finished:
                    # The cancelled iterator itself goes on, as a caller who caught it would.
                    async for step in iterator:
                        take(got, step)
            resume = listing.resume_token  # None if it completed as it was cancelled
            if going_on == "resume token" and not finished and resume is not None:
                async with client.invocations.list(resume=resume, prefetch=prefetch) as rest:
                    async for step in walked(rest, by):
                        take(got, step)
        verdict = judge(got, initial, emulator)
        assert (verdict.lost, verdict.duplicated, verdict.reordered) == (0, 0, 0), steps
        assert listing.in_flight == 0
        if finished:
            break
    # The walk took some steps (17 pages): cancellations landed all along it.
    assert steps > 10
    if prefetch is None:  # the window it walked with grew from its first decision
        assert listing.stats.peak_window >= 3


@pytest.mark.parametrize("prefetch", [1, None])
@pytest.mark.parametrize("going_on", ["same listing", "resume token"])
async def test_a_cancellation_while_a_resumed_walk_looks_for_its_place_loses_nothing(
    prefetch: int | None, going_on: str
) -> None:
    # The token was taken after 30 of 100; 1,000 started since, so the resumed walk looks for
    # its place (half a dozen pages) before it delivers. Cancelled after every loop step of that,
    # it goes on, or a new walk goes on from its token, and the rest comes exactly once.
    data = generate_invocations(100, seed=3, now=NOW)
    async with KernelEmulator(data, now=NOW).client(in_memory=True) as client:
        async with client.invocations.list(max_items=30) as first:
            taken = [invocation.id async for invocation in first]
        token = first.resume_token
        assert token is not None
    started = [
        make_invocation(id=f"new{n:04d}", started_at=f"2026-06-02T00:00:00.{n:06d}Z")
        for n in range(1000)
    ]
    owed = [i["id"] for i in KernelEmulator(data, now=NOW).invocations if i["id"] not in taken]
    searched = 0
    for steps in itertools.count():
        assert steps < MAX_STEPS
        emulator = KernelEmulator(data + started, now=NOW)
        got: list[Invocation] = []
        async with emulator.client(in_memory=True) as client:
            listing = client.invocations.list(resume=token, prefetch=prefetch)
            async with listing:
                finished = await cancelled_after(steps, listing, got)
                if going_on == "same listing" and not finished:
                    got += [invocation async for invocation in listing]
            searched = max(searched, listing.stats.searched)
            resume = listing.resume_token
            if going_on == "resume token" and not finished and resume is not None:
                async with client.invocations.list(resume=resume, prefetch=prefetch) as rest:
                    got += [invocation async for invocation in rest]
        assert [invocation.id for invocation in got] == owed, steps
        assert listing.in_flight == 0
        if finished:
            break
    assert searched >= 5  # it did look for its place, over many loop steps
    assert steps > 20
