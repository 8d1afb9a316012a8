"""The walk plan, tested with plain values: which requests, what is delivered, what is held."""

from datetime import timedelta

import attrs
import pytest
from numbered import T0, inv, tie

from kernel_async import ContinuityError, Invocation, Page, PaginationError
from kernel_async._anchor import Anchor
from kernel_async._guard import MAX_EMPTY_PAGES, MAX_REPEATED_PAGES
from kernel_async._params import MAX_OFFSET
from kernel_async._resume_search import AnchorSearch
from kernel_async._walk import CHURN_LIMIT, WalkPlan
from kernel_async._walk_placement import RecentIds
from kernel_async._walk_records import Accepted, WalkStats


def at_ns(name: str, nanoseconds: int) -> Invocation:
    """An invocation started ``nanoseconds`` (under 1000) after T0: T0's microsecond."""
    return Invocation(
        id=name,
        app_name="a",
        version="1",
        action_name="b",
        started_at=T0,
        status="queued",
        started_at_raw=f"2026-01-01T00:00:00.000000{nanoseconds:03d}Z",
    )


def page(
    offset: int,
    ids: range | list[int],
    *,
    has_more: bool = True,
    next_offset: int | None = None,
    limit: int | None = None,
    anomalies: tuple[str, ...] = (),
    tied: bool = False,
) -> Page:
    items = tuple((tie if tied else inv)(n) for n in ids)
    if has_more and next_offset is None:
        next_offset = offset + (limit or len(items))
    return Page(
        items=items,
        offset=offset,
        limit=limit,
        has_more=has_more,
        next_offset=next_offset if has_more else None,
        anomalies=anomalies,
    )


def ids(accepted: Accepted) -> list[int]:
    return [int(item.id[1:]) for item in accepted.items]


def take(plan: WalkPlan, p: Page) -> Accepted:
    """Accept ``p`` as the page of the head request (checking it asked for that offset)."""
    head = plan.head
    assert head is not None
    assert head.offset == p.offset, f"the head asked for {head.offset}, not {p.offset}"
    return plan.accept(head.key, p)


def offsets(plan: WalkPlan, capacity: int) -> list[int]:
    return [request.offset for request in plan.plan(capacity)]


# -- the static walk -------------------------------------------------------------------------


def test_the_first_page_goes_alone_then_pages_overlap_by_one() -> None:
    plan = WalkPlan(start=0, window=8)
    assert offsets(plan, 8) == [0]
    assert offsets(plan, 8) == []  # the step is unknown until the first page arrives
    accepted = take(plan, page(0, range(50), limit=50))  # the server capped 100 to 50
    assert ids(accepted) == list(range(50))
    assert accepted.start == 0
    # Each next page starts at the last invocation delivered: 49 new items per page.
    assert offsets(plan, 7) == [49, 98, 147, 196, 245, 294, 343]
    accepted = take(plan, page(49, range(49, 99), limit=50))
    assert ids(accepted) == list(range(50, 99))
    assert accepted.start == 50
    assert plan.stats.bridges == plan.stats.possible_gaps == 0


def test_prefetch_one_is_sequential() -> None:
    plan = WalkPlan(start=0, window=1)
    assert offsets(plan, 1) == [0]
    take(plan, page(0, range(10)))
    assert offsets(plan, 0) == []  # nothing ahead while page 0 is consumed
    assert offsets(plan, 1) == [9]


def test_a_next_offset_other_than_speculated_resynchronises() -> None:
    plan = WalkPlan(start=0, window=4)
    plan.plan(4)
    take(plan, page(0, range(10)))
    assert offsets(plan, 3) == [9, 18, 27]
    scheduled = [request.key for request in plan.scheduled]
    accepted = take(plan, page(9, range(9, 19), next_offset=25))  # a larger step from here
    assert accepted.discard == tuple(scheduled[1:])
    assert offsets(plan, 3) == [24, 39, 54]  # the step is re-learned: 25 - 9 = 16


def test_the_last_page_discards_speculation_past_the_end() -> None:
    plan = WalkPlan(start=0, window=4)
    plan.plan(4)
    take(plan, page(0, range(10)))
    plan.plan(3)
    accepted = take(plan, page(9, range(9, 13), has_more=False))
    assert ids(accepted) == [10, 11, 12]
    assert len(accepted.discard) == 2
    assert plan.done
    assert plan.complete
    assert plan.resume_offset is None
    assert plan.plan(4) == []
    assert plan.stats.wasted == 2


def test_max_items_bounds_speculation_and_cuts_the_page() -> None:
    plan = WalkPlan(start=0, max_items=25, window=8)
    plan.plan(8)
    take(plan, page(0, range(10)))
    assert offsets(plan, 7) == [9, 18]  # 27 would be past what max_items needs
    take(plan, page(9, range(9, 19)))
    accepted = take(plan, page(18, range(18, 28)))
    assert ids(accepted) == [19, 20, 21, 22, 23, 24]
    assert plan.done
    assert not plan.complete
    assert plan.resume_offset == 25


def test_max_items_is_cut_by_position_even_when_an_invocation_repeats() -> None:
    # A page that holds the same invocation twice: delivered once, the repeat counted, and
    # the cut found by position.
    plan = WalkPlan(start=0, max_items=3)
    plan.plan(1)
    items = (inv(0), inv(1), inv(0), inv(2), inv(3))
    accepted = plan.accept(0, Page(items=items, offset=0, limit=5, has_more=True, next_offset=5))
    assert [i.id for i in accepted.items] == ["i0", "i1", "i2"]
    assert plan.resume_offset == 4
    assert plan.stats.anomalies == 1


def test_no_page_is_speculated_past_the_largest_offset() -> None:
    # Review r12, F7: after an X-Next-Offset near 2**63 - 1 (valid, if odd), the plan asked
    # for offsets past it, which a server reading int64 refuses (and the library refuses
    # from its users and from headers).
    plan = WalkPlan(start=0, window=8)
    plan.plan(1)
    near_the_end = MAX_OFFSET - 25
    take(plan, page(0, range(10), next_offset=near_the_end))
    offsets = [request.offset for request in plan.plan(8)]
    assert offsets[0] == near_the_end - 1  # the overlap, then every page that can exist
    assert max(offsets) <= MAX_OFFSET


def test_a_page_may_be_speculated_at_the_largest_offset_itself() -> None:
    # MAX_OFFSET (2**63 - 1) is a valid offset: the bound stops past it, not at it.
    plan = WalkPlan(start=0, window=8)
    plan.plan(1)
    take(plan, page(0, range(10), next_offset=MAX_OFFSET - 26))
    plan.plan(1)
    take(plan, page(MAX_OFFSET - 27, range(9, 19), next_offset=MAX_OFFSET - 17))
    assert offsets(plan, 8) == [MAX_OFFSET - 18, MAX_OFFSET - 9, MAX_OFFSET]


def test_max_items_at_the_end_of_the_last_page_completes_the_walk() -> None:
    plan = WalkPlan(start=0, max_items=5)
    plan.plan(1)
    take(plan, page(0, range(5), has_more=False))
    assert plan.complete
    assert plan.resume_offset is None


def test_max_items_zero_requests_nothing() -> None:
    plan = WalkPlan(start=0, max_items=0)
    assert plan.plan(8) == []
    assert plan.done


def test_a_page_out_of_turn_is_a_bug() -> None:
    plan = WalkPlan(start=0)
    plan.plan(1)
    with pytest.raises(ValueError, match="not the head"):
        plan.accept(99, page(10, range(3)))


def test_close_discards_everything() -> None:
    plan = WalkPlan(start=0, window=2)
    keys = [request.key for request in plan.plan(2)]
    assert plan.close() == tuple(keys)
    assert plan.done
    assert plan.resume_offset == 0


# -- data that moves ---------------------------------------------------------------------------


def started(plan: WalkPlan, window: int = 4) -> WalkPlan:
    """A plan that delivered 0-9 from the first page, with three pages requested after it."""
    plan.plan(window)
    take(plan, page(0, range(10)))
    plan.plan(window - 1)
    return plan


def test_an_insert_before_the_boundary_repeats_the_cursor_further_down() -> None:
    plan = started(WalkPlan(start=0, window=4))
    # One invocation started: the page at 9 now begins one item earlier, at 8.
    accepted = take(plan, page(9, [8, 9, *range(10, 18)]))
    assert ids(accepted) == list(range(10, 18))
    assert accepted.discard == ()  # the rest of the window is checked in turn, not refetched
    assert plan.stats.bridges == 0


def test_a_delete_before_the_boundary_is_placed_by_the_order() -> None:
    plan = started(WalkPlan(start=0, window=4))
    # Invocation 9, the cursor, was deleted: the page at 9 begins with 10. Nothing shows
    # that 10 follows 9 directly, so the page floats and a bridge is requested.
    accepted = take(plan, page(9, range(10, 20)))
    assert accepted.items == ()
    assert plan.stats.bridges == 1
    bridge = plan.head
    assert bridge is not None
    assert bridge.bridge
    assert bridge.offset == 8  # one item before where the cursor was
    assert plan.holds(plan.scheduled[1].key)  # the floating page is kept
    # The bridge starts at 8 (the cursor is gone): 8 was delivered, so what follows is new.
    accepted = take(plan, page(8, [8, *range(10, 19)]))
    assert ids(accepted) == list(range(10, 19))
    # The held page is placed now: 10-18 were delivered, 19 is new.
    accepted = take(plan, page(9, range(10, 20)))
    assert ids(accepted) == [19]
    assert plan.stats.possible_gaps == 0


def test_a_cursor_that_left_the_filter_is_placed_by_started_at() -> None:
    plan = started(WalkPlan(start=0, window=4))
    # 9 left the filter and 7 was deleted: the page at 9 holds 8 (behind, delivered) first.
    accepted = take(plan, page(9, [8, *range(10, 19)]))
    assert ids(accepted) == list(range(10, 19))


def test_newer_invocations_not_delivered_are_behind_the_walk() -> None:
    plan = started(WalkPlan(start=0, window=4))
    # The cursor (9) is gone; the page starts with a new invocation between 8 and 9 in age
    # (older than what came before, newer than the cursor): it is behind the walk.
    newcomer = Invocation(
        id="late",
        app_name="a",
        version="1",
        action_name="b",
        started_at=T0 - timedelta(seconds=8.5),
        status="failed",
    )
    items = (newcomer, *(inv(n) for n in range(10, 19)))
    accepted = take(plan, Page(items=items, offset=9, limit=10, has_more=True, next_offset=19))
    assert ids(accepted) == list(range(10, 19))


def test_bridges_reach_further_back_while_they_float() -> None:
    plan = started(WalkPlan(start=0, window=4))
    take(plan, page(9, range(15, 25)))  # five deletes before the boundary
    margins = []
    for _ in range(3):
        bridge = plan.head
        assert bridge is not None
        assert bridge.bridge
        margins.append(9 - bridge.offset)
        take(plan, page(bridge.offset, range(15, 25)))  # still floating
    assert margins == [1, 2, 4]


def deep(plan: WalkPlan) -> WalkPlan:
    """A plan that delivered 0-9 from offset 5000: bridges have far to go back."""
    plan.plan(4)
    take(plan, page(5000, range(10)))
    plan.plan(3)
    return plan


def test_a_bridge_at_the_head_of_the_list_is_always_placed() -> None:
    plan = started(WalkPlan(start=0, window=4))
    take(plan, page(9, range(1000, 1010)))  # far away: the bridges go back to offset 0
    while (head := plan.head) is not None and head.bridge and head.offset > 0:
        take(plan, page(head.offset, range(1000, 1010)))
    head = plan.head
    assert head is not None
    assert head.offset == 0
    accepted = take(plan, page(0, range(1000, 1010)))  # nothing can be before the head
    assert ids(accepted) == list(range(1000, 1010))
    assert plan.stats.possible_gaps == 0


def test_bridges_from_far_down_reach_the_head_and_lose_nothing() -> None:
    plan = deep(WalkPlan(start=5000, window=4))
    take(plan, page(5009, range(1000, 1010)))  # every invocation near the cursor went
    bridges = 0
    while (head := plan.head) is not None and head.bridge:
        bridges += 1
        n = 900 + 10 * bridges  # each bridge sees other (older) invocations: still floating
        accepted = take(plan, page(head.offset, range(n, n + 10)))
        if accepted.items:
            break
    assert head is not None
    assert head.offset == 0  # placed: nothing can be missing before the head of the list
    assert bridges <= 14  # about log2(5009)
    assert plan.stats.possible_gaps == 0


def test_strict_mode_raises_instead_of_counting() -> None:
    plan = WalkPlan(start=0, window=4, strict=True)
    plan.plan(4)
    take(plan, page(0, [0], limit=1))
    plan.plan(3)
    with pytest.raises(ContinuityError, match="cannot check"):
        take(plan, page(1, [1], limit=1))  # one item per page: no overlap possible


def test_a_held_page_that_floats_again_is_dropped_for_the_bridges_chain() -> None:
    plan = started(WalkPlan(start=0, window=4))
    take(plan, page(9, range(15, 25)))  # floats: held, bridge at 8
    take(plan, page(8, [8, 10, 11]))  # the bridge is placed, but reaches only to 11
    head = plan.head
    assert head is not None
    assert plan.holds(head.key)
    accepted = take(plan, page(9, range(15, 25)))  # the held page floats again: dropped
    assert accepted.items == ()
    assert len(accepted.discard) == 2  # the pages requested after it
    assert plan.scheduled == ()
    assert plan.stats.wasted == 3  # those two, and the held page itself
    assert offsets(plan, 4)[0] == 10  # the chain goes on from the bridge's last item


def test_one_item_per_page_cannot_be_checked_and_says_so() -> None:
    plan = WalkPlan(start=0, window=4)
    plan.plan(4)
    take(plan, page(0, [0], limit=1))
    assert offsets(plan, 3) == [1, 2, 3]  # no room for an overlap
    accepted = take(plan, page(1, [1], limit=1))
    assert ids(accepted) == [1]
    assert plan.stats.possible_gaps == 1


def test_a_page_not_sorted_newest_first_cannot_be_placed_by_the_order() -> None:
    plan = started(WalkPlan(start=0, window=4))
    accepted = take(plan, page(9, [12, 11, 13, 14]))  # cursor gone, and out of order
    assert ids(accepted) == [12, 11, 13, 14]
    assert plan.stats.possible_gaps == 1


def test_the_windows_halves_on_a_bridge_and_grows_back_one_page_per_window() -> None:
    plan = started(WalkPlan(start=0, window=8), window=8)
    assert plan.window == 8
    take(plan, page(9, range(15, 25)))  # floats
    assert (plan.window, plan.stats.window, plan.stats.peak_window) == (4, 4, 8)
    take(plan, page(8, [8, *range(10, 17)]))
    take(plan, page(9, range(15, 25)))  # the held page, placed
    windows = []
    reduced = 2  # the bridge's page and the held page came at a window of four
    for _ in range(40):
        head = plan.head or plan.plan(8)[0]
        reduced += plan.window < 8
        take(plan, page(head.offset, range(head.offset, head.offset + 10)))
        plan.plan(8)
        windows.append(plan.window)
        assert plan.stats.window == plan.window
    assert windows == sorted(windows)
    # About one page more per window of clean pages: three pages placed since the bridge
    # leave it at four, five make it five.
    assert (windows[0], windows[2]) == (4, 5)
    assert windows[-1] == 8
    assert plan.stats.reduced_window_pages == reduced


def test_heavy_churn_goes_one_page_at_a_time_and_moves_like_a_sequential_walk() -> None:
    plan = WalkPlan(start=0, window=8)
    plan.plan(8)
    take(plan, page(0, range(10)))
    plan.plan(8)
    take(plan, page(9, range(9, 19)))
    for _ in range(CHURN_LIMIT):
        # Every page is pushed back a whole page: nothing new.
        head = plan.head or plan.plan(8)[0]
        take(plan, page(head.offset, range(9, 19)))
    assert (plan.window, plan.stats.window) == (1, 1)
    head = plan.head or plan.plan(1)[0]
    take(plan, page(head.offset, range(9, 19)))
    # After a page with nothing new, the next request takes a whole step, as a sequential
    # walk would, so that the walk ends when that one ends.
    nxt = plan.head or plan.plan(1)[0]
    assert nxt.offset == head.offset + 10
    accepted = take(plan, page(nxt.offset, range(30, 40)))  # floats: not bridged, counted
    assert ids(accepted) == list(range(30, 40))
    assert plan.stats.possible_gaps == 1
    assert plan.stats.unchecked_pages > 0


def test_strict_mode_under_heavy_churn_says_so() -> None:
    plan = WalkPlan(start=0, window=8, strict=True)
    plan.plan(8)
    take(plan, page(0, range(10)))
    plan.plan(8)
    take(plan, page(9, range(9, 19)))
    for _ in range(CHURN_LIMIT + 1):  # pushed back a whole page each time: nothing new
        head = plan.head or plan.plan(8)[0]
        take(plan, page(head.offset, range(9, 19)))
    head = plan.head or plan.plan(1)[0]
    with pytest.raises(ContinuityError) as raised:
        take(plan, page(head.offset, range(30, 40)))  # floats, one page at a time
    assert str(raised.value).endswith("(heavy churn)")


# -- servers that would keep a walk going forever ------------------------------------------


def test_empty_pages_that_say_there_is_more_end_in_a_pagination_error() -> None:
    plan = WalkPlan(start=0, window=1)
    with pytest.raises(PaginationError, match="empty pages in a row"):
        for _ in range(MAX_EMPTY_PAGES):
            head = plan.head or plan.plan(1)[0]
            take(plan, page(head.offset, [], next_offset=head.offset + 10))


def test_a_tie_that_moves_the_cursor_back_never_brings_a_delivered_tie_again() -> None:
    # Audit r3: ties come in a server order the walk cannot derive. After the first page the
    # cursor i2 goes, three newer invocations start, and i5 starts at the ties' instant,
    # sorting (on this server) between i0 and i1: placed after i0, it becomes the cursor,
    # and the next page holds i1 again after it.
    def at(offset: int, *items: Invocation) -> Page:
        return Page(items=items, offset=offset, limit=3, has_more=True, next_offset=offset + 3)

    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    assert ids(take(plan, at(0, tie(0), tie(1), tie(2)))) == [0, 1, 2]
    plan.plan(1)
    assert ids(take(plan, at(2, inv(-1), tie(0), tie(5)))) == [5]
    plan.plan(1)
    assert ids(take(plan, at(4, tie(5), tie(1), tie(3)))) == [3]  # i1 came already
    assert plan.stats.possible_gaps == 0


def five_ties_taken() -> WalkPlan:
    """A plan that delivered the tie's first page, i0-i4, and asked for the page at 4."""
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    assert ids(take(plan, page(0, [0, 1, 2, 3, 4], tied=True))) == [0, 1, 2, 3, 4]
    plan.plan(1)
    return plan


def test_ties_served_in_another_order_at_each_request_are_counted_never_repeated() -> None:
    # A server that sorts by started_at alone: each request serves the tie in another order.
    # The page at 4 shows i2 before i0, which came the other way round in one page: no
    # position tells which ties are new. Every tie not delivered is taken, none twice, and the
    # boundary is counted (ties this order put elsewhere may never be seen).
    plan = five_ties_taken()
    assert ids(take(plan, page(4, [2, 7, 0, 5, 6], tied=True))) == [7, 5, 6]
    assert plan.stats.possible_gaps == 1
    plan.plan(1)
    last = take(plan, page(8, [6, 5, 8, 9], tied=True, has_more=False))
    assert ids(last) == [8, 9]  # 6 before 5: they came the other way round, in one page
    assert plan.stats.possible_gaps == 2
    assert plan.done


def test_ties_from_different_pages_are_checked_through_the_page_that_showed_both() -> None:
    # i5 came in a page that started with i4 (the overlap): that page showed i4 before it, so
    # a later page with i8 before i3 contradicts pages, whichever pages they came from.
    plan = five_ties_taken()
    assert ids(take(plan, page(4, [4, 5, 6, 7, 8], tied=True))) == [5, 6, 7, 8]
    plan.plan(1)
    assert ids(take(plan, page(8, [8, 3, 9, 10, 11], tied=True))) == [9, 10, 11]
    assert plan.stats.possible_gaps == 1
    # Once noticed, a page whose ties all came already is not counted, in whatever order.
    plan.plan(1)
    assert ids(take(plan, page(12, [10, 11, 9], tied=True, has_more=False))) == []
    assert plan.stats.possible_gaps == 1


def test_strict_mode_refuses_ties_served_in_another_order() -> None:
    plan = WalkPlan(start=0, window=1, strict=True)
    plan.plan(1)
    take(plan, page(0, [0, 1, 2], tied=True))
    plan.plan(1)
    with pytest.raises(
        ContinuityError,
        match=r"offset 2: the server's order of ties changed between requests \(or it lists",
    ):
        take(plan, page(2, [2, 0, 4], tied=True))
    assert plan.stats.possible_gaps == 1


def test_a_resumed_walk_in_a_tie_takes_no_tie_it_may_have_delivered_when_the_order_breaks() -> None:
    # The token counted ties it could not name: on a server whose tie order is not stable,
    # none of the tie can be told apart from those, so only what is older is taken.
    anchor = Anchor(
        "i9",
        T0,
        int(T0.timestamp()) * 10**9,
        9,
        frozenset({"i8"}),
        tie_order=("i8", "i9"),
        ties_before=8,
    )
    plan = WalkPlan(start=9, anchor=anchor, window=1)
    plan.plan(1)
    assert ids(take(plan, page(9, [9, 10, 11], limit=3, tied=True))) == [10, 11]
    plan.plan(1)
    shuffled = take(plan, page(11, [11, 10, 3, 12, 20], limit=3, tied=True))
    assert plan.stats.possible_gaps == 1
    assert ids(shuffled) == []  # every tie here may be one the token only counted
    assert plan.done is False
    (following,) = plan.plan(1)
    assert (following.offset, following.bridge) == (13, False)  # no bridge back into the tie
    # Known from now on: a page with ties the token may have counted gives none of them,
    # wherever the cursor is, and is counted.
    after = take(plan, page(13, [13, 3, 14], limit=3, tied=True))
    assert ids(after) == []
    assert plan.stats.possible_gaps == 2


def test_once_the_order_broke_a_resumed_walk_takes_what_is_older_than_the_tie() -> None:
    # Older by a few nanoseconds is older: only the very instant is a tie (review r9).
    def at(offset: int, *items: Invocation, more: bool = True) -> Page:
        return Page(
            items=items,
            offset=offset,
            limit=3,
            has_more=more,
            next_offset=offset + 3 if more else None,
        )

    t0_ns = int(T0.timestamp()) * 10**9
    anchor = Anchor(
        "i9", T0, t0_ns + 500, 9, frozenset({"i8"}), tie_order=("i8", "i9"), ties_before=8
    )
    plan = WalkPlan(start=9, anchor=anchor, window=1)
    plan.plan(1)
    tie = [at_ns(f"i{n}", 500) for n in range(12)]
    assert [i.id for i in take(plan, at(9, tie[9], tie[10], tie[11])).items] == ["i10", "i11"]
    plan.plan(1)
    older = (at_ns("older_b", 400), at_ns("older_a", 300))
    accepted = take(plan, at(11, tie[11], tie[10], tie[3], *older, more=False))
    assert [item.id for item in accepted.items] == ["older_b", "older_a"]
    assert plan.stats.possible_gaps == 1
    assert plan.done


def test_once_the_order_broke_every_tie_a_page_shows_is_taken_by_id() -> None:
    # Noticed on one page; on the next, the cursor's place would leave i6 behind (it comes
    # before the cursor there): taken all the same, and the boundary counted.
    plan = five_ties_taken()
    assert ids(take(plan, page(4, [2, 7, 0, 5, 8], tied=True))) == [7, 5, 8]
    plan.plan(1)
    assert ids(take(plan, page(8, [6, 8, 9, 10, 11], tied=True))) == [6, 9, 10, 11]
    assert plan.stats.possible_gaps == 2
    # A page with no tie to take is placed as any other, and not counted; what is newer than
    # the tie is behind the walk.
    plan.plan(1)
    newer = page(12, [-1])
    with_newer = page(12, [12, 11], tied=True)
    shown = attrs.evolve(with_newer, items=(*newer.items, *with_newer.items))
    head = plan.head
    assert head is not None
    assert ids(plan.accept(head.key, shown)) == [12]  # not i-1: it is newer than the tie
    assert plan.stats.possible_gaps == 3
    plan.plan(1)
    last = page(13, [6, 9, 11], tied=True)  # in an order no page contradicted
    newer = page(13, [-1])
    shown = attrs.evolve(last, items=(*newer.items, *last.items, inv(20)), has_more=False)
    head = plan.head
    assert head is not None
    assert ids(plan.accept(head.key, shown)) == [20]
    assert plan.stats.possible_gaps == 3


def test_an_empty_page_before_anything_was_delivered_is_asked_for_again() -> None:
    # It proves nothing about the offsets its X-Next-Offset would skip (audit r3).
    plan = WalkPlan(start=0, window=1)
    plan.plan(4)
    accepted = take(plan, page(0, [], next_offset=10))
    assert accepted.items == ()
    assert [request.offset for request in plan.plan(1)] == [0]
    delivered = take(plan, page(0, range(10)))
    assert [item.id for item in delivered.items] == [f"i{n}" for n in range(10)]


def test_empty_first_pages_in_a_row_are_asked_for_again_speculation_dropped() -> None:
    plan = WalkPlan(start=0)
    for _ in range(MAX_EMPTY_PAGES - 1):
        plan.plan(8)  # more pages speculated once the window has grown
        take(plan, page(0, [], next_offset=10))
    plan.plan(8)
    assert ids(take(plan, page(0, range(10)))) == list(range(10))


def test_the_first_page_again_and_again_is_a_server_that_ignores_offset() -> None:
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10)))
    plan.plan(1)
    take(plan, page(9, range(9, 19)))  # the walk moved on: its cursor is 18
    with pytest.raises(PaginationError, match="ignore offset"):
        for _ in range(4):  # the first time is still short of a whole page further on
            head = plan.head or plan.plan(1)[0]
            take(plan, page(head.offset, range(10), next_offset=head.offset + 10))


def test_the_first_page_pushed_down_by_inserts_to_the_cursor_is_not_an_error() -> None:
    # Four invocations start before every request, with pages of five: the page at the
    # cursor is the first page again each time, cursor included; that is churn, not a
    # server that ignores offset, and the walk moves on as a sequential walk would.
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(5)))
    for _ in range(CHURN_LIMIT):
        head = plan.head or plan.plan(1)[0]
        assert not head.unchecked
        take(plan, page(head.offset, range(5), next_offset=head.offset + 5))
    # The last of them stopped the checking: the next page is the first one unchecked.
    assert plan.stats.unchecked_pages == 0
    head = plan.head or plan.plan(1)[0]
    assert head.unchecked
    take(plan, page(head.offset, range(5), next_offset=head.offset + 5))
    assert plan.stats.unchecked_pages == 1


def test_the_same_page_for_every_offset_ends_in_a_pagination_error() -> None:
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10)))
    with pytest.raises(PaginationError, match="same invocations"):
        for _ in range(MAX_REPEATED_PAGES + 1):
            head = plan.head or plan.plan(1)[0]
            take(plan, page(head.offset, range(9, 19), next_offset=head.offset + 10))


def test_anomalies_are_counted_and_raise_in_strict_mode() -> None:
    plan = WalkPlan(start=0)
    plan.plan(1)
    take(plan, page(0, range(10), anomalies=("X-Has-More is missing",)))
    assert plan.stats.anomalies == 1
    strict = WalkPlan(start=0, strict=True)
    strict.plan(1)
    with pytest.raises(PaginationError, match="X-Has-More is missing"):
        take(strict, page(0, range(10), anomalies=("X-Has-More is missing",)))


# -- resuming -------------------------------------------------------------------------------


def test_an_anchor_resumes_after_it_even_if_the_data_moved() -> None:
    anchor = Anchor.of(inv(9), 9)
    plan = WalkPlan(start=9, anchor=anchor, window=4)
    assert offsets(plan, 4) == [9]
    # Two invocations started since: the anchor is at 11 now; the page at 9 shows 7 and 8.
    accepted = take(plan, page(9, range(7, 17)))
    assert ids(accepted) == list(range(10, 17))
    assert plan.resume_offset == 19  # after 16, at 18 now


def test_an_anchor_that_is_gone_is_placed_by_its_recent_ids_and_started_at() -> None:
    anchor = Anchor.of(inv(9), 9, frozenset({"i8", "i7"}))
    plan = WalkPlan(start=9, anchor=anchor, window=4)
    plan.plan(4)
    accepted = take(plan, page(9, [7, 8, *range(10, 18)]))  # 9 was deleted
    assert ids(accepted) == list(range(10, 18))


@pytest.mark.parametrize("strict", [False, True])
def test_a_resumed_walk_never_delivers_again_what_its_token_names(strict: bool) -> None:
    # The token named 7 and 8 as delivered just before its cursor (9). The server's order
    # changed since: it shows 8 after the cursor. Not delivered again, and the boundary is
    # counted (what the server hid before the cursor is not known either).
    anchor = Anchor.of(inv(9), 9, frozenset({"i8", "i7"}))
    plan = WalkPlan(start=9, anchor=anchor, window=1, strict=strict)
    plan.plan(1)
    if strict:
        with pytest.raises(ContinuityError, match=r"\d: the page shows after the cursor one"):
            take(plan, page(9, [9, 8, 10, 11]))
        return
    accepted = take(plan, page(9, [9, 8, 10, 11]))
    assert ids(accepted) == [10, 11]
    assert plan.stats.possible_gaps == 1


def test_a_request_made_before_the_overlap_widened_is_checked_not_refetched() -> None:
    # Pages of ten overlap by one until a page floats, then by two. A page requested before
    # that, at the old overlap, still holds the cursor: it is kept and checked in turn, not
    # dropped and requested again.
    plan = started(WalkPlan(start=0, window=4))  # 9, 18 and 27 requested
    take(plan, page(9, range(10, 20)))  # the cursor (9) was deleted: the page floats
    take(plan, page(8, [8, *range(10, 19)]))  # the bridge places 10-18
    accepted = take(plan, page(9, range(10, 20)))  # the held page: 19 is new
    assert ids(accepted) == [19]
    assert accepted.discard == ()  # 18, one before the new overlap's place, is kept
    accepted = take(plan, page(18, range(19, 29)))
    assert ids(accepted) == list(range(20, 29))
    assert (plan.stats.requests, plan.stats.wasted, plan.stats.possible_gaps) == (5, 0, 0)


def resumed(anchor_at: int, *, window: int = 8, **kwargs: int) -> WalkPlan:
    """A plan resumed after ``anchor_at``, searching with pages of 100, walking with 10."""
    anchor = Anchor.of(inv(anchor_at), anchor_at)
    search = AnchorSearch(anchor, start=anchor_at, page_size=10, limit=100)
    return WalkPlan(start=anchor_at, anchor=anchor, window=window, search=search, **kwargs)


def answer(data: list[int], offset: int, limit: int) -> Page:
    """The page at ``offset`` of ``data`` as it is now."""
    more = offset + limit < len(data)
    return page(offset, data[offset : offset + limit], has_more=more, limit=limit)


def test_a_resumed_plan_searches_one_page_at_a_time_then_walks_at_its_own_size() -> None:
    # 1000 started since the token: the anchor (500) is at 1500 now.
    data = list(range(-1000, 1000))
    plan = resumed(500)
    delivered: list[int] = []
    made: list[tuple[int, int | None]] = []
    while not plan.done:
        made += [(request.offset, request.limit) for request in plan.plan(8)]
        head = plan.head
        assert head is not None
        if head.limit is not None:
            assert plan.scheduled == (head,)  # nothing speculated while searching
        delivered += ids(plan.accept(head.key, answer(data, head.offset, head.limit or 10)))
    assert delivered == list(range(501, 1000))
    assert [offset for offset, limit in made if limit == 100] == [
        *(500, 599, 798, 1097, 1596, 1346),  # searched: nothing delivered
        1471,  # holds the anchor: 500-510 of it are placed, 501-510 delivered
    ]
    assert plan.stats.searched == 6
    # Then pages of the walk's own size from the cursor on, as many as the window allows.
    walked = [offset for offset, limit in made if limit is None]
    assert walked[:3] == [1510, 1519, 1528]
    assert plan.stats.pages == 1 + len(walked) - plan.stats.wasted
    assert plan.stats.possible_gaps == plan.stats.bridges == 0


def test_a_resumed_plan_says_which_part_of_a_page_it_delivered_from() -> None:
    plan = resumed(500, max_items=3)
    (request,) = plan.plan(8)
    accepted = plan.accept(request.key, answer(list(range(1000)), 500, 100))
    assert ids(accepted) == [501, 502, 503]
    assert accepted.page is not None
    assert (accepted.page.offset, len(accepted.page), accepted.page.next_offset) == (500, 11, 511)
    assert plan.done
    assert plan.resume_offset == 504
    assert (plan.stats.requests, plan.stats.searched, plan.stats.pages) == (1, 0, 1)


def test_a_resumed_plan_takes_the_step_of_its_own_pages_after_the_search() -> None:
    # The page that held the anchor was read at 100 and cut to 10: the next pages are
    # speculated 9 apart, as after any page of 10.
    data = list(range(-150, 1000))  # 150 started since: the anchor (500) is at 650
    plan = resumed(500, window=4)
    (request,) = plan.plan(4)
    assert ids(plan.accept(request.key, answer(data, 500, 100))) == []  # all newer
    (request,) = plan.plan(4)
    assert ids(plan.accept(request.key, answer(data, 599, 100))) == list(range(501, 511))
    assert [(r.offset, r.limit) for r in plan.plan(3)] == [(660, None), (669, None), (678, None)]


def test_without_a_search_a_resumed_plan_places_its_first_page_as_always() -> None:
    plan = WalkPlan(start=500, anchor=Anchor.of(inv(500), 500), window=8)
    (request,) = plan.plan(8)
    assert request.limit is None
    accepted = plan.accept(request.key, answer(list(range(-5, 1000)), 500, 10))
    assert accepted.page is None
    assert ids(accepted) == [501, 502, 503, 504]


# -- a server that repeats an invocation -----------------------------------------------------


@pytest.mark.parametrize(
    "ids_at_9",
    [
        [9, 10, 9, 11, 12],  # the cursor where the overlap puts it, and again further down
        [8, 9, 10, 9, 11],  # one insert moved it down a place; then it comes again
    ],
)
def test_a_page_that_holds_the_cursor_twice_delivers_each_invocation_once(
    ids_at_9: list[int],
) -> None:
    # A server bug (one invocation twice in a page), here the walk's cursor: what follows its
    # first place is new, the second copy is not delivered again, and nothing is skipped.
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10)))
    plan.plan(1)
    accepted = take(plan, page(9, ids_at_9))
    assert ids(accepted) == [n for n in ids_at_9 if n > 9]


def test_an_invocation_twice_after_the_cursor_is_delivered_once_and_counted() -> None:
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10)))
    plan.plan(1)
    accepted = take(plan, page(9, [9, 10, 11, 10, 12]))
    assert ids(accepted) == [10, 11, 12]
    assert plan.stats.anomalies == 1


def test_an_invocation_the_page_shows_before_the_cursor_is_not_delivered_again() -> None:
    # The cursor (9) found one place further than the overlap puts it, and the invocation
    # before it (8, delivered) listed again after it: a server bug, counted.
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10)))
    plan.plan(1)
    accepted = take(plan, page(9, [8, 9, 10, 11, 8, 12]))
    assert ids(accepted) == [10, 11, 12]
    assert (plan.stats.anomalies, plan.stats.possible_gaps) == (1, 1)


def test_in_a_tie_one_the_page_shows_before_the_cursor_is_not_delivered_again() -> None:
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10), tied=True))
    plan.plan(1)
    accepted = take(plan, page(9, [8, 9, 10, 11, 8, 12], tied=True))
    assert ids(accepted) == [10, 11, 12]
    assert (plan.stats.anomalies, plan.stats.possible_gaps) == (1, 0)


# -- a walk that serves pages from a list that changes -----------------------------------------


def serve(
    plan: WalkPlan, data: list[int], *, limit: int = 10, capacity: int = 8, tied: bool = False
) -> Accepted:
    """Make the requests the plan asks for, and answer the head one as ``data`` is now."""
    plan.plan(capacity)
    head = plan.head
    assert head is not None
    shown = data[head.offset : head.offset + limit]
    more = head.offset + limit < len(data)
    return plan.accept(head.key, page(head.offset, shown, has_more=more, limit=limit, tied=tied))


def test_pages_of_one_item_are_requested_once_each_whatever_the_window() -> None:
    # Review r12, F4: a server that caps pages at one item. Each page found the next
    # request "stale" (pages of one do not overlap, and the check expected an overlap of
    # one), so the whole window was asked for again per item: 17.9 requests an item.
    data = list(range(60))
    plan = WalkPlan(start=0, window=8)
    delivered: list[int] = []
    while not plan.done:
        delivered += ids(serve(plan, data, limit=1))
    assert delivered == data
    assert plan.stats.requests <= len(data) + 8
    assert plan.stats.wasted <= 8


def test_a_tie_delivered_long_ago_is_known_by_the_cursor_not_only_by_recent_ids() -> None:
    # 300 ties, pages of ten: the walk's recent ids hold the last 100 to 200; the cursor
    # knows every tie delivered. A page without the cursor that shows tie 5 again places
    # after it, and 5 is not delivered again.
    data = list(range(400))
    plan = WalkPlan(start=0, window=1)
    delivered: list[int] = []
    while len(delivered) < 300:
        delivered += ids(serve(plan, data, tied=True))
    cursor = delivered[-1]
    head = plan.head or plan.plan(1)[0]
    accepted = take(plan, page(head.offset, [5, cursor + 1, cursor + 2], tied=True))
    assert ids(accepted) == [cursor + 1, cursor + 2]


def assert_in_order_once(delivered: list[int], data: list[int]) -> None:
    """Nothing twice, nothing out of order, nothing still in ``data`` skipped."""
    assert delivered == sorted(set(delivered))
    assert {n for n in data if n <= delivered[-1]} <= set(delivered)


# -- anchors and ties --------------------------------------------------------------------------


def test_an_invocation_is_behind_an_anchor_when_it_started_later_to_the_nanosecond() -> None:
    anchor = Anchor.of(at_ns("a", 500), 9)
    assert anchor.is_behind(inv(-1))  # a second later: newer, so before it in the list
    assert not anchor.is_behind(inv(1))
    assert anchor.is_behind(at_ns("b", 501))  # the same microsecond, a nanosecond later
    assert not anchor.is_behind(at_ns("c", 499))
    assert not anchor.is_behind(at_ns("d", 500))  # a tie: the order cannot tell


def tie_ids(batch: tuple[Invocation, ...], before: Anchor | None) -> frozenset[str]:
    return Anchor.after(batch, 9, before).recent_ids


def test_the_ties_of_a_batch_are_its_last_invocations_to_the_nanosecond() -> None:
    batch = (inv(-1), at_ns("a", 7), at_ns("b", 5), at_ns("c", 5))
    assert tie_ids(batch, None) == {"b", "c"}  # a: the same microsecond, not the same time
    assert Anchor.after(batch, 9, None).tie_order == ("b", "c")  # in the order delivered
    assert Anchor.after(batch[:2], 9, None).tie_order == ()  # no tie


def test_two_that_tie_at_the_end_of_a_longer_batch_are_both_its_ties() -> None:
    assert tie_ids((inv(-1), at_ns("b", 5), at_ns("c", 5)), None) == {"b", "c"}


def test_a_batch_of_one_carries_on_the_ties_of_the_anchor_it_ties_with() -> None:
    before = Anchor.of(at_ns("z", 5), 9, frozenset({"y"}))
    assert tie_ids((at_ns("a", 5),), before) == {"a", "y", "z"}
    assert tie_ids((at_ns("a", 6),), before) == {"a"}


def test_ties_carry_on_across_batches_that_tie_from_end_to_end() -> None:
    before = Anchor.of(at_ns("z", 5), 9, frozenset({"x", "y"}))
    assert tie_ids((at_ns("a", 5), at_ns("b", 5)), before) == {"a", "b", "x", "y", "z"}
    after = Anchor.after((at_ns("a", 5), at_ns("b", 5)), 11, before)
    assert after.tie_order == ("z", "a", "b")  # x and y: ids the anchor came with, unordered
    assert Anchor.after((at_ns("c", 5),), 12, after).tie_order == ("z", "a", "b", "c")
    newer = Anchor.of(at_ns("z", 6), 9, frozenset({"y"}))  # the batch does not tie with it
    assert tie_ids((at_ns("a", 5), at_ns("b", 5)), newer) == {"a", "b"}


def test_what_follows_a_deleted_cursor_in_its_tie_is_new() -> None:
    # A server that keeps whole seconds: everything ties. The cursor (9) was deleted, and
    # what now starts the page ties with it: the order cannot place it, so it is bridged.
    plan = WalkPlan(start=0, window=4)
    plan.plan(4)
    delivered = ids(take(plan, page(0, range(10), tied=True)))
    plan.plan(3)
    assert take(plan, page(9, range(10, 20), tied=True)).items == ()  # floats
    delivered += ids(take(plan, page(8, [8, *range(10, 19)], tied=True)))  # the bridge
    delivered += ids(take(plan, page(9, range(10, 20), tied=True)))  # the held page
    assert delivered == list(range(20))
    assert plan.stats.possible_gaps == 0


def test_ties_delivered_pages_ago_still_place_a_bridge_far_back() -> None:
    # Pages of three, everything ties. Four deletes at the cursor send the bridges back past
    # the last two pages delivered: the cursor's ties say that what they find there (2) was
    # delivered, so nothing is delivered twice.
    data = list(range(30))
    plan = WalkPlan(start=0, window=1)
    delivered: list[int] = []
    for _ in range(3):
        delivered += ids(serve(plan, data, limit=3, tied=True))
    assert delivered == list(range(7))
    for n in (3, 4, 5, 6):
        data.remove(n)
    while not plan.done:
        delivered += ids(serve(plan, data, limit=3, tied=True))
    assert delivered == list(range(30))
    assert plan.stats.possible_gaps == 0


def test_a_resumed_walk_places_itself_by_its_tokens_ids_when_its_anchor_is_gone() -> None:
    # Everything ties, and the anchor (2) was deleted since: the ids the token kept (0, 1)
    # place the first bridge, one before the anchor, and are not delivered again.
    data = [0, 1, *range(3, 20)]
    plan = WalkPlan(start=2, anchor=Anchor.of(tie(2), 2, frozenset({"i0", "i1"})), window=1)
    assert serve(plan, data, limit=3, tied=True).items == ()  # the anchor is gone: floats
    head = plan.head
    assert head is not None
    assert (head.offset, head.bridge) == (1, True)
    delivered: list[int] = []
    while not plan.done:
        delivered += ids(serve(plan, data, limit=3, tied=True))
    assert delivered == list(range(3, 20))
    assert plan.stats.bridges == 1


# -- what the I/O layer reads --------------------------------------------------------------------


def test_a_walk_on_still_data_counts_requests_pages_and_waste_and_nothing_else() -> None:
    plan = WalkPlan(start=0, window=4)
    plan.plan(4)
    take(plan, page(0, range(10)))
    plan.plan(3)
    take(plan, page(9, range(9, 19)))
    take(plan, page(18, range(18, 25), has_more=False))  # the request at 27 is wasted
    assert plan.stats == WalkStats(requests=4, pages=3, wasted=1, window=4, peak_window=4)


def test_fresh_walk_stats_count_nothing() -> None:
    assert set(attrs.asdict(WalkStats()).values()) == {0}


@pytest.mark.parametrize("window", [{}, {"window": 1}, {"window": 0}])
def test_without_a_window_of_two_or_more_the_walk_is_sequential(window: dict[str, int]) -> None:
    plan = WalkPlan(start=0, **window)
    assert offsets(plan, 8) == [0]
    take(plan, page(0, range(10)))
    assert offsets(plan, 8) == [9]
    assert (plan.window, plan.stats.peak_window) == (1, 1)


def test_the_window_bounds_the_requests_whatever_room_the_caller_has() -> None:
    plan = WalkPlan(start=0, window=2)
    plan.plan(8)
    take(plan, page(0, range(10)))
    assert offsets(plan, 8) == [9, 18]


def test_the_cursor_is_the_last_invocation_delivered_at_its_position() -> None:
    anchor = Anchor.of(inv(9), 9)
    plan = WalkPlan(start=9, anchor=anchor, window=1)
    assert plan.cursor == anchor
    plan.plan(1)
    take(plan, page(9, range(9, 19)))
    cursor = plan.cursor
    assert cursor is not None
    assert (cursor.id, cursor.position) == ("i18", 18)


def test_a_new_maximum_window_is_followed_at_once_and_kept() -> None:
    plan = WalkPlan(start=0, window=2)
    plan.plan(2)
    take(plan, page(0, range(10)))
    plan.set_max_window(6)
    assert plan.window == 6
    assert (plan.stats.window, plan.stats.peak_window) == (6, 6)
    assert offsets(plan, 16) == [9, 18, 27, 36, 45, 54]
    take(plan, page(9, range(9, 19)))
    assert plan.window == 6  # not pulled back to the old maximum by a clean page
    plan.set_max_window(3)
    assert (plan.window, plan.stats.window, plan.stats.peak_window) == (3, 3, 6)
    plan.set_max_window(0)
    assert plan.window == 1


def test_under_churn_a_new_maximum_only_lowers_the_window() -> None:
    plan = started(WalkPlan(start=0, window=8), window=8)
    take(plan, page(9, range(15, 25)))  # floats: the window halves to 4
    assert plan.window == 4
    plan.set_max_window(16)
    assert plan.window == 4  # it grows back page by page, up to the new maximum
    plan.set_max_window(2)
    assert plan.window == 2


def test_a_bridge_is_requested_once() -> None:
    plan = started(WalkPlan(start=0, window=4))
    take(plan, page(9, range(10, 20)))  # floats
    assert [(request.offset, request.bridge) for request in plan.plan(4)] == [(8, True)]
    assert plan.plan(4) == []


@pytest.mark.parametrize(("max_items", "expected"), [(19, [9]), (20, [9, 18])])
def test_speculation_stops_exactly_where_max_items_is_satisfied(
    max_items: int, expected: list[int]
) -> None:
    # After 0-9, the page at 9 brings 10-18 (19 in all) and the page at 18 brings 19 on.
    plan = WalkPlan(start=0, max_items=max_items, window=8)
    plan.plan(8)
    take(plan, page(0, range(10)))
    assert offsets(plan, 7) == expected


def test_max_items_reached_exactly_on_a_middle_page_ends_the_walk_short_of_the_end() -> None:
    plan = WalkPlan(start=0, max_items=10, window=4)
    plan.plan(4)
    take(plan, page(0, range(10)))
    assert plan.done
    assert not plan.complete
    assert plan.resume_offset == 10
    assert plan.plan(4) == []


def test_max_items_that_cuts_the_last_page_leaves_the_walk_incomplete() -> None:
    plan = WalkPlan(start=0, max_items=5)
    plan.plan(1)
    assert ids(take(plan, page(0, range(10), has_more=False))) == [0, 1, 2, 3, 4]
    assert plan.done
    assert not plan.complete
    assert plan.resume_offset == 5


def test_a_smaller_step_than_speculated_resynchronises_too() -> None:
    plan = WalkPlan(start=0, window=4)
    plan.plan(4)
    take(plan, page(0, range(10)))
    assert offsets(plan, 3) == [9, 18, 27]
    scheduled = [request.key for request in plan.scheduled]
    accepted = take(plan, page(9, range(9, 17), next_offset=17))  # a step of 8 from here
    assert accepted.discard == tuple(scheduled[1:])  # 18 would leave 17 out
    assert offsets(plan, 3) == [16, 23, 30]


def test_pages_of_two_overlap_by_one() -> None:
    plan = WalkPlan(start=0, window=4)
    plan.plan(4)
    take(plan, page(0, [0, 1], limit=2))
    assert offsets(plan, 3) == [1, 2, 3]
    assert ids(take(plan, page(1, [1, 2], limit=2))) == [2]
    assert plan.stats.possible_gaps == 0


def test_once_the_data_moved_pages_of_ten_overlap_by_two() -> None:
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10)))
    assert offsets(plan, 1) == [9]  # one invocation of overlap while nothing moved
    take(plan, page(9, range(10, 20)))  # 9 was deleted: the page floats
    take(plan, page(8, [8, *range(10, 19)]))  # the bridge places it: 10-18, 18 now at 17
    assert offsets(plan, 1) == [16]  # two of overlap from now on
    assert ids(take(plan, page(16, range(17, 27)))) == list(range(19, 27))
    assert offsets(plan, 1) == [24]
    assert plan.stats.possible_gaps == 0


# -- bridges and the window --------------------------------------------------------------------


def test_at_a_window_of_two_a_bridge_holds_the_page_and_drops_the_one_after_it() -> None:
    plan = WalkPlan(start=0, window=2)
    plan.plan(2)
    take(plan, page(0, range(10)))
    assert offsets(plan, 2) == [9, 18]
    held, after = plan.scheduled
    accepted = take(plan, page(9, range(15, 25)))  # floats
    assert accepted.discard == (after.key,)  # a bridge and the held page fill the window
    assert plan.holds(held.key)
    assert [request.offset for request in plan.scheduled] == [8, 9]
    assert (plan.window, plan.stats.window, plan.stats.wasted) == (1, 1, 1)
    # The adaptive window drops to one meanwhile, and the bridge floats too: the held page
    # keeps its place behind the next bridge.
    plan.set_max_window(1)
    take(plan, page(8, range(15, 25)))
    assert [request.offset for request in plan.scheduled] == [7, 9]
    assert plan.stats.wasted == 2  # the bridge that floated
    take(plan, page(7, [7, 8, *range(15, 23)]))  # placed: 15-22
    take(plan, page(9, range(15, 25)))  # the held page, placed
    assert not plan.holds(held.key)
    assert plan.stats.wasted == 2


def test_at_a_window_of_one_a_floating_page_is_not_held() -> None:
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(10)))
    plan.plan(1)
    floating = plan.head
    assert floating is not None
    take(plan, page(9, range(15, 25)))
    assert not plan.holds(floating.key)
    assert [request.offset for request in plan.scheduled] == [8]  # the bridge alone
    assert plan.stats.wasted == 1  # fetched again after the bridge, as any next page


def test_closing_the_walk_lets_go_of_held_pages() -> None:
    plan = started(WalkPlan(start=0, window=4))
    take(plan, page(9, range(15, 25)))  # floats: held
    held = plan.scheduled[1]
    assert plan.holds(held.key)
    assert held.key in plan.close()
    assert not plan.holds(held.key)


def test_each_boundary_that_floats_starts_bridging_one_before_it_and_many_go_unchecked() -> None:
    # Two invocations deleted at the cursor before each next page: every boundary floats.
    # Each one's first bridge starts one item before the page that floated; from the
    # CHURN_LIMIT-th on, the walk goes one page at a time (its requests are unchecked).
    data = list(range(1000))
    plan = WalkPlan(start=0, window=1)
    delivered = ids(serve(plan, data))
    for boundary in range(CHURN_LIMIT):
        cursor = plan.cursor
        assert cursor is not None
        data.remove(int(cursor.id[1:]))
        data.remove(int(cursor.id[1:]) - 1)
        floating = serve(plan, data)
        assert floating.items == ()
        bridge = plan.head
        assert bridge is not None
        assert bridge.bridge
        assert bridge.offset == floating.start - 1
        assert bridge.unchecked == (boundary == CHURN_LIMIT - 1)
        while not (accepted := serve(plan, data)).items:  # bridges further back, if need be
            pass
        delivered += ids(accepted)
    assert plan.stats.bridges >= CHURN_LIMIT
    assert plan.stats.possible_gaps == 0
    assert plan.stats.unchecked_pages == 1  # the last bridge's page
    # Back to checking once the latest sixteen pages (CHURN_WINDOW) all went well: the
    # bridge's page and fifteen more.
    for _ in range(15):
        (request,) = plan.plan(1)
        assert request.unchecked
        delivered += ids(serve(plan, data))
    (request,) = plan.plan(1)
    assert not request.unchecked
    assert plan.stats.unchecked_pages == 16  # every page requested unchecked, the last included
    assert_in_order_once(delivered, data)


# -- pages that cannot be placed by the cursor --------------------------------------------------


def test_a_page_that_holds_the_cursor_is_placed_by_it_whatever_the_order() -> None:
    # Ids first, the order only where an id is gone: 20 sorts after 9, yet it is before the
    # cursor in this page, so it is behind the walk, and no gap is counted. (A server whose
    # stable order is another one is walked exactly: the order is an assumption.)
    plan = started(WalkPlan(start=0, window=4))
    assert ids(take(plan, page(9, [20, 9, 10, 11]))) == [10, 11]
    assert plan.stats.possible_gaps == 0


def test_a_page_in_the_order_placed_past_the_overlap_counts_no_gap() -> None:
    plan = started(WalkPlan(start=0, window=4))
    assert ids(take(plan, page(9, [8, 9, 10, 11]))) == [10, 11]  # the cursor a place further
    assert plan.stats.possible_gaps == 0


def test_a_page_that_shows_a_delivered_one_after_the_cursor_skips_it_and_counts() -> None:
    # The overlap puts the cursor (9) where it is, and the page shows 7 after it: delivered
    # already (review r12). No stable order does that: what else the page hid is unknown.
    plan = started(WalkPlan(start=0, window=4))
    assert ids(take(plan, page(9, [9, 10, 7, 11]))) == [10, 11]
    assert plan.stats.possible_gaps == 1
    assert plan.stats.anomalies == 0  # not listed twice in the page


def test_a_delivered_one_after_the_cursor_in_strict_mode_raises() -> None:
    plan = started(WalkPlan(start=0, window=4, strict=True))
    with pytest.raises(ContinuityError, match="one delivered before it"):
        take(plan, page(9, [9, 10, 7, 11]))


def test_the_walk_remembers_the_last_hundred_it_delivered_whatever_the_page_size() -> None:
    # Pages of three, two of them new: one delivered 120 invocations back is never repeated.
    plan = WalkPlan(start=0, window=1)
    delivered: list[int] = []
    for _ in range(120):
        head = plan.head or plan.plan(1)[0]
        delivered += ids(take(plan, page(head.offset, range(head.offset, head.offset + 3))))
    head = plan.head or plan.plan(1)[0]
    cursor = delivered[-1]
    accepted = take(plan, page(head.offset, [cursor, cursor + 1, cursor - 120]))
    assert ids(accepted) == [cursor + 1]
    assert plan.stats.possible_gaps == 1


def test_recent_ids_keep_two_generations_of_at_least_a_hundred() -> None:
    recent = RecentIds()
    for n in range(250):
        recent.add({f"i{n}"})
    assert all(f"i{n}" in recent for n in range(150, 250))  # the last 100, at least
    assert "i0" not in recent  # bounded: the oldest generations are gone
    assert not recent.isdisjoint({"x", "i249"})
    assert recent.isdisjoint({"x", "i0"})


def test_a_page_out_of_order_never_repeats_what_was_delivered_just_before() -> None:
    plan = started(WalkPlan(start=0, window=4))
    accepted = take(plan, page(9, [8, 12, 11, 13]))  # cursor gone, and out of order
    assert ids(accepted) == [12, 11, 13]  # 8 is not delivered again
    assert plan.stats.possible_gaps == 1


def test_invocations_behind_the_walk_at_the_end_of_a_page_are_not_delivered() -> None:
    # The cursor (9) is gone, inserts pushed 5-8 down, and "late" (started between 8 and 9)
    # entered the filter: the whole page is behind the walk.
    plan = started(WalkPlan(start=0, window=4))
    late = Invocation(
        id="late",
        app_name="a",
        version="1",
        action_name="b",
        started_at=T0 - timedelta(seconds=8.5),
        status="failed",
    )
    items = (*(inv(n) for n in range(5, 9)), late)
    accepted = take(plan, Page(items=items, offset=9, limit=5, has_more=True, next_offset=14))
    assert accepted.items == ()
    assert plan.stats.possible_gaps == 0


@pytest.mark.parametrize("size", [10, 1])
def test_an_empty_middle_page_that_says_there_is_more_is_worked_around(size: int) -> None:
    plan = WalkPlan(start=0, window=1)
    plan.plan(1)
    take(plan, page(0, range(size), limit=size))
    plan.plan(1)
    head = plan.head
    assert head is not None
    assert take(plan, page(head.offset, [], next_offset=head.offset + size)).items == ()
    assert plan.stats.anomalies == 1
    if size == 1:  # no overlap to check with: counted, and the walk moves on
        assert plan.stats.possible_gaps == 1
        assert offsets(plan, 1) == [2]
    else:  # a bridge finds the walk's place again
        assert ids(take(plan, page(8, range(8, 18)))) == list(range(10, 18))
        assert plan.stats.possible_gaps == 0


def test_pages_with_nothing_after_the_cursor_however_short_are_churn() -> None:
    # A server that filters after paging: every page holds only the cursor.
    plan = WalkPlan(start=0, window=8)
    plan.plan(8)
    take(plan, page(0, range(10)))
    for _ in range(CHURN_LIMIT):
        head = plan.head or plan.plan(8)[0]
        take(plan, page(head.offset, [9], next_offset=head.offset + 10))
    assert (plan.window, plan.stats.window) == (1, 1)
    (request,) = plan.plan(8)
    assert request.unchecked


@pytest.mark.parametrize(
    ("pages", "why"),
    [
        ([page(0, [0], limit=1), page(1, [1], limit=1)], "(a page of one item cannot overlap)"),
        ([page(0, range(10)), page(9, [12, 11, 13, 14])], ": the page is not sorted newest first"),
    ],
)
def test_strict_mode_says_why_it_cannot_check(pages: list[Page], why: str) -> None:
    plan = WalkPlan(start=0, window=1, strict=True)
    plan.plan(1)
    take(plan, pages[0])
    plan.plan(1)
    with pytest.raises(ContinuityError) as raised:
        take(plan, pages[1])
    assert str(raised.value).endswith(why)
