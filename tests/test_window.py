"""The adaptive window, as a pure policy: observations in, window out."""

import pytest

from kernel_async._window import ITEM_COST, AdaptiveWindow


def test_the_first_page_goes_alone() -> None:
    policy = AdaptiveWindow(maximum=16)
    assert policy.decide(100) == 1


@pytest.mark.parametrize(
    ("round_trip", "expected"),
    [
        (0.0002, 2),  # a round trip shorter than a page's work: one ahead is enough
        (0.0015, 4),  # 1.5 ms over 0.5 ms of work per page of 100: 3 + 1
        (0.005, 11),
        (0.020, 16),  # capped at the maximum
        (0.100, 16),
    ],
)
def test_the_first_round_trip_sets_the_window(round_trip: float, expected: int) -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.round_trip(round_trip)
    assert pytest.approx(0.0005) == ITEM_COST * 100
    assert policy.decide(100) == expected


def test_the_shortest_round_trip_counts_not_queueing() -> None:
    policy = AdaptiveWindow(maximum=64)
    policy.page_cost(0.001)
    for seconds in (0.010, 0.004, 0.030, 0.050):
        policy.round_trip(seconds)
    assert policy.decide(100) == 5  # 4 ms / 1 ms + 1, not driven up by the slow ones


def test_a_slow_consumer_needs_fewer_pages_ahead() -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.round_trip(0.020)
    assert policy.decide(100) == 16
    for _ in range(20):
        policy.page_cost(0.010)  # 10 ms of work per page: 2 round trips' worth of pages
    assert policy.decide(100) == 3


def test_waiting_on_the_network_grows_and_pages_waiting_shrink() -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.round_trip(0.002)
    policy.page_cost(0.001)
    assert policy.decide(100) == 3
    policy.waited(network=True, ready_ahead=0)
    assert policy.decide(100) == 4
    policy.waited(network=True, ready_ahead=0)
    assert policy.decide(100) == 5
    policy.waited(network=False, ready_ahead=1)  # one ahead: as it should be
    assert policy.decide(100) == 5
    policy.waited(network=False, ready_ahead=3)
    assert policy.decide(100) == 4


def test_pushback_halves_and_the_window_grows_back_page_by_page() -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.round_trip(0.050)
    assert policy.decide(100) == 16
    policy.pushback()
    windows = [policy.decide(100) for _ in range(200)]
    assert windows[0] == 8
    assert windows == sorted(windows)  # never shrinks again by itself
    assert windows[-1] == 16
    # One page more per window of pages: 8 + 9 + ... + 15 pages to get back to 16.
    assert 80 <= windows.index(16) <= 100


def test_never_outside_one_and_the_maximum() -> None:
    policy = AdaptiveWindow(maximum=4)
    policy.round_trip(10.0)
    for _ in range(50):
        policy.waited(network=True, ready_ahead=0)
    assert policy.decide(100) == 4
    for _ in range(50):
        policy.page_cost(100.0)
        policy.waited(network=False, ready_ahead=5)
    assert policy.decide(100) == 1
    for _ in range(10):
        policy.pushback()
    assert policy.decide(100) == 1
    assert policy.peak == 4


def test_nonsense_observations_are_ignored() -> None:
    policy = AdaptiveWindow(maximum=8)
    policy.round_trip(0.0)
    policy.round_trip(-1.0)
    assert policy.decide(100) == 1  # still no round trip known
    policy.round_trip(0.001)
    policy.page_cost(-5.0)
    assert policy.decide(100) == 3  # the estimate from the page size still stands
