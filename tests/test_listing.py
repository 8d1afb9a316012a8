"""Concurrent pagination against the emulator: exact, bounded, in order, nothing left running."""

import asyncio
import gc
from typing import Any

import aiohttp
import pytest

from kernel_async import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PREFETCH,
    InternalServerError,
    InvocationListing,
    PaginationError,
    RateLimitError,
)
from kernel_async._window import START_AT_MOST
from kernel_async.testing import (
    KernelEmulator,
    RecordedRequest,
    ScriptedResponse,
    generate_invocations,
)

from conftest import NOW, ids


def our_tasks() -> set[asyncio.Task[Any]]:
    """The walk's page requests still alive (the emulator's own server tasks do not count)."""
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("kernel-async")}


@pytest.fixture
async def emu() -> Any:
    async with KernelEmulator(count=1000, seed=21, now=NOW) as emulator:
        yield emulator


@pytest.mark.parametrize("prefetch", [1, 2, 8, 16])
@pytest.mark.parametrize("total", [0, 1, 100, 101, 250])
async def test_a_walk_yields_exactly_the_filtered_list(prefetch: int, total: int) -> None:
    async with KernelEmulator(count=total, seed=total, now=NOW) as emu, emu.client() as client:
        async with client.invocations.list(prefetch=prefetch) as listing:
            got = [i async for i in listing]
        assert ids(got) == ids(emu.invocations)
        assert emu.max_in_flight <= prefetch
        assert listing.resume_offset is None


async def test_filters_apply_to_every_page(emu: KernelEmulator) -> None:
    async with (
        emu.client() as client,
        client.invocations.list(status="succeeded", since="96h", limit=7) as listing,
    ):
        got = [i async for i in listing]
    expected = emu.list_invocations(status="succeeded", since="96h")
    assert 7 < len(expected) < 1000
    assert ids(got) == ids(expected)
    assert all(r.query["status"] == "succeeded" and r.query["limit"] == "7" for r in emu.requests)


async def test_a_capped_server_is_followed_by_its_real_step() -> None:
    async with KernelEmulator(count=333, limit_cap=30, now=NOW) as emu, emu.client() as client:
        async with client.invocations.list(limit=100, prefetch=6) as listing:
            got = [i async for i in listing]
        assert ids(got) == ids(emu.invocations)
        offsets = sorted({r.offset for r in emu.requests if r.offset is not None})
        # Pages of 30 that overlap by one: 29 new invocations per page after the first.
        assert offsets[:12] == list(range(0, 29 * 12, 29))
        assert listing.resyncs == 0  # the step was learned before speculating


async def test_the_consumer_sets_the_pace_not_the_network(emu: KernelEmulator) -> None:
    in_flight_seen: list[int] = []
    async with emu.client() as client, client.invocations.list(limit=50, prefetch=4) as listing:
        async for index, _ in _enumerate(listing):
            if index % 50 == 0:
                await asyncio.sleep(0.02)  # a slow consumer
                in_flight_seen.append(listing.in_flight)
    assert emu.max_in_flight <= 4
    assert max(in_flight_seen) <= 3  # the page being consumed holds the fourth slot
    assert len(emu.requests) <= 1000 // 50 + 3  # no more than the pages plus the window


async def _enumerate(listing: InvocationListing) -> Any:
    index = 0
    async for item in listing:
        yield index, item
        index += 1


async def test_prefetch_one_requests_the_next_page_only_when_the_current_is_drained() -> None:
    consumed = 0
    seen_at_request: list[tuple[int | None, int]] = []

    def latency(request: RecordedRequest) -> float:
        seen_at_request.append((request.offset, consumed))
        return 0.0

    async with (
        KernelEmulator(count=95, latency=latency, now=NOW) as emu,
        emu.client() as client,
        client.invocations.list(limit=20, prefetch=1) as listing,
    ):
        async for _ in listing:
            consumed += 1
            await asyncio.sleep(0)
    # Each page starts at the last invocation delivered (19 new ones per page after the
    # first) and is requested only once the one before was consumed.
    assert seen_at_request == [(0, 0), (19, 20), (38, 39), (57, 58), (76, 77)]
    assert emu.max_in_flight == 1


async def test_a_failing_page_raises_in_turn_and_the_walk_resumes_from_its_offset(
    emu: KernelEmulator,
) -> None:
    emu.script(  # the fourth page: 0-99, then 99, 198, 297 (each overlaps the one before)
        ScriptedResponse(status=500, body=b'{"code":"internal","message":"boom"}', offset=297)
    )
    got = []
    async with emu.client() as client:
        listing = client.invocations.list(prefetch=8, max_retries=0)
        with pytest.raises(InternalServerError, match="boom") as caught:
            async with listing:
                async for invocation in listing:
                    got.append(invocation)
        assert not our_tasks()  # siblings were cancelled and awaited before the raise
        assert ids(got) == ids(emu.invocations[:298])  # everything before the failure
        assert listing.resume_offset == 298
        assert listing.error is caught.value
        with pytest.raises(RuntimeError, match="failed"):  # a failed listing stays finished
            [i async for i in listing]
        async with client.invocations.list(offset=listing.resume_offset) as rest:
            got += [i async for i in rest]
    assert ids(got) == ids(emu.invocations)


async def test_an_error_on_a_page_past_the_end_is_never_raised() -> None:
    async with KernelEmulator(count=250, now=NOW) as emu, emu.client() as client:
        for offset in (300, 400, 500):
            emu.script(ScriptedResponse(status=429, body=b"{}", offset=offset))
        async with client.invocations.list(prefetch=8) as listing:
            got = [i async for i in listing]
        assert ids(got) == ids(emu.invocations)


async def test_an_error_on_the_first_page_raises_with_nothing_delivered(
    emu: KernelEmulator,
) -> None:
    emu.script(ScriptedResponse(status=429, body=b'{"code":"rate_limited","message":"slow"}'))
    async with emu.client() as client:
        listing = client.invocations.list(max_retries=0)
        with pytest.raises(RateLimitError):
            async for _ in listing:
                pass
        assert listing.resume_offset == 0


async def test_contradictory_headers_at_the_head_are_a_pagination_error(
    emu: KernelEmulator,
) -> None:
    emu.script(ScriptedResponse(body=b"[]", headers={"X-Has-More": "true"}, offset=99))
    async with emu.client() as client:
        with pytest.raises(PaginationError):
            async with client.invocations.list() as listing:
                async for _ in listing:
                    pass


async def test_break_inside_async_with_leaves_nothing_running(emu: KernelEmulator) -> None:
    emu.latency = 0.05
    async with emu.client() as client:
        async with client.invocations.list(prefetch=8, limit=10) as listing:
            async for _ in listing:
                break
            assert listing.in_flight == 7
        assert listing.in_flight == 0
        assert not our_tasks()
        assert listing.resume_offset == 1


async def test_aclose_midway_cancels_and_awaits(emu: KernelEmulator) -> None:
    async with emu.client() as client:
        listing = client.invocations.list(prefetch=8, limit=10)
        first = [await anext(listing) for _ in range(15)]
        await listing.aclose()
        assert not our_tasks()
        with pytest.raises(RuntimeError, match="ended"):
            [i async for i in listing]
        assert listing.resume_offset == 15
        assert ids(first) == ids(emu.invocations[:15])


async def test_a_cancelled_consumer_cleans_up_when_it_leaves_async_with(
    emu: KernelEmulator,
) -> None:
    async with emu.client() as client:
        listing = client.invocations.list(prefetch=8, limit=10)
        started = asyncio.Event()

        def latency(request: RecordedRequest) -> float:
            if request.offset and request.offset >= 100:
                started.set()
                return 10.0
            return 0.0

        emu.latency = latency

        async def consume() -> None:
            async with listing:
                async for _ in listing:
                    pass

        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert listing.in_flight == 0
        assert not our_tasks()  # nothing of the walk's survived, not even for one loop turn


async def test_a_cancelled_consumer_can_go_on_with_the_same_listing(emu: KernelEmulator) -> None:
    # A cancellation (a timeout around one item, say) loses nothing: the requests go on, and
    # iterating again yields exactly the rest.
    emu.latency = 0.01
    got: list[str] = []
    async with emu.client() as client, client.invocations.list(prefetch=4, limit=25) as listing:
        timeouts = 0
        while True:
            try:
                async with asyncio.timeout(0.005):
                    got.append((await anext(listing)).id)
            except TimeoutError:
                timeouts += 1
            except StopAsyncIteration:
                break
    assert timeouts > 0
    assert got == ids(emu.invocations)


async def test_a_bare_break_without_async_with_leaves_nothing_running(emu: KernelEmulator) -> None:
    emu.latency = 0.05
    async with emu.client() as client:
        async for _ in client.invocations.list(prefetch=8, limit=10):
            break
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not our_tasks()


async def test_inserts_during_the_walk_cause_no_duplicates_and_no_gaps() -> None:
    original = generate_invocations(600, seed=8, now=NOW)
    inserted = iter(range(10_000))

    def latency(request: RecordedRequest) -> float:
        # A new invocation starts with every third request: newest first, so it shifts
        # every later page down by one.
        if len(emu.requests) % 3 == 0:
            n = next(inserted)
            emu.add_invocation(
                {
                    **original[0],
                    "id": f"new{n:05d}",
                    "started_at": f"2026-06-01T11:59:{n % 60:02d}.{n:09d}Z",
                }
            )
        return 0.002 * (len(emu.requests) % 4)

    async with KernelEmulator(original, latency=latency, now=NOW) as emu, emu.client() as client:
        for prefetch in (1, 8):
            async with client.invocations.list(limit=50, prefetch=prefetch) as listing:
                got = ids([i async for i in listing])
            walked_original = [i for i in got if not i.startswith("new")]
            assert len(got) == len(set(got)), "duplicates"
            assert walked_original == ids(original_sorted(original)), "gaps or disorder"
        assert listing.resyncs > 0


def original_sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from kernel_async._timestamps import rfc3339_to_epoch_ns

    return sorted(items, key=lambda i: (-rfc3339_to_epoch_ns(i["started_at"]), i["id"]))


async def test_dedupe_is_deprecated_and_changes_nothing() -> None:
    original = generate_invocations(60, seed=9, now=NOW)

    def latency(request: RecordedRequest) -> float:
        if request.offset == 19:
            emu.add_invocation(
                {**original[0], "id": "brand-new", "started_at": "2026-06-01T11:59:59Z"}
            )
        return 0.0

    async with KernelEmulator(original, latency=latency, now=NOW) as emu, emu.client() as client:
        with pytest.warns(DeprecationWarning, match="dedupe"):
            listing = client.invocations.list(limit=20, prefetch=1, dedupe=False)
        async with listing:
            got = ids([i async for i in listing])
    # The new invocation started at the head after the walk passed it: every other one, once.
    assert got == ids(original_sorted(original))


async def test_pages_carry_their_headers(emu: KernelEmulator) -> None:
    async with emu.client() as client, client.invocations.list(limit=100, prefetch=2) as listing:
        pages = [p async for p in listing.pages()]
        with pytest.raises(RuntimeError, match="by pages"):
            listing.__aiter__()
    # A page's offset is its first new invocation's: after the first, 99 new per page.
    assert [p.offset for p in pages] == [0, *range(100, 1000, 99)]
    assert all(p.limit == 100 and p.request_id for p in pages)
    assert [p.has_more for p in pages] == [True] * 10 + [False]
    assert ids(i for p in pages for i in p) == ids(emu.invocations)


async def test_max_items_stops_early_and_asks_for_no_more_than_needed(emu: KernelEmulator) -> None:
    async with emu.client() as client:
        async with client.invocations.list(max_items=5) as listing:
            assert len([i async for i in listing]) == 5
        assert [r.limit for r in emu.requests] == [5]
        assert listing.resume_offset == 5
        async with client.invocations.list(max_items=250, limit=100, prefetch=8) as listing:
            got = [i async for i in listing]
        assert ids(got) == ids(emu.invocations[:250])
        assert listing.resume_offset == 250
        assert {r.offset for r in emu.requests[1:]} == {0, 99, 198}
        async with client.invocations.list(max_items=0) as listing:
            assert [i async for i in listing] == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"prefetch": 0}, ValueError),
        ({"prefetch": DEFAULT_MAX_CONNECTIONS + 1}, ValueError),  # above the pool
        ({"prefetch": 2.0}, TypeError),
        ({"max_items": -1}, ValueError),
        ({"max_items": "5"}, TypeError),
        ({"dedupe": "yes"}, TypeError),
        ({"limit": 0}, ValueError),
        ({"offset": -5}, ValueError),
        ({"status": "done"}, ValueError),
        ({"since": "tomorrow"}, ValueError),
    ],
)
async def test_invalid_arguments_raise_at_the_call(
    emu: KernelEmulator, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with emu.client() as client:
        with pytest.raises(error):
            client.invocations.list(**kwargs)
    assert emu.requests == []


async def test_prefetch_and_the_connection_pool_agree(emu: KernelEmulator) -> None:
    emu.latency = 0.01
    async with emu.client(max_connections=4) as client:
        assert client.connection_limit == 4
        with pytest.raises(ValueError, match="connection_limit"):
            client.invocations.list(prefetch=5)

        async def walk() -> list[str]:
            async with client.invocations.list(prefetch=4, limit=50) as listing:
                return ids([i async for i in listing])

        first, second = await asyncio.gather(walk(), walk())
    assert first == second == ids(emu.invocations)
    assert emu.max_in_flight <= 4  # two walks of 4 share 4 connections, waiting outside timeouts


async def test_a_walk_of_three_pages_sends_at_most_the_first_window_past_its_end() -> None:
    # A first round trip of 50 ms asks for 50 pages in flight; the first page gives 16 at most
    # (START_AT_MOST), though the window may grow to 32: a short walk does not know it is.
    async with (
        KernelEmulator(count=250, seed=2, now=NOW, latency=0.05) as emulator,
        emulator.client() as client,
        client.invocations.list() as listing,
    ):
        assert len([i async for i in listing]) == 250
        assert listing.stats.peak_window == START_AT_MOST
    assert DEFAULT_MAX_PREFETCH > START_AT_MOST
    assert len(emulator.requests) <= 3 + START_AT_MOST  # its three pages, a window past them
    assert emulator.max_in_flight <= START_AT_MOST


async def test_the_in_memory_client_has_the_clients_default_pool(emu: KernelEmulator) -> None:
    async with emu.client(in_memory=True) as in_memory, emu.client() as over_tcp:
        assert in_memory.connection_limit == over_tcp.connection_limit == DEFAULT_MAX_CONNECTIONS
        listing = in_memory.invocations.list(prefetch=DEFAULT_MAX_CONNECTIONS)  # accepted
        await listing.aclose()


async def test_a_callers_small_pool_limits_prefetch(emu: KernelEmulator) -> None:
    connector = aiohttp.TCPConnector(limit_per_host=3)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        emu.client(session=session) as client,
    ):
        assert client.connection_limit == 3
        with pytest.raises(ValueError, match="prefetch"):
            client.invocations.list(prefetch=4)


async def test_a_second_cancellation_during_cleanup_still_waits_for_every_request(
    emu: KernelEmulator,
) -> None:
    emu.latency = lambda request: 10.0 if (request.offset or 0) >= 50 else 0.0
    async with emu.client() as client:
        listing = client.invocations.list(prefetch=8, limit=10)

        async def consume() -> None:
            async with listing:
                async for _ in listing:
                    pass

        task = asyncio.create_task(consume())
        while listing.in_flight < 7:  # noqa: ASYNC110 - waits for the window to fill
            await asyncio.sleep(0.005)
        task.cancel()
        for _ in range(3):  # cancel again while the walk is cleaning up
            await asyncio.sleep(0)
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not our_tasks()
        assert listing.in_flight == 0
