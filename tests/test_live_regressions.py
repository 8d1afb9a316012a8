"""Regressions from a hostile review of the exactly-once walk: each case once broke a promise.

F1 concurrent pages placed without a bridge under churn lost what a sequential walk keeps;
F2 ties in ``started_at`` whose cursor vanished were delivered twice; F3 small pages went over
the stated request budget; F4 inserts at the head looked like a server ignoring ``offset``;
F6 a resume token lost what moved further than the bridges reached; F7 a second consumer took
the rest silently; F8 a lost ``X-Has-More`` with a backward ``X-Next-Offset`` ended the walk
silently; F9 a hand-built token reached the server; F10 a repeated invocation came twice;
F11/F12 ``LiveData`` accepted what it could not use.

Everything is deterministic: the in-process emulator with seeded ``LiveData``, plain
``WalkPlan`` values, or a small aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from kernel_async import (
    AsyncKernel,
    Invocation,
    Page,
    PaginationError,
    ResumeToken,
)
from kernel_async._walk import WalkPlan
from kernel_async.testing import (
    Churn,
    KernelEmulator,
    LiveData,
    generate_invocations,
    make_invocation,
)

from conftest import NOW
from live import judge, naive_walk


def head_inserts(seed: int, total: int, rate: float) -> KernelEmulator:
    """Only new invocations starting (the most common churn), answers in a seeded order."""
    live = LiveData(seed=seed, rate=rate, kinds={Churn.HEAD_INSERT: 1.0}, reorder=True)
    return KernelEmulator(generate_invocations(total, seed=seed, now=NOW), now=NOW, live=live)


async def walk(emulator: KernelEmulator, **kwargs: Any) -> tuple[list[Invocation], Any]:
    async with emulator.client(in_memory=True) as client:
        listing = client.invocations.list(**kwargs)
        async with listing:
            got = [invocation async for invocation in listing]
    return got, listing


# -- F1: head inserts only, and the walk loses what a sequential walk keeps -------------------


async def test_f1_head_inserts_only_never_cost_an_invocation_a_sequential_walk_keeps() -> None:
    # Issue: "Never fewer such invocations than a sequential walk delivers"; the counter "stays
    # at 0 whenever an anchor survived". Only inserts happen here: no anchor can vanish, and a
    # sequential walk loses nothing (it only repeats). 1 insert per request, page size 10.
    emulator = head_inserts(seed=91, total=71, rate=1.0)
    initial = emulator.list_invocations()
    got, listing = await walk(emulator, limit=10, prefetch=12)
    ours = judge(got, initial, emulator)

    sequential_emulator = head_inserts(seed=91, total=71, rate=1.0)
    sequential_initial = sequential_emulator.list_invocations()
    async with sequential_emulator.client(in_memory=True) as client:
        naive, _ = await naive_walk(client, limit=10)
    sequential = judge(naive, sequential_initial, sequential_emulator)
    assert sequential.lost == 0  # holds today: a sequential walk keeps every one
    # Before the fix: ours.lost == 5, possible_gaps == 1 (unchecked mode places speculative
    # pages fetched before the inserts, without a bridge).
    assert (ours.lost, listing.possible_gaps) == (0, 0)


async def test_f1_strict_mode_does_not_raise_on_data_that_only_grows() -> None:
    # Same data: strict=True raises ContinuityError("... (heavy churn)") though only inserts
    # happened, i.e. every anchor survived and nothing needed to be lost.
    got, _ = await walk(
        head_inserts(seed=91, total=71, rate=1.0), limit=10, prefetch=12, strict=True
    )
    assert len(got) >= 71


# -- F2: ties in started_at ------------------------------------------------------------------


def _tied(n: int) -> Invocation:
    # A server whose started_at has whole seconds: 20 invocations in the same second, ties
    # in a stable server order (by id, as docs/pagination.md says the emulator serves).
    return Invocation(
        id=f"a{n:02d}",
        app_name="a",
        version="1",
        action_name="b",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        status="running",
    )


def test_f2_ties_cursor_and_recent_ids_gone_duplicate_invocations_pure_plan() -> None:
    # Delivered a00..a06 in pages of 3; then a03..a06 (cursor and every recent id) vanish.
    # a00..a02 existed throughout and were delivered; the walk delivers them AGAIN, with
    # possible_gaps == 0 (docs: "never delivers an invocation twice").
    data = list(range(20))
    plan = WalkPlan(start=0, window=1)
    out: list[str] = []
    while not plan.done:
        plan.plan(1)
        head = plan.head
        assert head is not None
        chunk = data[head.offset : head.offset + 3]
        more = head.offset + 3 < len(data)
        page = Page(
            items=tuple(_tied(n) for n in chunk),
            offset=head.offset,
            limit=3,
            has_more=more,
            next_offset=head.offset + 3 if more else None,
        )
        out += [i.id for i in plan.accept(head.key, page).items]
        if len(out) == 7 and 4 in data:
            for gone in (3, 4, 5, 6):
                data.remove(gone)
    assert len(out) == len(set(out)), f"duplicates: {out}"


async def test_f2_ties_end_to_end_in_the_emulator() -> None:
    data = [
        make_invocation(id=f"inv_{n:02d}", started_at="2026-01-01T00:00:00Z", status="running")
        for n in range(20)
    ]

    def delete_cursor_and_recent(emulator: KernelEmulator) -> None:
        for n in (3, 4, 5, 6):
            emulator.remove_invocation(f"inv_{n:02d}")

    emulator = KernelEmulator(data, live=LiveData(script={3: delete_cursor_and_recent}))
    got, listing = await walk(emulator, limit=3, prefetch=1)
    ids = [i.id for i in got]
    # Before the fix: inv_00..inv_02 delivered twice, possible_gaps == 0.
    assert len(ids) == len(set(ids)) or listing.possible_gaps > 0, ids


# -- F3: more than 1.5x + one window within the stated churn, page size 5 --------------------


async def test_f3_requests_stay_within_the_stated_bound_at_page_size_5() -> None:
    # docs/pagination.md: "up to one change per five requests (page sizes of 5 and more), a
    # walk makes at most 1.5x the requests of a sequential walk over the same data, plus one
    # window". Same bound as tests/test_live_campaign.py. Head inserts only, 0.15 per request.
    emulator = head_inserts(seed=364, total=300, rate=0.15)
    await walk(emulator, limit=5, prefetch=3)
    requests, changes = len(emulator.requests), len(emulator.changes)
    assert changes / requests <= 0.2  # within the stated churn (0.18)
    sequential = -(-300 // 5) + 1
    # Before the fix: 103 requests > 94.5 (a sequential walk of the same data made 63).
    assert requests <= 1.5 * sequential + 3


# -- F4: heavy head inserts: PaginationError where a sequential walk ends ----------------------


async def test_f4_heavy_head_inserts_end_whenever_a_sequential_walk_ends() -> None:
    # Issue: above the stated churn, "it falls back to one page at a time ... and ends whenever
    # a sequential walk ends". 4 head inserts per request, page size 5: a sequential walk
    # moves 1 per request, ends and keeps all 60. Ours raises PaginationError "the walk's first
    # page again ... the server seems to ignore offset" after 5 invocations.
    emulator = head_inserts(seed=1, total=60, rate=4.0)
    emulator.live.reorder = False  # type: ignore[union-attr]
    async with emulator.client(in_memory=True) as client:
        naive, _ = await naive_walk(client, limit=5)
    assert (
        len({i.id for i in naive} & {i["id"] for i in generate_invocations(60, seed=1, now=NOW)})
        == 60
    )

    emulator = head_inserts(seed=1, total=60, rate=4.0)
    emulator.live.reorder = False  # type: ignore[union-attr]
    got, listing = await walk(emulator, limit=5, prefetch=4)  # raises PaginationError today
    assert len(got) >= 60 or listing.possible_gaps > 0


# -- F6: resume after the data moved by more than the bridges reach -----------------------------


@pytest.mark.parametrize("moved", [520, 700])
async def test_f6_a_resume_token_finds_a_surviving_anchor_however_far_it_moved(moved: int) -> None:
    # docs: a new listing given resume=token "finds its place by those ids ... and yields
    # exactly what the first one had not". Here the anchor itself survives; only invocations
    # newer than it vanished (e.g. `status="queued"` resumed an hour later). Before the fix:
    # moved=520 loses 7, moved=700 loses 187, each time counted as ONE possible gap.
    emulator = KernelEmulator(count=1200, seed=3, now=NOW)
    async with emulator.client(in_memory=True) as client:
        async with client.invocations.list(max_items=900) as first:
            got = [i async for i in first]
        token = first.resume_token
        assert token is not None
        owed = [i["id"] for i in emulator.invocations[900:]]
        for invocation in emulator.invocations[100 : 100 + moved]:
            emulator.remove_invocation(invocation["id"])
        assert got[-1].id in {i["id"] for i in emulator.invocations}  # the anchor survived
        async with client.invocations.list(resume=token) as rest:
            more = [i.id async for i in rest]
    lost = [i for i in owed if i not in more]
    assert (len(lost), rest.possible_gaps) == (0, 0)


# -- F7: two tasks iterating one listing: silently split, no RuntimeError ----------------------


async def test_f7_a_second_consumer_gets_a_runtime_error_even_between_pages() -> None:
    # Issue: "two tasks iterating one listing: a clear RuntimeError". The busy flag is only set
    # while a task waits inside _advance; a second `async for` that starts while the first
    # task is in its loop body takes the rest of the walk. Before the fix: A gets 3, B gets 97,
    # both end normally.
    emulator = KernelEmulator(generate_invocations(100, seed=4, now=NOW), now=NOW)
    async with emulator.client(in_memory=True) as client, client.invocations.list(limit=10) as it:
        first: list[str] = []

        async def consume() -> None:
            async for invocation in it:
                first.append(invocation.id)
                await asyncio.sleep(0.01)  # the loop body awaits (a DB write, a queue put)

        task = asyncio.create_task(consume())
        while len(first) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        try:
            with pytest.raises(RuntimeError, match="another task"):
                async for _ in it:
                    pass
        finally:
            await task


# -- F8: a middle page without X-Has-More and a non-forward X-Next-Offset: silent end ----------


async def _hostile(
    pages: Callable[[int, int], tuple[list[dict[str, Any]], dict[str, str]]], **kwargs: Any
) -> tuple[list[str], Any, BaseException | None]:
    async def handler(request: web.Request) -> web.Response:
        items, headers = pages(int(request.query["offset"]), int(request.query["limit"]))
        return web.Response(
            body=json.dumps(items), content_type="application/json", headers=headers
        )

    app = web.Application()
    app.router.add_get("/invocations", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    got: list[str] = []
    error: BaseException | None = None
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        async with AsyncKernel(api_key="k", base_url=url, max_retries=0) as client:
            listing = client.invocations.list(**kwargs)
            try:
                async with asyncio.timeout(10), listing:
                    got += [i.id async for i in listing]
            except PaginationError as exc:
                error = exc
    finally:
        await runner.cleanup()
    return got, listing, error


ORDERED = KernelEmulator(generate_invocations(300, seed=4, now=NOW), now=NOW).invocations


def _backward_next_offset_without_has_more(
    offset: int, limit: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    end = min(offset + limit, len(ORDERED))
    more = end < len(ORDERED)
    headers = {"X-Has-More": str(more).lower(), "X-Next-Offset": str(end if more else 0)}
    if offset == 99:  # a proxy dropped X-Has-More; the (buggy) X-Next-Offset is non-zero
        del headers["X-Has-More"]
        headers["X-Next-Offset"] = str(offset - 10)
    return ORDERED[offset:end], headers


async def test_f8_a_middle_page_without_has_more_and_a_non_forward_next_offset_is_not_silent() -> (
    None
):
    # Issue: "a middle page without X-Has-More but with a non-zero X-Next-Offset: not a silent
    # end ... count the anomaly, PaginationError in strict mode". Before the fix: 199 of 300,
    # ends normally, anomalies == 0; strict=True ends normally too.
    got, listing, error = await _hostile(_backward_next_offset_without_has_more)
    assert len(got) == 300 or error is not None or listing.stats.anomalies > 0
    _, _, strict_error = await _hostile(_backward_next_offset_without_has_more, strict=True)
    assert isinstance(strict_error, PaginationError)


# -- F9: a hand-built ResumeToken is sent unchecked ----------------------------------------------


async def test_f9_an_invalid_resume_token_is_refused_before_any_request() -> None:
    # BRIEF: invalid parameters raise ValueError/TypeError before any request is sent.
    # ResumeToken is public and constructible; offset=-5 (or last_id with offset 0) reaches
    # the server as offset=-5 / -1 and comes back as a 400 BadRequestError.
    emulator = KernelEmulator(count=30, seed=1, now=NOW)
    async with emulator.client(in_memory=True, max_retries=0) as client:
        with pytest.raises((ValueError, TypeError)):
            listing = client.invocations.list(resume=ResumeToken(offset=-5))
            async with listing:
                [i async for i in listing]
    assert emulator.requests == []


# -- F10: one invocation twice in a page is delivered twice; dedupe=True no longer helps -------


def _repeats_one(offset: int, limit: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    end = min(offset + limit, len(ORDERED))
    more = end < len(ORDERED)
    items = ORDERED[offset:end]
    if offset == 0:
        items = [*items[:50], items[10], *items[50:-1]]
    return items, {"X-Has-More": str(more).lower(), "X-Next-Offset": str(end if more else 0)}


async def test_f10_an_invocation_the_server_repeats_is_delivered_once() -> None:
    # Deprecation text: "dedupe is deprecated and has no effect: every walk delivers each
    # invocation once". Before the fix: 301 deliveries for 300 invocations.
    got, listing, _ = await _hostile(_repeats_one)
    assert len(got) == len(set(got)) or listing.stats.anomalies > 0


def _repeats_the_one_before_the_cursor(
    offset: int, limit: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    end = min(offset + limit, len(ORDERED))
    more = end < len(ORDERED)
    items = ORDERED[offset:end]
    if offset:  # the invocation before the walk's cursor, first and again last: a server bug
        items = [ORDERED[offset - 1], *items, ORDERED[offset - 1]]
    return items, {"X-Has-More": str(more).lower(), "X-Next-Offset": str(end if more else 0)}


@pytest.mark.parametrize("prefetch", [1, 4])
async def test_an_invocation_a_page_shows_before_the_cursor_and_again_is_delivered_once(
    prefetch: int,
) -> None:
    # Review r12, F5: the cursor found past where the overlap puts it, and the invocation
    # before it listed again at the end of the page. Before the fix: delivered again.
    got, listing, error = await _hostile(
        _repeats_the_one_before_the_cursor, limit=10, prefetch=prefetch
    )
    assert error is None
    assert got == [i["id"] for i in ORDERED]
    assert listing.possible_gaps > 0  # such a page is not newest first


def _out_of_order_with_a_delivered_one(
    offset: int, limit: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    end = min(offset + limit, len(ORDERED))
    more = end < len(ORDERED)
    items = ORDERED[offset:end]
    if offset >= 2:  # the overlap in place, the rest reversed, and one delivered long before
        items = [items[0], *reversed(items[1:]), ORDERED[offset - 2]]
    return items, {"X-Has-More": str(more).lower(), "X-Next-Offset": str(end if more else 0)}


async def test_pages_out_of_the_order_never_repeat_and_are_counted() -> None:
    # Review r12, F5: a page out of the order, placed by its cursor, delivered again one the
    # walk had delivered, with no gap counted (seeds 798, 1060 of its fuzzer).
    got, listing, error = await _hostile(_out_of_order_with_a_delivered_one, limit=10)
    assert error is None
    assert len(got) == len(set(got)) == len(ORDERED)
    assert listing.possible_gaps > 0


def _minutes_apart(n: int) -> list[dict[str, Any]]:
    return [
        make_invocation(id=f"i{k:02d}", started_at=f"2026-05-01T00:{59 - k:02d}:00Z")
        for k in range(n)
    ]


def _move_i08_after_i09(emulator: KernelEmulator) -> None:
    # i08's started_at changes (whether it can, while queued, is not known) to between i09
    # and i10, and one starts meanwhile: the page at the cursor's offset shows i09, i08.
    moved = next(i for i in emulator.invocations if i["id"] == "i08")
    emulator.remove_invocation("i08")
    emulator.add_invocation({**moved, "started_at": "2026-05-01T00:49:30Z"})
    emulator.add_invocation(make_invocation(id="new", started_at="2026-05-01T01:00:00Z"))


async def test_a_resumed_walk_never_delivers_again_what_its_token_names() -> None:
    # Review r13, F2: the check every page makes knew only the walk's own deliveries, and a
    # resumed walk's are none: i08, named by its token, came again, with no gap counted.
    emulator = KernelEmulator(_minutes_apart(20))
    async with emulator.client(in_memory=True) as client:
        first: list[str] = []
        async with client.invocations.list(limit=5) as listing:
            async for invocation in listing:
                first.append(invocation.id)
                if len(first) == 10:
                    token = listing.resume_token
                    break
        assert token is not None
        _move_i08_after_i09(emulator)
        async with client.invocations.list(limit=5, resume=token) as listing:
            then = [invocation.id async for invocation in listing]
    assert "i08" in first
    assert "i08" not in then
    assert listing.possible_gaps == 1


# -- F11/F12: the public LiveData takes what it cannot use ------------------------------------


async def test_f11_livedata_kinds_given_as_strings_do_what_they_say() -> None:
    # Churn is a StrEnum, so {"delete": 1.0} type-checks at runtime and is accepted; but the
    # generator compares kinds with `is`: "delete" and "status_change" silently make NO
    # change, and "middle_insert" makes a HEAD insert. A user's test then never sees a delete.
    emulator = KernelEmulator(count=20, live=LiveData(rate=1.0, kinds={"delete": 1.0}))  # type: ignore[dict-item]
    async with emulator.client(in_memory=True) as client:
        for _ in range(5):
            await client.invocations.list_page(limit=5)
    assert len(emulator.changes) == 5  # before the fix: 0


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": float("inf")}, {"kinds": {Churn.DELETE: float("inf")}}, {"hold": float("nan")}],
    ids=["rate-inf", "weight-inf", "hold-nan"],
)
def test_f12_livedata_refuses_values_it_cannot_serve_with(kwargs: dict[str, Any]) -> None:
    # BRIEF: invalid parameters raise ValueError/TypeError up front. Before the fix it accepted
    # these; then every response is a 500 (rate/weight inf: ValueError inside the handler) or
    # the request is never answered (hold=nan, over TCP with reorder=True).
    with pytest.raises(ValueError, match=r"rate|kinds|hold"):
        LiveData(reorder=True, **kwargs)
