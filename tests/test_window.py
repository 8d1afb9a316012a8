"""The adaptive window, as a pure policy: observations in, window out."""

import pytest

from kernel_async._window import ITEM_COST, AdaptiveWindow


def started(window: int, maximum: int = 16) -> AdaptiveWindow:
    """A policy whose first page asked for ``window`` pages (pages of 100 invocations)."""
    policy = AdaptiveWindow(maximum=maximum)
    policy.first_page((window - 1.5) * 2 * ITEM_COST * 100, 100)  # ceil() to window - 1
    assert policy.decide() == min(window, maximum)
    return policy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def round(
        self,
        policy: AdaptiveWindow,
        *,
        waits: int,
        ready: int = 1,
        seconds_per_page: float = 0.001,
    ) -> int:
        """One round (a window's worth of pages, eight at least), ``waits`` of them waited for."""
        pages = max(policy.window, 8)
        for page in range(pages):
            self.now += seconds_per_page
            waited = page < waits
            policy.waited(network=waited, ready_ahead=0 if waited else ready, at=self.now)
        return policy.decide()


def test_the_first_page_goes_alone() -> None:
    policy = AdaptiveWindow(maximum=16)
    assert policy.decide() == 1
    assert policy.peak == 1


def test_an_empty_first_page_teaches_nothing() -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.first_page(0.001, 0)
    assert policy.decide() == 1
    policy.first_page(0.003, 100)  # the first page with something in it
    assert policy.decide() == 4


@pytest.mark.parametrize(
    ("round_trip", "expected"),
    [
        (0.0, 1),  # no time at all: a page ahead is one too many
        (0.0009, 2),  # half of it (the connection was opened too) is under a page's work
        (0.003, 4),  # 1.5 ms over 0.5 ms of work per page of 100: 3 + 1
        (0.010, 11),
        (0.040, 16),  # capped at the maximum
        (1.000, 16),
    ],
)
def test_the_first_round_trip_sets_the_window(round_trip: float, expected: int) -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.first_page(round_trip, 100)
    assert policy.decide() == expected


def test_only_the_first_page_sets_the_start() -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.first_page(0.003, 100)
    policy.first_page(1.0, 100)  # a later, slower page changes nothing by itself
    assert policy.decide() == 4
    small = AdaptiveWindow(maximum=16)
    small.first_page(0.003, 10)  # ten times less work per page: ten times the pages
    assert small.decide() == 16


def test_waiting_for_every_page_grows_by_half_from_six_and_by_one_below() -> None:
    clock = Clock()
    policy = started(4)
    policy.waited(network=False, ready_ahead=0, at=clock.now)  # starts the clock
    assert clock.round(policy, waits=8, seconds_per_page=0.010) == 5
    assert clock.round(policy, waits=8, seconds_per_page=0.008) == 6
    assert clock.round(policy, waits=8, seconds_per_page=0.006) == 9
    assert clock.round(policy, waits=9, seconds_per_page=0.004) == 13


def test_waiting_for_some_pages_grows_by_one() -> None:
    clock = Clock()
    policy = started(8)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=3, seconds_per_page=0.010) == 9
    assert clock.round(policy, waits=1, seconds_per_page=0.008) == 10


def test_pages_waiting_all_round_shrink_it_and_one_waiting_is_as_it_should_be() -> None:
    clock = Clock()
    policy = started(8)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=0, ready=1) == 8
    assert clock.round(policy, waits=0, ready=3) == 7
    assert clock.round(policy, waits=0, ready=2) == 6
    assert clock.round(policy, waits=1, ready=2) == 7  # one wait, and it grows again


def test_growth_that_does_not_pay_is_undone_and_not_tried_again_for_a_while() -> None:
    clock = Clock()
    policy = started(4)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    # The pages come no faster at 5 than at 4: a saturated server sets the pace.
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 5
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 4
    held = [clock.round(policy, waits=8, seconds_per_page=0.002) for _ in range(8)]
    assert held == [4] * 8
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 5  # tried again


def test_growth_that_pays_is_kept() -> None:
    clock = Clock()
    policy = started(4)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=8, seconds_per_page=0.004) == 5
    assert clock.round(policy, waits=8, seconds_per_page=0.003) == 6  # 33 % more pages a second


def test_pushback_halves_each_time_and_grows_back_slowly() -> None:
    policy = started(16)
    policy.pushback()
    assert policy.decide() == 8
    policy.pushback()
    policy.pushback()
    assert policy.decide() == 2
    clock = Clock()
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    windows = [  # network-bound: every page waited for, pages faster the more in flight
        clock.round(policy, waits=16, seconds_per_page=0.02 / policy.window**2) for _ in range(60)
    ]
    assert windows == sorted(windows)
    assert windows[-1] == 16  # back, but not at once: one page more per four windows of pages
    assert windows[:3] == [2, 3, 4]  # rounds of eight pages: four windows of two


def test_never_outside_one_and_the_maximum() -> None:
    policy = started(4, maximum=4)
    clock = Clock()
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    for _ in range(20):
        clock.round(policy, waits=policy.window, seconds_per_page=0.01 / (1 + clock.now))
    assert policy.window == 4
    for _ in range(20):
        clock.round(policy, waits=0, ready=5)
    assert policy.window == 1
    for _ in range(10):
        policy.pushback()
    assert policy.decide() == 1
    assert policy.peak == 4
