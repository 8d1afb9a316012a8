"""The walk plan, tested with plain values: which offsets, what is delivered, what is dropped."""

from datetime import UTC, datetime

import pytest

from kernel_async import Invocation, Page
from kernel_async._walk import WalkPlan

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def inv(n: int) -> Invocation:
    return Invocation(
        id=f"i{n}", app_name="a", version="1", action_name="b", started_at=T0, status="queued"
    )


def page(
    offset: int,
    ids: range | list[int],
    *,
    has_more: bool = True,
    next_offset: int | None = None,
    limit: int | None = None,
) -> Page:
    items = tuple(inv(n) for n in ids)
    if has_more and next_offset is None:
        next_offset = offset + len(items)
    return Page(
        items=items,
        offset=offset,
        limit=limit,
        has_more=has_more,
        next_offset=next_offset if has_more else None,
    )


def test_the_first_page_goes_alone_then_the_window_fills_with_the_learned_step() -> None:
    plan = WalkPlan(start=0)
    assert plan.plan(8) == [0]
    assert plan.plan(8) == []  # step unknown until the first page arrives
    accepted = plan.accept(page(0, range(50), limit=50))  # the server capped 100 to 50
    assert accepted.discard == ()
    assert len(accepted.items) == 50
    assert plan.plan(7) == [50, 100, 150, 200, 250, 300, 350]
    assert plan.scheduled == (50, 100, 150, 200, 250, 300, 350)


def test_prefetch_one_is_sequential() -> None:
    plan = WalkPlan(start=0)
    assert plan.plan(1) == [0]
    plan.accept(page(0, range(10)))
    assert plan.plan(0) == []  # nothing ahead while page 0 is consumed
    assert plan.plan(1) == [10]


def test_a_next_offset_other_than_speculated_resynchronises() -> None:
    plan = WalkPlan(start=0)
    plan.plan(4)
    plan.accept(page(0, range(10)))
    assert plan.plan(3) == [10, 20, 30]
    accepted = plan.accept(page(10, range(10, 20), next_offset=25))
    assert accepted.discard == (20, 30)
    assert plan.resyncs == 1
    assert plan.expected_offset == 25
    assert plan.plan(3) == [25, 40, 55]  # the step is re-learned: 25 - 10


def test_the_last_page_discards_speculation_past_the_end() -> None:
    plan = WalkPlan(start=0)
    plan.plan(4)
    plan.accept(page(0, range(10)))
    plan.plan(3)
    accepted = plan.accept(page(10, range(10, 13), has_more=False))
    assert accepted.discard == (20, 30)
    assert plan.done
    assert plan.resume_offset is None
    assert plan.plan(4) == []


def test_max_items_bounds_speculation_and_cuts_the_page() -> None:
    plan = WalkPlan(start=0, max_items=25)
    plan.plan(8)
    plan.accept(page(0, range(10)))
    assert plan.plan(7) == [10, 20]  # 30 would be past what max_items needs
    plan.accept(page(10, range(10, 20)))
    accepted = plan.accept(page(20, range(20, 30)))
    assert [i.id for i in accepted.items] == ["i20", "i21", "i22", "i23", "i24"]
    assert plan.done
    assert plan.resume_offset == 25


def test_max_items_zero_requests_nothing() -> None:
    plan = WalkPlan(start=0, max_items=0)
    assert plan.plan(8) == []
    assert plan.done


def test_repeats_from_shifted_data_are_dropped_and_the_window_refetched() -> None:
    plan = WalkPlan(start=0)
    plan.plan(4)
    plan.accept(page(0, range(10)))
    plan.plan(3)
    # One invocation started meanwhile: page 10 now repeats item 9 at its head.
    accepted = plan.accept(page(10, [9, *range(10, 19)]))
    assert [i.id for i in accepted.items] == [f"i{n}" for n in range(10, 19)]
    assert accepted.discard == (20, 30)  # requested before the shift was seen
    assert plan.resyncs == 1
    assert plan.plan(3) == [20, 30, 40]


def test_without_dedupe_repeats_are_kept_but_the_window_still_refetched() -> None:
    plan = WalkPlan(start=0, dedupe=False)
    plan.plan(3)
    plan.accept(page(0, range(10)))
    plan.plan(2)
    accepted = plan.accept(page(10, [9, *range(10, 19)]))
    assert len(accepted.items) == 10
    assert accepted.discard == (20,)


def test_dedupe_remembers_two_pages_only() -> None:
    plan = WalkPlan(start=0)
    plan.plan(1)
    for start in (0, 10, 20):
        plan.accept(page(start, range(start, start + 10)))
        plan.plan(1)
    accepted = plan.accept(page(30, [5, 15, 25, 30]))  # i5 is three pages back
    assert [i.id for i in accepted.items] == ["i5", "i30"]


def test_a_failed_head_ends_the_walk_and_keeps_its_offset() -> None:
    plan = WalkPlan(start=100)
    plan.plan(4)
    plan.accept(page(100, range(10)))
    plan.plan(3)
    assert plan.fail() == (120, 130)
    assert plan.done
    assert plan.resume_offset == 110


def test_close_discards_everything() -> None:
    plan = WalkPlan(start=0)
    plan.plan(2)
    assert plan.close() == (0,)
    assert plan.done
    assert plan.resume_offset == 0


def test_a_page_out_of_turn_is_a_bug() -> None:
    plan = WalkPlan(start=0)
    plan.plan(1)
    with pytest.raises(ValueError, match="not the head"):
        plan.accept(page(10, range(3)))
