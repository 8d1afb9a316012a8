"""The server guard, tested with plain pages: what ends a walk, what is counted, what is not.

The walk plan's own tests (tests/test_walk.py) check the same guards once more through a plan.
"""

import pytest
from numbered import inv

from kernel_async import Page, PaginationError
from kernel_async._guard import ServerGuard


def page(
    offset: int,
    ids: range | list[int],
    *,
    has_more: bool = True,
    anomalies: tuple[str, ...] = (),
) -> Page:
    """A page of invocations ``i<n>`` (the higher n, the older) at ``offset``."""
    return Page(
        items=tuple(inv(n) for n in ids),
        offset=offset,
        limit=10,
        has_more=has_more,
        next_offset=offset + 10 if has_more else None,
        anomalies=anomalies,
    )


def empty(offset: int) -> Page:
    return page(offset, [])


# -- empty pages that say there is more --------------------------------------------------------


def test_two_empty_pages_in_a_row_are_counted_and_the_third_ends_the_walk() -> None:
    guard = ServerGuard()
    assert guard.check(page(0, range(10))) == 0
    assert guard.check(empty(10)) == 1  # an odd page, worked around
    assert guard.check(empty(20)) == 1
    with pytest.raises(PaginationError, match="3 empty pages in a row") as raised:
        guard.check(empty(30))
    assert raised.value.offset == 30


def test_a_walk_that_starts_with_empty_pages_ends_at_the_third_too() -> None:
    guard = ServerGuard()
    assert guard.check(empty(0)) == 1
    assert guard.check(empty(10)) == 1
    with pytest.raises(PaginationError, match="3 empty pages in a row"):
        guard.check(empty(20))


def test_empty_pages_end_the_walk_only_in_a_row() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    for offset in range(10, 200, 30):  # two empty pages, one with items, and again
        guard.check(empty(offset))
        guard.check(empty(offset + 10))
        guard.check(page(offset + 20, range(offset, offset + 10)))


def test_an_empty_last_page_is_no_anomaly() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    assert guard.check(page(10, [], has_more=False)) == 0


# -- headers the walk worked around ----------------------------------------------------------


def test_a_page_with_an_anomaly_is_counted_by_default_and_raises_when_strict() -> None:
    odd = page(0, range(10), anomalies=("X-Has-More is missing",))
    assert ServerGuard().check(odd) == 1
    with pytest.raises(PaginationError, match="X-Has-More is missing"):
        ServerGuard(strict=True).check(odd)


# -- the first page again: a server (or cache) that ignores offset -----------------------------


def test_the_first_page_a_whole_page_further_on_three_times_in_a_row_ends_the_walk() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    guard.check(page(10, range(10)))  # from where the first page ends: it counts
    guard.check(page(20, range(10)))
    with pytest.raises(PaginationError, match="first page again") as raised:
        guard.check(page(30, range(10)))
    assert raised.value.offset == 30


def test_the_first_page_again_only_ends_the_walk_in_a_row() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    for offset in range(10, 200, 30):  # twice the first page, then a page of its own
        guard.check(page(offset, range(10)))
        guard.check(page(offset + 10, range(10)))
        guard.check(page(offset + 20, range(offset, offset + 10)))


def test_the_first_page_within_its_own_reach_is_churn_not_a_server_ignoring_offset() -> None:
    # A walk resumed at 100 sees its first page again at 105 and at 109, where its next page
    # starts (inserts at the head pushed it down): not a whole page further on, so it may be
    # churn.
    guard = ServerGuard()
    guard.check(page(100, range(10)))
    for offset in (105, 109, 109, 109):
        assert guard.check(page(offset, range(10))) == 0


def test_a_first_page_again_that_holds_the_cursor_is_churn() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    for offset in (10, 20, 30, 40):
        guard.check(page(offset, range(10)), cursor_id="i9")  # the walk's last delivered


def test_a_first_page_again_without_the_cursor_ends_the_walk_however_far_the_walk_is() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    guard.check(page(9, range(9, 19)), cursor_id="i9")
    guard.check(page(18, range(10)), cursor_id="i18")  # the walk is at 18: not in the page
    guard.check(page(27, range(10)), cursor_id="i18")
    with pytest.raises(PaginationError, match="first page again"):
        guard.check(page(36, range(10)), cursor_id="i18")


def test_a_first_page_of_five_counts_and_one_of_four_is_left_to_the_same_page_guard() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(5)))
    guard.check(page(5, range(5)))
    guard.check(page(10, range(5)))
    with pytest.raises(PaginationError, match="first page again"):
        guard.check(page(15, range(5)))
    small = ServerGuard()
    small.check(page(0, range(4)))
    for offset in (4, 8, 12, 16):  # small pages come round again by chance under churn
        small.check(page(offset, range(4)))


# -- the same page for every offset ------------------------------------------------------------


def test_the_same_page_seventeen_times_in_a_row_ends_the_walk() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    for n in range(16):  # the first and fifteen repeats: still walked
        guard.check(page(10 + 10 * n, range(10, 20)))
    with pytest.raises(PaginationError, match="17 pages in a row") as raised:
        guard.check(page(170, range(10, 20)))
    assert raised.value.offset == 170


def test_the_same_page_ends_the_walk_only_in_a_row() -> None:
    guard = ServerGuard()
    guard.check(page(0, range(10)))
    for round_ in range(1, 4):  # fifteen repeats, then another page, and again
        for n in range(16):
            guard.check(page(1000 * round_ + 10 * n, range(10, 20)))
        guard.check(page(1000 * round_ + 500, range(30, 40)))


def test_the_same_page_of_one_invocation_for_every_offset_ends_the_walk() -> None:
    guard = ServerGuard()
    with pytest.raises(PaginationError, match="same invocations"):
        for offset in range(100):
            guard.check(page(offset, [7]))


def test_pages_with_the_same_ends_but_other_invocations_between_are_not_the_same() -> None:
    guard = ServerGuard()
    for offset in range(0, 300, 10):
        middle = [1, 2] if offset % 20 else [3, 4]
        guard.check(page(offset, [0, *middle, 99]))
