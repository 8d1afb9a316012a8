"""The galloping search of a resumed walk for its anchor, tested with plain values.

A list here is a Python list of ints, newest first (``inv(n)`` is older the higher ``n``);
invocations started since the token are the negative ones, prepended.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numbered import inv, tie

from kernel_async import ContinuityError, Invocation, Page, PaginationError
from kernel_async._anchor import Anchor
from kernel_async._params import MAX_OFFSET
from kernel_async._resume_search import MAX_CONTRADICTIONS, MAX_JUMP_PAGES, AnchorSearch, Found
from kernel_async._walk import WalkPlan


def serve(
    data: list[int] | Callable[[int], int | None],
    offset: int,
    limit: int,
    *,
    make: Callable[[int], Invocation] = inv,
) -> Page:
    """The page at ``offset`` of ``data`` (a list, or a position -> n function ending at None)."""
    if isinstance(data, list):
        shown, more = data[offset : offset + limit], offset + limit < len(data)
    else:
        window = [data(p) for p in range(offset, offset + limit + 1)]
        ended = [n for n in window if n is not None]
        shown, more = ended[:limit], len(ended) > limit
    items = tuple(make(n) for n in shown)
    return Page(
        items=items,
        offset=offset,
        limit=limit,
        has_more=more,
        next_offset=offset + limit if more else None,
    )


def numbers(page: Page) -> list[int]:
    return [int(item.id[1:]) for item in page.items]


def search_on(
    data: list[int] | Callable[[int], int | None],
    search: AnchorSearch,
    *,
    budget: int = 200,
    between: Callable[[], None] = lambda: None,
) -> tuple[list[int], Page, int]:
    """Run the search to the end: the offsets it read, the page it hands over and the step."""
    read: list[int] = []
    for _ in range(budget):
        between()
        read.append(search.offset)
        found = search.take(serve(data, search.offset, search.limit))
        if found is not None:
            return read, found.page, found.step
    raise AssertionError(f"no end after {budget} pages: {read[-10:]}")


def moved_down(new: int, *, total: int = 1000, at: int = 500) -> tuple[list[int], AnchorSearch]:
    """``new`` invocations started since a token taken after invocation ``at``."""
    data = list(range(-new, total))
    return data, AnchorSearch(Anchor.of(inv(at), at), start=at, page_size=10, limit=100)


# -- galloping ------------------------------------------------------------------------------


def test_it_gallops_forward_then_halves_the_gap() -> None:
    # 1000 started since: the anchor (500) is at 1500. Pages of 100 from 500: the next one
    # starts 0, 1, 2, 4 pages past the last position known newer; 1596 is past the anchor;
    # then halfway between, until a page holds it.
    data, search = moved_down(1000)
    read, page, step = search_on(data, search)
    assert read == [500, 599, 798, 1097, 1596, 1346, 1471]
    # Handed over: the part a page of the walk's size (10) read at the anchor would hold.
    assert (page.offset, numbers(page), page.has_more, page.next_offset) == (
        1500,
        list(range(500, 511)),
        True,
        1511,
    )
    assert (page.limit, step) == (10, 10)


@pytest.mark.parametrize("new", [0, 5, 99, 100, 250, 1000, 10_000, 100_000])
def test_n_new_invocations_cost_about_two_log2_n_pages(new: int) -> None:
    data, search = moved_down(new, total=1000)
    read, page, _ = search_on(data, search)
    assert numbers(page)[:2] == [500, 501]
    # Forward: log2(new / 100) + 2 pages; back: as many again, and the page that holds it.
    bound = 2 * math.ceil(math.log2(max(new, 100) / 100)) + 4
    assert len(read) <= bound
    if new < 90:
        assert read == [500]  # the first page holds it: nothing to search


def test_the_first_page_is_read_at_the_search_limit_and_cut_to_the_walk_page_size() -> None:
    data = list(range(100))
    search = AnchorSearch(Anchor.of(inv(20), 20), start=20, page_size=5, limit=100)
    assert (search.offset, search.limit) == (20, 100)
    found = search.take(serve(data, 20, 100))
    page, step = (found.page, found.step) if found else (None, 0)
    assert page is not None
    assert (numbers(page), page.offset, page.next_offset, step) == (
        [20, 21, 22, 23, 24, 25],
        20,
        26,
        5,
    )


def test_a_page_that_reaches_the_end_is_handed_over_with_its_own_headers() -> None:
    data = list(range(30))
    search = AnchorSearch(Anchor.of(inv(20), 20), start=20, page_size=50, limit=100)
    found = search.take(serve(data, 20, 100))
    assert found is not None
    page, step = found.page, found.step
    assert (numbers(page), page.has_more, page.next_offset, step) == (
        list(range(20, 30)),
        False,
        None,
        50,
    )


@pytest.mark.parametrize(("total", "has_more", "next_offset"), [(30, False, None), (40, True, 30)])
def test_a_page_that_holds_exactly_what_the_walk_needs_keeps_its_own_headers(
    total: int, has_more: bool, next_offset: int | None
) -> None:
    # The anchor (19) is tenth in a page read at 10: the ten after it end the page, which
    # is handed over with what the server said about what follows.
    data = list(range(total))
    search = AnchorSearch(Anchor.of(inv(19), 19), start=10, page_size=10, limit=20)
    found = search.take(serve(data, 10, 20))
    assert found is not None
    page = found.page
    assert (page.offset, numbers(page)) == (19, list(range(19, 30)))
    assert (page.has_more, page.next_offset) == (has_more, next_offset)


def test_the_search_limit_is_at_least_the_walk_page_size() -> None:
    search = AnchorSearch(Anchor.of(inv(0), 0), start=0, page_size=50, limit=20)
    assert search.limit == 50


def test_a_server_that_caps_the_page_is_searched_at_the_size_it_serves() -> None:
    # The server serves 25 a page whatever the limit (X-Next-Offset says so): the jumps and
    # the halving go by pages of 25, and the page handed over is cut to the walk's 10.
    data = list(range(-3000, 1000))
    search = AnchorSearch(Anchor.of(inv(500), 500), start=500, page_size=10, limit=100)
    read = []
    for _ in range(40):
        read.append(search.offset)
        found = search.take(serve(data, search.offset, 25))
        if found is not None:
            break
    assert read == [
        *(500, 524, 573, 647, 771, 995, 1419, 2243, 3867),  # 0, 1, 2, 4, ... pages of 25 on
        *(3055, 3461, 3664, 3562, 3511, 3486),  # halfway, down to a page that holds 3500
    ]
    assert found is not None
    page, step = found.page, found.step
    assert (page.offset, numbers(page), step) == (3500, list(range(500, 511)), 10)


def test_jumps_stop_doubling_at_the_cap() -> None:
    # Ten million started since: the jumps grow to MAX_JUMP_PAGES pages and stay there.
    new, total = 10_000_000, 1000

    def data(position: int) -> int | None:
        return position - new if position < new + total else None

    search = AnchorSearch(Anchor.of(inv(500), 500), start=500, page_size=100, limit=100)
    read, page, _ = search_on(data, search, budget=400)
    assert numbers(page)[:2] == [500, 501]
    jumps = [b - a for a, b in itertools.pairwise(read) if b > a]
    assert MAX_JUMP_PAGES == 1024  # as the pagination guide says
    assert max(jumps) == 1024 * 100 + 99  # the longest jump, and the page read before it
    capped = 1024 * 100
    assert len(read) <= math.log2(MAX_JUMP_PAGES) + new / capped + 2 * math.log2(capped / 100) + 4


def test_offsets_never_pass_the_largest_the_server_reads() -> None:
    # A server that says every page is newer, near the end of int64: the search stops there.
    start = MAX_OFFSET - 150
    search = AnchorSearch(Anchor.of(inv(0), start), start=start, page_size=10, limit=100)
    for _ in range(4):
        offset = search.offset
        assert offset <= MAX_OFFSET
        page = Page(
            items=tuple(inv(n) for n in range(-100, 0)),
            offset=offset,
            limit=100,
            has_more=True,
            next_offset=offset + 100,
        )
        assert search.take(page) is None
    assert search.offset == MAX_OFFSET


# -- backwards, and the end of the list ------------------------------------------------------


@pytest.mark.parametrize("deleted", [1, 80, 150, 700, 1400])
def test_deletes_before_the_anchor_send_it_back_up_the_same_way(deleted: int) -> None:
    # 2000 invocations, a token after 1800; `deleted` of those before it go.
    data = [n for n in range(2000) if not 300 <= n < 300 + deleted]
    search = AnchorSearch(Anchor.of(inv(1800), 1800), start=1800, page_size=10, limit=100)
    read, page, _ = search_on(data, search)
    assert numbers(page)[:2] == [1800, 1801]
    assert len(read) <= 2 * math.ceil(math.log2(max(deleted, 100) / 100)) + 4


@pytest.mark.parametrize("start", [10**6, 10**9, 10**15, MAX_OFFSET])
def test_a_token_far_past_the_end_is_found_in_log_requests(start: int) -> None:
    # A hand-made token, or one from a list that shrank: the pages back to the list are
    # shallower than one already read, so the jumps back keep doubling (no longest jump).
    data = list(range(50))
    search = AnchorSearch(Anchor.of(inv(25), start), start=start, page_size=10, limit=100)
    read, page, _ = search_on(data, search, budget=200)
    assert numbers(page)[:2] == [25, 26]
    assert len(read) <= 2 * math.ceil(math.log2(start / 100)) + 4
    assert all(offset <= MAX_OFFSET for offset in read)


def test_an_empty_page_past_the_end_bounds_the_search() -> None:
    data = list(range(300))  # 700 deleted: the list ends before the old position
    search = AnchorSearch(Anchor.of(inv(250), 950), start=950, page_size=10, limit=100)
    read, page, _ = search_on(data, search)
    assert read[0] == 950
    assert numbers(page)[:2] == [250, 251]


def test_an_empty_page_that_says_there_is_more_is_read_again() -> None:
    search = AnchorSearch(Anchor.of(inv(5), 40), start=40, page_size=10, limit=100)
    empty = Page(items=(), offset=40, limit=100, has_more=True, next_offset=140)
    assert search.take(empty) is None
    assert search.offset == 40


def test_an_empty_list_ends_the_walk() -> None:
    search = AnchorSearch(Anchor.of(inv(5), 0), start=0, page_size=10, limit=100)
    found = search.take(Page(items=(), offset=0, limit=100, has_more=False, next_offset=None))
    assert found is not None
    assert (found.page.items, found.page.has_more) == ((), False)


def test_a_list_that_ends_before_anything_older_hands_over_its_last_page() -> None:
    # Everything left is newer than the anchor: the last page is placed (nothing new, end).
    data = list(range(-500, 0))
    search = AnchorSearch(Anchor.of(inv(0), 10), start=10, page_size=10, limit=100)
    read, page, _ = search_on(data, search)
    assert (numbers(page), page.has_more) == ([-1], False)
    assert len(read) <= 6


def test_a_head_with_nothing_newer_is_placed_at_offset_0() -> None:
    # The anchor and everything newer were deleted: the head of the list is all new.
    data = list(range(600, 900))
    search = AnchorSearch(Anchor.of(inv(500), 500), start=500, page_size=10, limit=100)
    read, page, _ = search_on(data, search)
    assert read[-1] == 0
    assert (page.offset, numbers(page)) == (0, list(range(600, 610)))


def test_a_page_one_from_the_head_with_nothing_newer_sends_the_search_to_the_head() -> None:
    # The anchor (was at 1) and the one before it are gone: the page at 1 has nothing newer,
    # so the first invocation (at 0) may be after the anchor too, and it is.
    data = list(range(600, 700))
    search = AnchorSearch(Anchor.of(inv(500), 1), start=1, page_size=10, limit=100)
    assert search.take(serve(data, 1, 100)) is None
    assert search.offset == 0
    _, page, _ = search_on(data, search)
    assert (page.offset, numbers(page)[:2]) == (0, [600, 601])


def test_a_last_page_that_does_not_say_its_size_is_cut_at_the_walk_page_size() -> None:
    # No X-Limit and no X-Next-Offset on the last page: the search knows no page size but
    # its own, and the walk's step is its page size.
    items = tuple(inv(n) for n in range(490, 530))
    last = Page(items=items, offset=490, limit=None, has_more=False, next_offset=None)
    search = AnchorSearch(Anchor.of(inv(500), 500), start=490, page_size=10, limit=100)
    found = search.take(last)
    assert found is not None
    page, step = found.page, found.step
    assert (page.offset, numbers(page), page.next_offset, step) == (
        500,
        list(range(500, 511)),
        511,
        10,
    )


# -- the anchor gone: the order and the token's ids place it -----------------------------------


def test_an_anchor_that_is_gone_is_found_by_the_order() -> None:
    data = [n for n in range(-3000, 1000) if n != 500]
    search = AnchorSearch(Anchor.of(inv(500), 500), start=500, page_size=10, limit=100)
    _, page, _ = search_on(data, search)
    assert numbers(page) == [499, *range(501, 511)]  # from the last one newer


def test_ties_delivered_before_the_token_are_behind_it() -> None:
    # A server that keeps whole seconds: everything ties. The anchor (4) was deleted; the ids
    # the token carries (2, 3) place the boundary, ties not delivered (5 on) are new.
    data = [0, 1, 2, 3, *range(5, 40)]
    anchor = Anchor.of(tie(4), 4, frozenset({"i2", "i3"}))
    search = AnchorSearch(anchor, start=4, page_size=10, limit=100)
    found = search.take(serve(data, 4, 100, make=tie))
    assert found is None  # nothing in it is behind the walk, by order or by id
    read, page, _ = search_on(data, search, budget=10)
    assert read == [0]  # ...back to the head, which holds the token's ids
    assert [int(i.id[1:]) for i in page.items] == [3, *range(5, 15)]


# -- pages it cannot search -----------------------------------------------------------------


def test_a_page_out_of_order_is_handed_over_whole() -> None:
    page = Page(
        items=tuple(inv(n) for n in [-1, -3, -2]),
        offset=9,
        limit=100,
        has_more=True,
        next_offset=109,
    )
    search = AnchorSearch(Anchor.of(inv(0), 9), start=9, page_size=10, limit=100)
    assert search.take(page) == Found(page, 10, None, doubtful=False)


def test_pages_of_one_invocation_are_handed_over_whole() -> None:
    search = AnchorSearch(Anchor.of(inv(0), 9), start=9, page_size=1, limit=1)
    page = serve(list(range(-50, 20)), 9, 1)
    assert search.take(page) == Found(page, 1, None, doubtful=False)


# -- while the data moves -----------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 20, 60, 98])
def test_it_ends_while_fewer_than_a_page_start_per_request(per_page: int) -> None:
    data, search = moved_down(10_000)
    started = iter(range(-10_001, -(10**9), -1))

    def head_inserts() -> None:
        for _ in range(per_page):
            data.insert(0, next(started))

    read, page, _ = search_on(data, search, between=head_inserts)
    assert numbers(page)[:2] == [500, 501]
    assert len(read) <= 40


def test_an_upper_bound_made_stale_by_inserts_is_dropped() -> None:
    data, search = moved_down(1000)
    for offset in (500, 599, 798, 1097, 1596):
        assert search.take(serve(data, offset, 100)) is None
    assert search.offset == 1346  # halfway between 1196 (newer) and 1596 (not)
    data[:0] = range(-1600, -1000)  # 600 start: the anchor is at 2100 now
    for offset in (1346, 1471, 1570):  # newer all the way past 1596
        assert search.offset == offset
        assert search.take(serve(data, offset, 100)) is None
    assert search.offset == 1669  # 1596 was stale: galloping again, from the page just read
    for offset, then in ((1669, 1868), (1868, 2167)):  # 1, then 2 pages past the last newer
        assert search.take(serve(data, offset, 100)) is None
        assert search.offset == then
    _, page, _ = search_on(data, search)
    assert numbers(page)[:2] == [500, 501]


def test_a_page_newer_up_to_the_first_position_known_older_drops_that_bound() -> None:
    # The token says 600; the anchor (500) is at 500 now. The page at 600 is older; the one
    # ending at 600 would hold the place, but 300 start meanwhile: all of it is newer, up to
    # 600 itself, so 600 is no longer a bound and the search gallops on from there.
    data = list(range(1000))
    search = AnchorSearch(Anchor.of(inv(500), 600), start=600, page_size=10, limit=100)
    assert search.take(serve(data, 600, 100)) is None
    assert search.offset == 501
    data[:0] = range(-300, 0)
    for offset, then in ((501, 600), (600, 799)):  # a page past the last newer, 699
        assert search.take(serve(data, offset, 100)) is None
        assert search.offset == then
    _, page, _ = search_on(data, search)
    assert numbers(page)[:2] == [500, 501]


def test_a_lower_bound_made_stale_by_deletes_is_dropped() -> None:
    data, search = moved_down(1000)
    for offset in (500, 599, 798, 1097, 1596):
        assert search.take(serve(data, offset, 100)) is None
    del data[:900]  # 900 of the newer ones go: the anchor is at 600 now, the list 1100 long
    for offset in (1346, 1221, 1196):  # past the end all the way down to 1196
        assert search.offset == offset
        assert search.take(serve(data, offset, 100)) is None
    assert search.offset == 1097  # 1196 was stale: galloping back, from the page just read
    _, page, _ = search_on(data, search)
    assert numbers(page)[:2] == [500, 501]


# -- the plan, searching ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    new=st.integers(0, 5000),
    anchor_at=st.integers(1, 400),
    page_size=st.integers(2, 30),
    search_limit=st.integers(2, 100),
    window=st.integers(1, 6),
    max_items=st.none() | st.integers(1, 60),
    churn=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), st.booleans()), max_size=80),
    anchor_deleted=st.booleans(),
)
def test_a_resumed_plan_delivers_exactly_once_while_the_list_moves(
    new: int,
    anchor_at: int,
    page_size: int,
    search_limit: int,
    window: int,
    max_items: int | None,
    churn: list[tuple[int, int, bool]],
    anchor_deleted: bool,
) -> None:
    # 500 invocations, a token after `anchor_at`; `new` started since, the anchor perhaps
    # deleted; and before each page, a few more start and a few are deleted.
    total = 500
    data = list(range(-new, total))
    if anchor_deleted:
        data.remove(anchor_at)
    anchor = Anchor.of(inv(anchor_at), anchor_at, frozenset({f"i{anchor_at - 1}"}))
    plan = WalkPlan(
        start=anchor_at,
        anchor=anchor,
        window=window,
        max_items=max_items,
        search=AnchorSearch(anchor, start=anchor_at, page_size=page_size, limit=search_limit),
    )
    started = iter(range(-new - 1, -(10**9), -1))
    stayed = set(data)
    changes = iter(churn)
    delivered: list[int] = []
    try:
        for _ in range(2000):
            if plan.done:
                break
            plan.plan(window)
            inserts, deletes, older = next(changes, (0, 0, False))
            data[:0] = [next(started) for _ in range(inserts)][::-1]
            for _ in range(min(deletes, len(data))):
                gone = data.pop(len(data) // 2 if older else 0)
                stayed.discard(gone)
            head = plan.head
            assert head is not None
            accepted = plan.accept(head.key, serve(data, head.offset, head.limit or page_size))
            delivered += [int(item.id[1:]) for item in accepted.items]
        assert plan.done
    except PaginationError:
        # The list grew at the head faster than a page per request for a while: the walk may
        # stop, as documented, but never with an invocation twice or out of order.
        assert max(inserts for inserts, _, _ in churn) >= page_size - 2
    assert delivered == sorted(set(delivered))  # in order, each once
    assert all(n > anchor_at for n in delivered)  # nothing from before the token
    if max_items is not None:
        assert len(delivered) <= max_items
    if plan.stats.possible_gaps == 0 and plan.done:
        # Everything owed up to where the walk stopped: all of it, unless max_items cut it.
        owed = {n for n in stayed if n > anchor_at}
        if max_items is not None and len(delivered) == max_items:
            owed = {n for n in owed if n <= delivered[-1]}
        assert owed <= set(delivered)


def test_a_step_shorter_than_its_page_does_not_end_the_search() -> None:
    # One page in the middle of the search says X-Next-Offset = offset + 1 though it holds
    # 100 invocations: the search goes on as with honest headers, to the same place.
    data, honest = moved_down(5000)
    expected = search_on(data, honest)
    _, search = moved_down(5000)
    lied = False

    def take(page: Page) -> tuple[Page, int] | None:
        nonlocal lied
        if not lied and len(page.items) == 100 and page.has_more and page.offset > 500:
            lied = True
            page = attrs.evolve(page, next_offset=page.offset + 1)
        return search.take(page)

    read: list[int] = []
    for _ in range(200):
        read.append(search.offset)
        found = take(serve(data, search.offset, search.limit))
        if found is not None:
            break
    assert lied
    assert found is not None
    assert numbers(found[0]) == numbers(expected[1])
    assert len(read) <= len(expected[0]) + 2


# -- a tie longer than the token could name ---------------------------------------------------


def newer_or_tied(n: int) -> Invocation:
    return inv(n) if n < 0 else tie(n)  # started since the token, or one instant's tie


def counted_tie(anchor_at: int, spacing: int) -> Anchor:
    """After tie ``anchor_at``: the 256 before it named, those before counted, marked apart."""
    named = anchor_at - 256
    return Anchor(
        f"i{anchor_at}",
        tie(0).started_at,
        tie(0).started_at_ns,
        anchor_at,
        frozenset(f"i{n}" for n in range(named, anchor_at)),
        ties_before=named,
        tie_marks={f"i{n}": n for n in range(0, named, spacing)},
    )


@pytest.mark.parametrize("gone", [(), (1299,), (1295, 1296, 1297, 1298, 1299)])
@pytest.mark.parametrize("spacing", [50, 150, 1000])
def test_pages_of_ties_the_token_only_counted_are_behind_it(
    spacing: int, gone: tuple[int, ...]
) -> None:
    # Marks 150 or 1,000 apart, pages of 100: pages of the counted ties hold no mark. Ranked from
    # where the tie starts (once a page told it), they read as behind the walk like their
    # neighbours; read alone they would be "before the boundary" and the search never ended.
    # With the anchor (and ties just before it) gone, the ids the token names place the page,
    # and ties after them are new whatever rank the search would give them.
    data = [n for n in range(-5000, 3000) if n not in gone]
    search = AnchorSearch(counted_tie(1299, spacing), start=1299, page_size=10, limit=100)
    serve_tied = lambda offset, limit: serve(data, offset, limit, make=newer_or_tied)  # noqa: E731
    read: list[int] = []
    for _ in range(60):
        read.append(search.offset)
        found = search.take(serve_tied(search.offset, search.limit))
        if found is not None:
            page = found.page
            break
    else:
        raise AssertionError(f"no end: {read[-10:]}")
    last_behind = min((1299, *gone)) - 1 if gone else 1299
    # From the last invocation behind the walk: a walk-sized page of what follows.
    assert numbers(page) == [last_behind, *range(1300, 1310)]
    assert len(read) <= 2 * math.ceil(math.log2(5000 / 100)) + 4


def test_where_the_tie_starts_ranks_a_later_page_without_a_mark() -> None:
    # Marks every 500 ranks; the tie starts at position 5,000 (5,000 started since). The first
    # page read holds mark 500 at its 50th place: the tie's start is learnt from it.
    data = list(range(-5000, 3000))
    search = AnchorSearch(counted_tie(1299, 500), start=5450, page_size=10, limit=100)

    def take(offset: int) -> object:
        return search.take(serve(data, offset, 100, make=newer_or_tied))

    assert take(5450) is None  # ties 450-549: behind the walk, the place is further on
    # Ties 850-949, no mark, no id the token names: ranked from the start, all behind.
    assert take(5850) is None
    assert search.offset > 5949
    # Ties 1300-1399, after the anchor: ranked from the start, none is behind.
    assert take(6300) is None
    assert search.offset < 6300


def test_pages_that_contradict_each_other_end_the_search_in_doubt() -> None:
    # A server whose every page says the opposite of the one before (all newer than the
    # anchor, then nothing newer), whatever offset is asked: no boundary holds, and without
    # a limit the search would read forever. It stops where it stands, a possible gap.
    search = AnchorSearch(Anchor.of(inv(500), 500), start=500, page_size=10, limit=100)
    for read in range(1, 1000):
        newer = read % 2 == 1
        numbers_ = range(-100, 0) if newer else range(1000, 1100)
        page = Page(
            items=tuple(inv(n) for n in numbers_),
            offset=search.offset,
            limit=100,
            has_more=True,
            next_offset=search.offset + 100,
        )
        found = search.take(page)
        if found is not None:
            break
    else:
        raise AssertionError("no end")
    assert found == Found(page, 10, None, doubtful=True, why=found.why)
    assert "contradict" in found.why  # the possible gap says why, not "a count of ties"
    assert MAX_CONTRADICTIONS <= read <= MAX_CONTRADICTIONS + 4  # a contradiction a page or two


# -- the plan takes what the search found ------------------------------------------------------


def walk_plan(
    data: list[int] | Callable[[int, int], Page],
    plan: WalkPlan,
    *,
    page_size: int = 10,
    budget: int = 300,
) -> list[int]:
    """Run ``plan`` one page at a time to its end: the numbers it delivered."""
    delivered: list[int] = []
    for _ in range(budget):
        if plan.done:
            return delivered
        plan.plan(1)
        head = plan.head
        assert head is not None
        limit = head.limit or page_size
        got = data(head.offset, limit) if callable(data) else serve(data, head.offset, limit)
        delivered += [int(item.id[1:]) for item in plan.accept(head.key, got).items]
    raise AssertionError("no end")


def tied_plan(anchor: Anchor, start: int, page_size: int = 10, *, strict: bool = False) -> WalkPlan:
    search = AnchorSearch(anchor, start=start, page_size=page_size, limit=100)
    return WalkPlan(start=start, anchor=anchor, search=search, strict=strict)


def test_a_page_the_search_placed_by_ranks_is_delivered_without_a_bridge() -> None:
    # Ties 0-1042 counted (marks every 1,000), 1043-1298 named, 1299 the anchor; 5,000
    # started since. The anchor and two named ties are gone: the page the search finds is
    # cut to start at a named tie and delivered from there, never re-placed by the plan
    # (which cannot rank) nor bridged from the token's position.
    gone = {1297, 1298, 1299}
    data = [n for n in range(-5000, 3000) if n not in gone]
    plan = tied_plan(counted_tie(1299, 1000), 1299)
    serve_tied = lambda offset, limit: serve(data, offset, limit, make=newer_or_tied)  # noqa: E731
    delivered = walk_plan(serve_tied, plan)
    assert delivered == list(range(1300, 3000))
    assert (plan.stats.bridges, plan.stats.possible_gaps) == (0, 0)


def test_a_place_resting_on_the_count_alone_is_a_possible_gap() -> None:
    # The anchor and every tie the token names are gone: only the count places the page,
    # and ties deleted among the counted ones would hide as many never delivered.
    gone = set(range(1043, 1300))
    data = [n for n in range(-5000, 3000) if n not in gone]
    plan = tied_plan(counted_tie(1299, 1000), 1299)
    serve_tied = lambda offset, limit: serve(data, offset, limit, make=newer_or_tied)  # noqa: E731
    assert walk_plan(serve_tied, plan) == list(range(1300, 3000))
    assert plan.stats.possible_gaps == 1
    with pytest.raises(
        ContinuityError, match=r"\d: the resume's place rests on a count of ties alone$"
    ):
        walk_plan(serve_tied, tied_plan(counted_tie(1299, 1000), 1299, strict=True))
    # The same where the list ends with the counted ties: the last page places the boundary
    # at its end by the count alone.
    ended = list(range(-5000, 1043))
    plan = tied_plan(counted_tie(1299, 1000), 1299)
    serve_ended = lambda offset, limit: serve(ended, offset, limit, make=newer_or_tied)  # noqa: E731
    assert walk_plan(serve_ended, plan) == []
    assert plan.stats.possible_gaps == 1
    # The same where the plan places the page itself (a page read at the tie's mark 1000,
    # with no search): it says so too.
    data = [n for n in range(3000) if n not in gone]
    plan = WalkPlan(start=1000, anchor=counted_tie(1299, 1000))
    by_tie = lambda offset, limit: serve(data, offset, limit, make=tie)  # noqa: E731
    assert walk_plan(by_tie, plan, page_size=100) == list(range(1300, 3000))
    assert plan.stats.possible_gaps == 1
    strict = WalkPlan(start=1000, anchor=counted_tie(1299, 1000), strict=True)
    with pytest.raises(
        ContinuityError, match=r"\d: the resume's place rests on a count of ties alone$"
    ):
        walk_plan(by_tie, strict, page_size=100)
    # A page of counted ties only (marked at 900) with more after it places nothing: only
    # the next one, where the count meets ties never delivered, is a possible gap.
    plan = WalkPlan(start=900, anchor=counted_tie(1299, 100))
    assert walk_plan(by_tie, plan, page_size=100) == list(range(1300, 3000))
    assert plan.stats.possible_gaps == 1


def test_a_search_that_gives_up_hands_its_page_to_the_plan_and_bridges_from_there() -> None:
    # Pages that contradict each other (all newer, then nothing newer, whatever the offset):
    # the search stops where it stands; that page (nothing newer: it floats) is bridged from
    # its own position, not from the token's.
    answers = itertools.count()

    def contradicting(offset: int, limit: int) -> Page:
        numbers_ = range(-limit, 0) if next(answers) % 2 == 0 else range(1000, 1000 + limit)
        items = tuple(inv(n) for n in numbers_)
        return Page(
            items=items, offset=offset, limit=limit, has_more=True, next_offset=offset + limit
        )

    plan = WalkPlan(
        start=500,
        anchor=Anchor.of(inv(500), 500),
        window=4,
        search=AnchorSearch(Anchor.of(inv(500), 500), start=500, page_size=10, limit=100),
    )
    for _ in range(4 * MAX_CONTRADICTIONS):
        plan.plan(1)
        head = plan.head
        assert head is not None
        plan.accept(head.key, contradicting(head.offset, head.limit or 10))
        if plan.stats.bridges:
            break
    assert plan.stats.possible_gaps >= 1
    assert plan.stats.bridges == 1
    handed = head.offset
    bridge = plan.head
    assert bridge is not None
    assert handed - 1 == bridge.offset != 499


# -- pages of one invocation (a server that caps limit at 1) --------------------------------


def search_one(data: list[int], at: int, start: int) -> tuple[list[int], Found]:
    """The search for ``inv(at)``, last delivered at ``start - 1``, on pages of one."""
    search = AnchorSearch(Anchor.of(inv(at), start - 1), start=start, page_size=1, limit=1)
    read: list[int] = []
    for _ in range(300):
        read.append(search.offset)
        found = search.take(serve(data, search.offset, 1))
        if found is not None:
            return read, found
    raise AssertionError(f"no end: {read[-10:]}")


def test_pages_of_one_bisect_to_the_neighbours_either_side_of_the_place() -> None:
    # 20 left, the token says 40: back by doubling jumps, then halving until the last newer
    # (4) and the first older (5) are neighbours; the page of the second is handed over,
    # first_new 0, in doubt: two requests placed the boundary, not one page that holds
    # both sides. (The way back starts with the page that ends at the first position known
    # older, which on pages of one is that position again: one request, left as it is.)
    read, found = search_one(list(range(20)), at=4, start=40)
    assert read == [40, 40, 39, 37, 33, 25, 9, 0, 5, 3, 4, 5]
    assert (numbers(found.page), found.page.offset, found.step, found.first_new) == ([5], 5, 1, 0)
    assert (found.doubtful, found.why) == (
        True,
        "the resume's place rests on two pages of one invocation",
    )


@pytest.mark.parametrize("start", [21, 1000, 10**6, 10**12, MAX_OFFSET])
def test_pages_of_one_far_past_the_end_cost_log_requests(start: int) -> None:
    read, found = search_one(list(range(20)), at=4, start=start)
    assert numbers(found.page) == [5]
    assert found.page.offset == 5
    assert len(read) <= 2 * math.ceil(math.log2(start)) + 2
    assert all(0 <= offset <= MAX_OFFSET for offset in read)
    assert len(set(read)) >= len(read) - 2  # twice at most: the first older, the neighbour


def test_pages_of_one_where_the_anchor_was_deleted_meet_between_its_neighbours() -> None:
    # inv(4) deleted: 3 stays newer and 5, now at 4, is the first older.
    read, found = search_one([0, 1, 2, 3, 5, 6, 7, 8], at=4, start=5)
    assert (numbers(found.page), found.page.offset, found.first_new, found.doubtful) == (
        [5],
        4,
        0,
        True,
    )
    assert read == [5, 5, 4, 2, 3, 4]


def test_pages_of_one_hand_over_the_head_when_nothing_newer_is_left() -> None:
    # Everything up to the anchor deleted: the head itself is the place, and exact (nothing
    # can lie before offset 0), so it is no possible gap.
    read, found = search_one(list(range(5, 20)), at=4, start=5)
    assert (numbers(found.page), found.page.offset, found.first_new) == ([5], 0, 0)
    assert not found.doubtful
    assert read[-1] == 0


def test_pages_of_one_hand_the_last_invocation_over_when_it_is_the_anchor() -> None:
    # The anchor is the list's last: its page is handed over with nothing new in it
    # (first_new 1), and the walk ends after it.
    read, found = search_one(list(range(20)), at=19, start=26)
    assert (numbers(found.page), found.page.offset, found.first_new) == ([19], 19, 1)
    assert not found.page.has_more
    assert read[0] == 26


def test_pages_of_one_all_newer_before_any_older_bound_are_the_walks() -> None:
    # Invocations started since the token, and no position yet known older: the page is
    # handed over whole, as without a search, and the walk moves on from there.
    data = list(range(-30, 20))
    search = AnchorSearch(Anchor.of(inv(4), 4), start=5, page_size=1, limit=1)
    page = serve(data, 5, 1)
    assert search.take(page) == Found(page, 1, None)


def test_pages_of_one_all_newer_below_an_older_bound_narrow_the_search() -> None:
    data = list(range(20))
    search = AnchorSearch(Anchor.of(inv(4), 29), start=30, page_size=1, limit=1)
    older = 30
    while search.offset > 4:  # past the end, then older, and older: a page newer than inv(4)
        older = search.offset
        assert search.take(serve(data, older, 1)) is None
    newer = search.offset
    assert search.take(serve(data, newer, 1)) is None  # newer: halfway to the older bound
    assert search.offset == (newer + older + 1) // 2


def test_pages_of_one_place_at_offset_1_rests_on_its_neighbour_at_0() -> None:
    # inv(3) at 0 was delivered before the token, inv(5) at 1 was not: the place is 1, and
    # only reading 0 too shows it (a page at 1 alone says nothing of what comes before).
    read, found = search_one([3, 5, 6, 7], at=4, start=10)
    assert (numbers(found.page), found.page.offset, found.first_new) == ([5], 1, 0)
    assert found.doubtful
    assert 0 in read
