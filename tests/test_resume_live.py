"""A resumed walk whose anchor moved far down the list finds it in a few requests.

End to end through the client, against the emulator in process: the requests counted are the
emulator's own record of what it was asked.
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from typing import Any

import attrs
import pytest

from kernel_async import ResumeToken
from kernel_async._params import MAX_OFFSET
from kernel_async.testing import (
    ChangeKind,
    Churn,
    KernelEmulator,
    LiveData,
    generate_invocations,
    make_invocation,
)

from conftest import NOW
from live import api_order, judge, one_instant, started_since

SECOND = timedelta(seconds=1)


async def token_after(data: list[dict[str, Any]], taken: int) -> ResumeToken:
    """The token of a walk that delivered the first ``taken`` of ``data`` and stopped."""
    emulator = KernelEmulator(data, now=NOW)
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(max_items=taken) as first,
    ):
        assert [i.id async for i in first] == [i["id"] for i in api_order(data)[:taken]]
    token = first.resume_token
    assert token is not None
    return token


@pytest.mark.parametrize(
    ("new", "max_items", "before", "bound"),
    [
        # Before: 2 requests, 1113 and 109 (a page of min(limit, max_items) at a time).
        (0, 10, 2, 1),
        (10_000, 10, 1113, 2 * math.ceil(math.log2(10_000 / 100)) + 2),
        (10_000, None, 109, 2 * math.ceil(math.log2(10_000 / 100)) + 2 + 5 + 3),
    ],
)
async def test_invocations_started_since_the_token_cost_log_n_requests(
    new: int, max_items: int | None, before: int, bound: int
) -> None:
    data = api_order(generate_invocations(500, seed=1, now=NOW))
    token = await token_after(data, 100)
    owed = [i["id"] for i in data[100:]]
    emulator = KernelEmulator(data + started_since(new), now=NOW)  # started since the token
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(resume=token, max_items=max_items, prefetch=4) as rest,
    ):
        got = [i.id async for i in rest]
    requests = len(emulator.requests)
    assert got == owed[:max_items]
    assert requests <= bound < before  # the search, 5 pages, and what a window sends past the end
    assert (rest.stats.searched > 0) == (new > 0)
    assert rest.possible_gaps == 0


async def test_the_search_reads_pages_of_limit_and_max_items_only_bounds_what_is_delivered() -> (
    None
):
    data = api_order(generate_invocations(300, seed=4, now=NOW))
    token = await token_after(data, 50)
    emulator = KernelEmulator(data + started_since(3000), now=NOW)
    async with emulator.client(in_memory=True) as client:
        for limit, max_items, searched_at, walked_at in [
            (None, 30, 100, 30),  # the default limit, 100, while searching; then pages of 30
            (20, None, 20, 20),  # a limit given bounds every request
            (20, 5, 20, 5),
        ]:
            asked = len(emulator.requests)
            async with client.invocations.list(
                resume=token, limit=limit, max_items=max_items
            ) as rest:
                pages = [page async for page in rest.pages()]
            limits = [request.limit for request in emulator.requests[asked:]]
            searched = rest.stats.searched
            assert set(limits[: searched + 1]) == {searched_at}
            assert set(limits[searched + 1 :]) <= {walked_at}
            # Pages delivered hold at most a page of the walk's size, read from the search's.
            assert all(len(page) <= walked_at for page in pages)
            delivered = [item.id for page in pages for item in page]
            assert delivered == [i["id"] for i in data[50:]][:max_items]
            # Each page says where the next starts, as a page of the walk's size would.
            for page, after in itertools.pairwise(pages):
                assert page.has_more
                assert page.next_offset is not None
                assert page.offset + len(page) == page.next_offset == after.offset


@pytest.mark.parametrize(
    ("rate", "kinds", "prefetch"),
    [
        (20.0, {Churn.HEAD_INSERT: 1.0}, None),
        (40.0, {Churn.HEAD_INSERT: 1.0}, 4),
        (10.0, {Churn.HEAD_INSERT: 3.0, Churn.DELETE: 1.0, Churn.STATUS_CHANGE: 1.0}, 8),
    ],
)
async def test_invocations_arriving_at_the_head_during_the_resume_do_not_stop_it(
    rate: float, kinds: dict[Churn, float], prefetch: int | None
) -> None:
    # 10,000 started since the token, and more keep starting (tens per request) while the
    # resumed walk looks for its place and walks on: before, it moved 99 a request through
    # 10,000 and more, delivering nothing for over a hundred requests; now it finds its
    # place in a few and delivers every invocation owed once, in order.
    data = generate_invocations(400, seed=5, now=NOW)
    token = await token_after(data, 100)
    emulator = KernelEmulator(data + started_since(10_000), now=NOW)
    owed = emulator.list_invocations()[10_100:]
    emulator.live = LiveData(seed=5, rate=rate, kinds=kinds, reorder=True)
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(resume=token, prefetch=prefetch) as rest,
    ):
        got = [i async for i in rest]
    requests = len(emulator.requests)
    started = sum(1 for change in emulator.changes if change.kind == ChangeKind.INSERT)
    verdict = judge(got, owed, emulator)
    assert (verdict.lost, verdict.duplicated, verdict.reordered) == (0, 0, 0)
    assert verdict.owed > 250
    assert rest.possible_gaps == 0
    assert started >= rate * requests / 2  # the head kept growing all along
    # Before: 115 to 206 requests (99 a request through the 10,000 and those that kept
    # coming); now 25 to 50, of which at most 2 log2(10,000 / 100) + 4 looking.
    assert requests <= 80
    assert rest.stats.searched <= 2 * math.ceil(math.log2(10_000 / 100)) + 4


@pytest.mark.parametrize("offset", [10**9, MAX_OFFSET])
async def test_a_token_far_past_the_end_costs_log_requests(offset: int) -> None:
    # Before: the search walked back 1,024 pages a request, 9,768 requests from 10**9.
    data = api_order(generate_invocations(500, seed=1, now=NOW))
    token = attrs.evolve(await token_after(data, 100), offset=offset)
    emulator = KernelEmulator(data, now=NOW)
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(resume=token) as rest,
    ):
        got = [i.id async for i in rest]
    assert got == [i["id"] for i in data[100:]]
    assert rest.stats.searched <= 2 * math.ceil(math.log2(offset / 100)) + 4
    assert len(emulator.requests) <= rest.stats.searched + 30  # the search, then the walk


async def test_a_walk_of_one_invocation_at_a_time_still_searches() -> None:
    # limit=1, max_items=1: the walk reads pages of one, but its search reads pages of two
    # (a page of one bounds nothing): 3,000 started since cost a few requests, not 3,000.
    data = api_order(generate_invocations(300, seed=4, now=NOW))
    token = await token_after(data, 50)
    emulator = KernelEmulator(data + started_since(3000), now=NOW)
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(resume=token, limit=1, max_items=1) as rest,
    ):
        got = [i.id async for i in rest]
    assert got == [data[50]["id"]]
    assert rest.stats.searched > 0
    assert len(emulator.requests) <= 2 * math.ceil(math.log2(3000)) + 4
    assert {int(r.query["limit"]) for r in emulator.requests} <= {1, 2}


@pytest.mark.parametrize(
    ("ties", "taken", "new", "deleted", "limit"),
    [
        # Before the token counted and marked the ties it cannot name, each of these
        # delivered again, silently, 435 (or 2,235) of the ties it had delivered.
        (1000, 700, 150, 0, 100),
        (1000, 700, 5000, 0, 100),
        (1000, 700, 5000, 1, 100),  # the anchor itself gone
        (1000, 700, 5000, 0, 10),
        (3000, 2500, 5000, 3, 100),
        # Marks 113 apart, pages of 100: a page of ties may hold none. The search ranks it
        # from where an earlier page placed the tie's start (without that, it never ended).
        (30_000, 29_000, 5000, 0, 100),
        (1000, 700, 5000, 0, 1),  # pages of one: ranked from the start as well
    ],
)
async def test_a_resume_inside_a_tie_longer_than_the_token_names_delivers_each_once(
    ties: int, taken: int, new: int, deleted: int, limit: int
) -> None:
    tied = one_instant(ties)
    data = api_order(tied + generate_invocations(50, seed=6, now=NOW))
    async with (
        KernelEmulator(data, now=NOW).client(in_memory=True) as client,
        client.invocations.list(max_items=taken, limit=limit) as first,
    ):
        got = [i.id async for i in first]
    token = first.resume_token
    assert token is not None
    # Since the token: `new` invocations started, and the last `deleted` delivered are gone.
    since = [d for d in data if d["id"] not in got[len(got) - deleted :]] + started_since(new)
    async with (
        KernelEmulator(since, now=NOW).client(in_memory=True) as client,
        client.invocations.list(resume=str(token), limit=limit) as rest,
    ):
        more = [i.id async for i in rest]
    assert more == [d["id"] for d in data[taken:]]  # each owed once, in order, none again
    assert rest.stats.searched > 0
    assert rest.possible_gaps == 0
    tied_ids = {t["id"] for t in tied}
    assert token.ties_before == sum(i in tied_ids for i in got) - 1 - 8 - 256


async def test_a_walk_resumed_twice_inside_a_long_tie_counts_on() -> None:
    # The second token is taken by a walk resumed from the first, still inside the tie: its
    # ranks go on from the first one's count.
    data = api_order(one_instant(2000) + generate_invocations(20, seed=7, now=NOW))
    emulator = KernelEmulator(data, now=NOW)
    delivered: list[str] = []
    token: ResumeToken | None = None
    async with emulator.client(in_memory=True) as client:
        for round_, (taken, new) in enumerate([(600, 0), (700, 3000), (None, 3000)]):
            async with client.invocations.list(resume=token, max_items=taken) as walk:
                delivered += [i.id async for i in walk]
            token = walk.resume_token
            for n in range(new):
                at = f"2026-06-0{3 + round_}T00:00:00.{n:06d}Z"
                emulator.add_invocation(make_invocation(id=f"new{round_}_{n}", started_at=at))
    assert delivered == [d["id"] for d in data]


# -- pages of one invocation (a server that caps limit at 1) ------------------------------------


def _ordered(count: int) -> list[dict[str, Any]]:
    return [
        make_invocation(id=f"inv_{n:03d}", status="succeeded", started_at=NOW - n * SECOND)
        for n in range(count)
    ]


@pytest.mark.parametrize("offset", [25, 10_000, MAX_OFFSET])
async def test_a_token_past_the_end_finds_its_place_in_pages_of_one(offset: int) -> None:
    # A token whose offset lies past the end (made by hand, or the list shrank) against a
    # server that serves one invocation per page: the search still bisects, page by page,
    # and the walk delivers what the first one had not. Before: nothing at all, and one
    # possible gap counted for the fifteen invocations it never delivered.
    data = _ordered(20)
    token = attrs.evolve(await token_after(data, 5), offset=offset)
    async with (
        KernelEmulator(data, now=NOW, limit_cap=1) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.list(resume=token) as rest,
    ):
        delivered = [i.id async for i in rest]
    assert delivered == [i["id"] for i in data[5:]]
    # One page per position while it searches: about 2 log2(offset) requests, not offset.
    assert rest.stats.searched <= 2 * math.ceil(math.log2(offset)) + 2


async def test_a_list_that_shrank_past_the_token_in_pages_of_one_loses_nothing() -> None:
    # The realistic way there: the first walk delivered 5 of 8; the four newest are deleted,
    # so the token's offset (5) is past the end of the 4 left. The 3 owed still come.
    data = _ordered(8)
    token = await token_after(data, 5)
    async with (
        KernelEmulator(data[4:], now=NOW, limit_cap=1) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.list(resume=token) as rest,
    ):
        delivered = [i.id async for i in rest]
    assert delivered == ["inv_005", "inv_006", "inv_007"]
