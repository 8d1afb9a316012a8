"""The walk plan, tested with plain values: which requests, what is delivered, what is held."""

from datetime import UTC, datetime, timedelta

import pytest

from kernel_async import ContinuityError, Invocation, Page, PaginationError
from kernel_async._guard import MAX_EMPTY_PAGES, MAX_REPEATED_PAGES
from kernel_async._walk import (
    CHURN_LIMIT,
    Accepted,
    Anchor,
    WalkPlan,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def inv(n: int) -> Invocation:
    """Invocation n: the higher n, the older (the API lists newest first)."""
    return Invocation(
        id=f"i{n}",
        app_name="a",
        version="1",
        action_name="b",
        started_at=T0 - timedelta(seconds=n),
        status="queued",
    )


def page(
    offset: int,
    ids: range | list[int],
    *,
    has_more: bool = True,
    next_offset: int | None = None,
    limit: int | None = None,
    anomalies: tuple[str, ...] = (),
) -> Page:
    items = tuple(inv(n) for n in ids)
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
    assert plan.scheduled == ()
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
    assert plan.window == 4
    assert plan.stats.peak_window == 8
    take(plan, page(8, [8, *range(10, 17)]))
    take(plan, page(9, range(15, 25)))  # the held page, placed
    grown = plan.window
    for n in range(40):
        head = plan.head or plan.plan(8)[0]
        take(plan, page(head.offset, range(head.offset, head.offset + 10)))
        plan.plan(8)
        assert plan.window >= grown
        grown = plan.window
        if n == 39:
            assert plan.window == 8


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
    assert plan.window == 1
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


# -- servers that would keep a walk going forever ------------------------------------------


def test_empty_pages_that_say_there_is_more_end_in_a_pagination_error() -> None:
    plan = WalkPlan(start=0, window=1)
    with pytest.raises(PaginationError, match="empty pages in a row"):
        for _ in range(MAX_EMPTY_PAGES):
            head = plan.head or plan.plan(1)[0]
            take(plan, page(head.offset, [], next_offset=head.offset + 10))


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
    for _ in range(6):
        head = plan.head or plan.plan(1)[0]
        take(plan, page(head.offset, range(5), next_offset=head.offset + 5))
    assert plan.stats.unchecked_pages > 0


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
