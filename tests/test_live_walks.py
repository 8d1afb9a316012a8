"""Walks while the data changes: the cases from the issue, resuming, and what churn costs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kernel_async import APIConnectionError, AsyncKernel, ContinuityError, ResumeToken
from kernel_async.testing import KernelEmulator, LiveData, generate_invocations, make_invocation

from conftest import NOW
from live import api_order, judge, naive_walk


def running(n: int, *, status: str = "running") -> list[dict[str, Any]]:
    """``n`` invocations, a second apart, newest first: ``inv00`` is the newest."""
    return [
        make_invocation(
            id=f"inv{i:02d}",
            status=status,
            started_at=f"2026-05-01T00:{59 - i // 60:02d}:{59 - i % 60:02d}Z",
        )
        for i in range(n)
    ]


async def walk(client: AsyncKernel, **kwargs: Any) -> list[str]:
    async with client.invocations.list(**kwargs) as listing:
        return [invocation.id async for invocation in listing]


# -- the cases the issue reproduced: page size 10, 50 invocations ---------------------------


@pytest.mark.parametrize("prefetch", [1, 4])
async def test_one_that_finishes_before_a_boundary_is_not_lost(prefetch: int) -> None:
    # Walking status=running, inv05 finishes after the first page: every later one moves up.
    def finish(emu: KernelEmulator) -> None:
        emu.set_status("inv05", "succeeded")

    def emulator() -> KernelEmulator:
        live = LiveData(seed=1, script={1: finish}, reorder=True)
        return KernelEmulator(running(50), now=NOW, live=live)

    ours = emulator()
    async with ours.client(in_memory=True) as client:
        got = await walk(client, status="running", limit=10, prefetch=prefetch)
    expected = [f"inv{i:02d}" for i in range(50)]
    assert got == expected  # inv05 was delivered before it finished; nothing else was lost

    naive = emulator()
    async with naive.client(in_memory=True) as client:
        delivered, _ = await naive_walk(client, limit=10, status="running")
    assert len(set(expected) - {i.id for i in delivered}) == 1  # a sequential walk loses inv10


@pytest.mark.parametrize("prefetch", [1, 4])
async def test_one_that_enters_the_filter_in_the_middle_costs_nothing(prefetch: int) -> None:
    data = running(50, status="failed")
    data[25] = {**data[25], "status": "running"}  # turns failed during the walk

    def fail(emu: KernelEmulator) -> None:
        emu.set_status(data[25]["id"], "failed")

    live = LiveData(seed=2, script={1: fail}, reorder=True)
    emu = KernelEmulator(data, now=NOW, live=live)
    initial = emu.list_invocations(status="failed")
    async with (
        emu.client(in_memory=True) as client,
        client.invocations.list(status="failed", limit=10, prefetch=prefetch) as it,
    ):
        delivered = [i async for i in it]
    verdict = judge(delivered, initial, emu, status="failed")
    assert (verdict.lost, verdict.duplicated, verdict.reordered) == (0, 0, 0)
    assert verdict.owed == 49
    assert it.possible_gaps == 0


@pytest.mark.parametrize("prefetch", [1, 4])
async def test_one_started_at_the_head_is_after_the_walk(prefetch: int) -> None:
    def start(emu: KernelEmulator) -> None:
        emu.add_invocation(make_invocation(id="new", started_at="2026-06-01T00:00:00Z"))

    emu = KernelEmulator(running(50), now=NOW, live=LiveData(script={2: start}, reorder=True))
    async with emu.client(in_memory=True) as client:
        got = await walk(client, limit=10, prefetch=prefetch)
    assert got == [f"inv{i:02d}" for i in range(50)]


# -- resuming -----------------------------------------------------------------------------


async def test_a_resume_token_carries_on_exactly_after_the_data_moved() -> None:
    emu = KernelEmulator(running(60), now=NOW)
    async with emu.client(in_memory=True) as client:
        listing = client.invocations.list(limit=10, prefetch=4)
        async with listing:
            first = [(await anext(listing)).id for _ in range(23)]
        token = listing.resume_token
        assert token is not None
        assert token.offset == listing.resume_offset == 23
        assert token.last_id == "inv22"
        # Meanwhile: two start at the head, the last one delivered and one before it go.
        emu.add_invocation(make_invocation(id="newer1", started_at="2026-06-01T00:00:01Z"))
        emu.add_invocation(make_invocation(id="newer2", started_at="2026-06-01T00:00:02Z"))
        emu.remove_invocation("inv22")
        emu.remove_invocation("inv10")
        # An integer offset is now off by one; the token is not.
        rest = await walk(client, resume=str(token), limit=10, prefetch=4)
    assert first + rest == [f"inv{i:02d}" for i in range(60)]


async def test_a_token_round_trips_as_a_string_and_keeps_its_filters() -> None:
    emu = KernelEmulator(generate_invocations(200, seed=3, now=NOW), now=NOW)
    async with emu.client(in_memory=True) as client:
        listing = client.invocations.list(status="succeeded", since="72h", limit=7)
        async with listing:
            first = [(await anext(listing)).id for _ in range(10)]
        token = listing.resume_token
        assert token is not None
        assert ResumeToken.parse(str(token)) == token
        assert dict(token.filters) == {"status": "succeeded", "since": "72h"}
        rest = await walk(client, resume=token)  # the filters come from the token
        same = await walk(client, resume=token, status="succeeded", since="72h")
    expected = [i["id"] for i in emu.list_invocations(status="succeeded", since="72h")]
    assert first + rest == first + same == expected


async def test_a_token_refuses_other_filters_and_offset() -> None:
    emu = KernelEmulator(running(5), now=NOW)
    async with emu.client(in_memory=True) as client:
        token = ResumeToken(filters=(("status", "failed"),), offset=3)
        with pytest.raises(ValueError, match="filters"):
            client.invocations.list(resume=token, status="running")
        with pytest.raises(ValueError, match="either offset or resume"):
            client.invocations.list(resume=token, offset=3)
        for damaged in ("ka1.!!!", "ka1." + "e30", "nope", "ka1.eyJmIjp7fSwibyI6LTF9"):
            with pytest.raises(ValueError, match="resume token"):
                client.invocations.list(resume=damaged)
        with pytest.raises(TypeError):
            client.invocations.list(resume=42)  # type: ignore[arg-type]
    assert emu.requests == []


async def test_a_finished_walk_has_no_token_and_one_before_anything_has_an_offset() -> None:
    emu = KernelEmulator(running(5), now=NOW)
    async with emu.client(in_memory=True) as client:
        listing = client.invocations.list(offset=2)
        token = listing.resume_token
        assert token is not None
        assert (token.offset, token.last_id) == (2, None)
        async with listing:
            assert [i.id async for i in listing] == ["inv02", "inv03", "inv04"]
        assert listing.resume_token is None
        assert listing.resume_offset is None


# -- what churn costs ---------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "prefetch"), [(5, 8), (10, 8), (10, 16), (20, 16)])
async def test_head_inserts_every_few_requests_cost_requests_in_proportion(
    limit: int, prefetch: int
) -> None:
    data = generate_invocations(400, seed=limit, now=NOW)
    counter = iter(range(10_000))

    def start(emu: KernelEmulator) -> None:
        n = next(counter)
        emu.add_invocation(
            make_invocation(
                id=f"new{n:04d}", started_at=f"2026-06-01T11:{n // 60:02d}:{n % 60:02d}Z"
            )
        )

    def emulator() -> KernelEmulator:
        # A new invocation at the head every 8th response.
        script = dict.fromkeys(range(3, 4000, 8), start)
        return KernelEmulator(data, now=NOW, live=LiveData(seed=limit, script=script, reorder=True))

    results = {}
    for window in (1, prefetch):
        emu = emulator()
        async with (
            emu.client(in_memory=True) as client,
            client.invocations.list(limit=limit, prefetch=window) as listing,
        ):
            delivered = [i async for i in listing]
        verdict = judge(delivered, api_order(data), emu)
        assert (verdict.lost, verdict.duplicated, verdict.reordered) == (0, 0, 0)
        assert listing.possible_gaps == 0
        results[window] = len(emu.requests)
    sequential = -(-400 // limit) + 1
    assert results[prefetch] <= 1.5 * sequential + prefetch, results
    assert results[1] <= 1.5 * sequential, results


# -- the emulator's live mode ---------------------------------------------------------------


async def test_the_same_seed_replays_the_same_walk_in_process() -> None:
    async def one() -> tuple[list[str], list[Any], list[Any]]:
        live = LiveData(seed=5, rate=0.3, reorder=True)
        emu = KernelEmulator(generate_invocations(150, seed=5, now=NOW), now=NOW, live=live)
        async with emu.client(in_memory=True) as client:
            got = await walk(client, limit=9, prefetch=6)
        return got, emu.changes, [r.offset for r in emu.requests]

    first, second = await one(), await one()
    assert first == second
    assert len(first[1]) > 3  # it did change


async def test_live_data_over_tcp_keeps_every_invocation_that_stayed() -> None:
    totals = {"changes": 0, "bridges": 0}
    for seed in range(12):
        live = LiveData(seed=seed, rate=0.15, reorder=True, hold=0.002)
        data = generate_invocations(120, seed=seed, now=NOW)
        async with KernelEmulator(data, now=NOW, live=live) as emu, emu.client() as client:
            initial = emu.list_invocations()
            async with client.invocations.list(limit=8, prefetch=6) as listing:
                delivered = [i async for i in listing]
        verdict = judge(delivered, initial, emu)
        assert (verdict.lost, verdict.duplicated, verdict.reordered) == (0, 0, 0), seed
        totals["changes"] += len(emu.changes)
        totals["bridges"] += listing.stats.bridges
    assert totals["changes"] > 30


async def test_a_change_log_says_what_happened_and_when() -> None:
    emu = KernelEmulator(running(3), now=NOW)
    emu.set_status("inv01", "failed", status_reason="boom")
    emu.remove_invocation("inv02")
    emu.add_invocation(make_invocation(id="x", started_at="2026-06-01T00:00:00Z"))
    assert [(c.tick, c.kind.value, c.id, c.status_before, c.status_after) for c in emu.changes] == [
        (0, "status", "inv01", "running", "failed"),
        (0, "delete", "inv02", "running", None),
        (0, "insert", "x", None, "succeeded"),
    ]
    async with emu.client(in_memory=True) as client:
        await client.invocations.list_page()
    assert emu.served == 1
    with pytest.raises(ValueError, match="never change"):
        emu.set_status("x", "failed", started_at="2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="already exists"):
        emu.add_invocation(make_invocation(id="x"))
    with pytest.raises(ValueError, match="rate"):
        LiveData(rate=-1)


async def test_an_emulator_answer_can_wait_for_its_turn_and_still_shut_down() -> None:
    # Held requests of a closing emulator do not hang the client or leak.
    live = LiveData(seed=1, reorder=True, hold=30.0)
    async with KernelEmulator(running(20), now=NOW, live=live) as emu:
        client = emu.client(max_retries=0, timeout=5.0)
        task = asyncio.create_task(client.invocations.list_page())
        while not emu.requests:  # noqa: ASYNC110 - waits for the request to arrive
            await asyncio.sleep(0.001)
    with pytest.raises(APIConnectionError):  # the connection went away with the emulator
        await task
    await client.aclose()


async def test_a_token_carries_the_ties_of_its_last_invocation() -> None:
    # Forty invocations started in the same second: the API orders them in a stable order of
    # its own, which no client can derive. A token taken inside the tie remembers all of them.
    tied = [make_invocation(id=f"t{n:02d}", started_at="2026-05-01T00:00:00Z") for n in range(40)]
    emu = KernelEmulator([*tied, *running(10)], now=NOW)
    async with emu.client(in_memory=True) as client:
        async with client.invocations.list(limit=5, max_items=23) as first:
            got = [i.id async for i in first]
        token = first.resume_token
        assert token is not None
        ties_delivered = {i for i in got if i.startswith("t")} - {token.last_id}
        assert len(ties_delivered) == 12
        assert ties_delivered <= set(token.recent_ids)  # every one, not only the last few
        for gone in got[-12:]:  # the anchor and the ones just before it go
            emu.remove_invocation(gone)
        rest = await walk(client, resume=ResumeToken.parse(str(token)), limit=5)
    assert len(got + rest) == len(set(got + rest))  # nothing twice
    assert set(got + rest) == {i["id"] for i in [*tied, *running(10)]}


# -- a server whose order of ties is not stable ----------------------------------------------


def one_second(n: int) -> list[dict[str, Any]]:
    """``n`` invocations that started in the same whole second: one tie."""
    return [make_invocation(id=f"t{i:04d}", started_at="2026-05-01T00:00:00Z") for i in range(n)]


async def test_the_emulator_can_serve_each_tie_in_another_order_at_each_request() -> None:
    data = api_order(one_second(30) + running(3))
    emulator = KernelEmulator(data, now=NOW, live=LiveData(seed=3, shuffle_ties=True))
    async with emulator.client(in_memory=True) as client:
        orders = [
            [i.id for i in (await client.invocations.list_page(limit=100)).items] for _ in range(3)
        ]
    stable = [i["id"] for i in emulator.list_invocations()]
    assert all(sorted(order) == sorted(stable) for order in orders)  # the same invocations
    assert all(order[:3] == stable[:3] for order in orders)  # the newer ones first, in order
    assert len({tuple(order) for order in orders}) == 3  # the tie in another order each time


async def test_a_page_inside_a_shuffled_tie_is_a_sample_of_the_whole_tie() -> None:
    data = api_order(one_second(1000))
    emulator = KernelEmulator(data, now=NOW, live=LiveData(seed=1, shuffle_ties=True))
    async with emulator.client(in_memory=True) as client:
        pages = [await client.invocations.list_page(limit=10, offset=500) for _ in range(20)]
    shown = [invocation.id for page in pages for invocation in page.items]
    assert all(len({i.id for i in page.items}) == 10 for page in pages)  # no repeats in one
    assert len(set(shown)) > 100  # from all over the tie, not positions 500-509 reordered


async def test_a_tie_in_another_order_at_each_request_is_noticed_and_taken_by_id() -> None:
    # A server that sorts by started_at alone (SQL promises no order among equal keys) breaks
    # the order a walk relies on: it cannot be exact. The first page of the tie after the
    # first shows ties in another order than a page did before: the walk counts it, and from
    # then on takes every tie a page shows that it has not delivered, none twice.
    data = api_order(one_second(500) + running(20))
    emulator = KernelEmulator(data, now=NOW, live=LiveData(seed=5, shuffle_ties=True))
    async with emulator.client(in_memory=True) as client:
        async with client.invocations.list(limit=100, prefetch=1) as listing:
            got = [invocation.id async for invocation in listing]
        assert len(got) == len(set(got))
        assert got[:20] == [f"inv{i:02d}" for i in range(20)]  # before the tie: exact
        assert listing.possible_gaps >= 4  # each page of the tie after the first
        assert len(got) - 20 >= 250  # of 500: each page another sample of the tie
        with pytest.raises(ContinuityError, match="order of ties changed"):
            await walk(client, limit=100, prefetch=1, strict=True)


@pytest.mark.parametrize(("limit", "prefetch"), [(10, 1), (10, 4), (37, None)])
async def test_a_tie_in_another_order_at_each_request_is_never_delivered_twice(
    limit: int, prefetch: int | None
) -> None:
    data = api_order(one_second(500) + running(20))
    emulator = KernelEmulator(data, now=NOW, live=LiveData(seed=5, shuffle_ties=True))
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(limit=limit, prefetch=prefetch) as listing,
    ):
        got = [invocation.id async for invocation in listing]
    assert len(got) == len(set(got))
    assert listing.possible_gaps > 0


async def test_a_stable_order_of_ties_walks_exactly_on_the_same_data() -> None:
    data = api_order(one_second(500) + running(20))
    emulator = KernelEmulator(data, now=NOW)
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(limit=10, strict=True) as listing,
    ):
        got = [invocation.id async for invocation in listing]
    assert got == [i["id"] for i in data]
    assert listing.possible_gaps == 0


async def test_a_long_tie_walks_exactly_while_tokens_are_read_in_the_middle() -> None:
    # The walk's anchors along a tie share what they know; a token read mid-page makes one
    # aside from them, which must neither see nor change what the walk goes on with.
    data = api_order(one_second(3000) + running(5))
    emulator = KernelEmulator(data, now=NOW)
    got: list[str] = []
    tokens: list[ResumeToken] = []
    async with emulator.client(in_memory=True) as client:
        async with client.invocations.list(limit=10, prefetch=4, strict=True) as listing:
            async for invocation in listing:
                got.append(invocation.id)
                if len(got) % 7 == 0:
                    token = listing.resume_token
                    assert token is not None
                    tokens.append(token)
        resumed = await walk(client, limit=10, resume=tokens[len(tokens) // 2], strict=True)
    assert got == [i["id"] for i in data]
    assert listing.possible_gaps == 0
    assert resumed == got[7 * (len(tokens) // 2 + 1) :]
