"""Misuse and hostile servers: a clear answer every time, never a hang or a silent cut."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from kernel_async import AsyncKernel, ClientClosedError, Invocation, Page, PaginationError
from kernel_async._listing import InvocationListing
from kernel_async._walk import WalkPlan
from kernel_async.testing import (
    KernelEmulator,
    LiveData,
    ScriptedResponse,
    generate_invocations,
    make_invocation,
)

from conftest import NOW, ids

Handler = Callable[[Mapping[str, str]], tuple[list[dict[str, Any]], dict[str, str]]]
"""A hostile server's page: the invocations and the headers, for a query."""

DATA = generate_invocations(300, seed=4, now=NOW)
ORDERED = KernelEmulator(DATA, now=NOW).invocations


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[AsyncKernel, list[int]]]:
    """A server on 127.0.0.1 that answers every page with ``handler``; yields a client and
    the offsets it was asked for."""
    asked: list[int] = []

    async def invocations(request: web.Request) -> web.Response:
        offset = int(request.query.get("offset", "0"))
        asked.append(offset)
        items, headers = handler(request.query)
        return web.Response(
            body=json.dumps(items), content_type="application/json", headers=headers
        )

    app = web.Application()
    app.router.add_get("/invocations", invocations)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with AsyncKernel(api_key="k", base_url=f"http://127.0.0.1:{port}/") as client:
            yield client, asked
    finally:
        await runner.cleanup()


def honest(query: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    offset, limit = int(query["offset"]), int(query["limit"])
    end = min(offset + limit, len(ORDERED))
    more = end < len(ORDERED)
    headers = {"X-Has-More": str(more).lower(), "X-Next-Offset": str(end if more else 0)}
    return ORDERED[offset:end], headers


async def test_two_tasks_iterating_one_listing_is_a_clear_error() -> None:
    emu = KernelEmulator(DATA, now=NOW, latency=0.01)
    async with emu.client(in_memory=True) as client, client.invocations.list(limit=10) as it:

        async def consume() -> list[str]:
            return [i.id async for i in it]

        first = asyncio.create_task(consume())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match=r"another task .*is iterating"):
            await consume()
        assert await first == ids(ORDERED)  # the first consumer is not disturbed


async def test_aclose_from_another_task_ends_the_iteration_normally() -> None:
    emu = KernelEmulator(DATA, now=NOW, latency=0.05)
    async with emu.client(in_memory=True) as client:
        listing = client.invocations.list(limit=10, prefetch=4)
        got: list[str] = []

        async def consume() -> str:
            async for invocation in listing:
                got.append(invocation.id)
            return "ended"

        task = asyncio.create_task(consume())
        while len(got) < 15:  # noqa: ASYNC110 - waits for the walk to be under way
            await asyncio.sleep(0.005)
        await listing.aclose()
        assert await task == "ended"  # not cancelled: nobody cancelled it
        assert not task.cancelled()
        assert got == ids(ORDERED[: len(got)])
        assert listing.in_flight == 0


async def test_closing_the_client_under_a_walk_is_a_client_closed_error() -> None:
    emu = KernelEmulator(DATA, now=NOW, live=LiveData(reorder=True, hold_steps=50))
    client = emu.client(in_memory=True)
    listing = client.invocations.list(limit=10, prefetch=4)
    async with listing:
        await anext(listing)
        for _ in range(9):
            await anext(listing)
        waiting = asyncio.create_task(anext(listing))
        await asyncio.sleep(0)
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await waiting


async def test_a_deadline_does_not_fail_a_walk_that_delivered_everything() -> None:
    emu = KernelEmulator(DATA[:30], now=NOW)
    async with emu.client(in_memory=True) as client:
        listing = client.invocations.list(limit=10, prefetch=8, deadline=0.05)
        got = []
        async with listing:
            async for invocation in listing:
                got.append(invocation.id)
                if len(got) == 25:
                    await asyncio.sleep(0.1)  # a slow consumer, after the last page arrived
        assert len(got) == 30
        assert listing.error is None


async def test_empty_pages_that_say_there_is_more_end_in_a_pagination_error() -> None:
    def empty(query: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        offset = int(query["offset"])
        return [], {"X-Has-More": "true", "X-Next-Offset": str(offset + 100)}

    async with server(empty) as (client, asked):
        with pytest.raises(PaginationError, match="empty pages in a row"):
            await _walk(client)
    assert len(asked) <= 10  # a bounded number of requests, not thousands a second


async def test_a_lost_x_has_more_is_followed_not_taken_for_the_end() -> None:
    def dropped(query: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        items, headers = honest(query)
        if int(query["offset"]) == 99:
            del headers["X-Has-More"]  # a proxy dropped it from one middle page
        return items, headers

    async with server(dropped) as (client, _):
        async with client.invocations.list(limit=100, prefetch=2) as listing:
            got = [i.id async for i in listing]
        assert got == ids(ORDERED)
        assert listing.stats.anomalies == 1
        with pytest.raises(PaginationError, match="X-Has-More is missing"):
            await _walk(client, strict=True)


async def test_a_server_that_ignores_offset_is_a_pagination_error() -> None:
    def ignores_offset(query: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        offset = int(query["offset"])
        return ORDERED[:50], {"X-Has-More": "true", "X-Next-Offset": str(offset + 50)}

    async with server(ignores_offset) as (client, asked):
        # Its first page ends with the walk's cursor, so for a while it looks like inserts at
        # the head pushing the first page down; the same page every time gives it away.
        with pytest.raises(PaginationError, match=r"ignore offset|same invocations"):
            await _walk(client, limit=50, prefetch=1)
    assert len(asked) <= 20


async def test_resume_offset_after_max_items_counts_positions_not_equal_items() -> None:
    page = [*ORDERED[:3], ORDERED[0], *ORDERED[3:6]]  # the server sent one invocation twice
    emu = KernelEmulator(DATA, now=NOW)
    emu.script(
        ScriptedResponse(
            body=json.dumps(page).encode(),
            headers={"X-Has-More": "true", "X-Next-Offset": "7"},
        )
    )
    async with emu.client(in_memory=True) as client:
        async with client.invocations.list(limit=7, max_items=4) as listing:
            got = [i.id async for i in listing]
        assert got == ids(ORDERED[:4])  # the repeat delivered once
        assert listing.resume_offset == 5  # after the fourth invocation, by position
        assert listing.stats.anomalies == 1


async def test_a_listing_is_walked_once() -> None:
    emu = KernelEmulator(DATA[:12], now=NOW)
    async with emu.client(in_memory=True) as client:
        listing = client.invocations.list(limit=5)
        async with listing:
            async for _ in listing:
                break
            rest = [i.id async for i in listing]  # after a break: carries on, not anew
        assert len(rest) == 11
        with pytest.raises(RuntimeError, match="walked once"):
            [i async for i in listing]
        with pytest.raises(StopAsyncIteration):
            await anext(listing)


async def test_page_sizes_a_walk_sends() -> None:
    emu = KernelEmulator(DATA[:12], now=NOW)
    async with emu.client(in_memory=True) as client:
        assert len(await _walk(client, limit=None)) == 12
        assert len(await _walk(client, limit=1, prefetch=3)) == 12
        assert len(await _walk(client, limit=1, max_items=1)) == 1
    assert [r.limit for r in emu.requests[:1]] == [100]  # None: the walk's default
    assert {r.limit for r in emu.requests[1:-1]} == {2}  # 1 has no room for the overlap
    assert emu.requests[-1].limit == 1


async def _walk(client: AsyncKernel, **kwargs: Any) -> list[str]:
    async with client.invocations.list(**kwargs) as listing:
        return [invocation.id async for invocation in listing]


async def test_the_consumers_aclose_waits_for_requests_another_tasks_aclose_cancelled() -> None:
    # Another task closes the listing while its consumer waits; the consumer's `async with`
    # then closes it too. Neither returns before every request has finished, even requests
    # that take a few loop steps to unwind (a custom fetch with async clean-up).
    running: list[asyncio.Task[Any]] = []
    waiting = asyncio.Event()

    async def fetch(offset: int, limit: int | None, deadline_at: float | None) -> Page:
        if offset == 0:
            items = tuple(
                Invocation.from_dict(
                    make_invocation(id=f"i{n}", started_at=NOW - timedelta(seconds=n))
                )
                for n in range(10)
            )
            return Page(items=items, offset=0, limit=10, has_more=True, next_offset=10)
        task = asyncio.current_task()
        assert task is not None
        running.append(task)
        waiting.set()
        try:
            await asyncio.sleep(10)
        finally:
            # The page the consumer waits for unwinds at once (so it goes on to close the
            # listing itself); those after it take a few steps.
            for _ in range(0 if offset == 9 else 20):
                await asyncio.sleep(0)
        raise AssertionError("cancelled before this")

    plan = WalkPlan(start=0, window=4)
    listing = InvocationListing(fetch, plan=plan, prefetch=4, filters={})
    still_running: list[int] = []

    async def consume() -> None:
        async with listing:
            async for _ in listing:
                pass  # then it waits for the next page, which never comes
        still_running.append(sum(1 for task in running if not task.done()))

    consumer = asyncio.ensure_future(consume())
    await waiting.wait()
    await asyncio.sleep(0.01)  # the consumer has taken the first page and waits for the next
    await asyncio.gather(consumer, listing.aclose())
    assert running
    assert still_running == [0]
