"""The adaptive window, as a pure policy: observations in, window out."""

import math

import pytest

from kernel_async._window import DEFAULT_MAX_PREFETCH, ITEM_COST, START_AT_MOST, AdaptiveWindow


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


def needed(policy: AdaptiveWindow, pages: int) -> int:
    """The walk needs ``pages`` pages in turn, each found ready alone (no round changes it)."""
    for page in range(pages):
        policy.waited(network=False, ready_ahead=0, at=page * 0.001)
    return policy.decide()


@pytest.mark.parametrize(
    ("first", "following", "expected"),
    [
        (0.003, 0.003, 7),  # the same round trip, no longer halved: 6 pages + 1
        (0.003, 0.0015, 4),  # half of it: the first opened a connection that cost as much
        (0.010, 0.001, 3),  # the set-up was most of it: the window comes down
        (0.003, 1.0, 7),  # a page answered after a retry's wait: never above the first in full
        (0.003, float("nan"), 1),  # no clock gives that: as no time at all
        (0.003, float("inf"), 1),  # nor that
        (0.040, 0.040, 16),  # START_AT_MOST still bounds it
    ],
)
def test_past_the_first_wave_the_next_page_sets_the_window_from_its_whole_round_trip(
    first: float, following: float, expected: int
) -> None:
    policy = AdaptiveWindow(maximum=32)
    policy.first_page(first, 100)
    wave = policy.decide()
    assert policy.learning
    policy.next_page(following, 100)
    assert not policy.learning
    assert needed(policy, 1 + wave) == wave  # the first page and its wave: not yet
    assert needed(policy, 1) == expected  # a page past them: the list is longer


def test_a_walk_that_ends_within_the_first_wave_keeps_its_first_window() -> None:
    # Three pages at 5 ms: the next page asks for twice the window, but the walk ends before
    # it would send more requests past its end.
    policy = AdaptiveWindow(maximum=32)
    policy.first_page(0.005, 100)
    policy.next_page(0.005, 100)
    assert needed(policy, 3) == 6
    assert policy.peak == 6


def test_the_correction_is_taken_once_and_rounds_steer_from_there() -> None:
    policy = AdaptiveWindow(maximum=32)
    policy.first_page(0.003, 100)
    policy.next_page(0.003, 100)
    assert needed(policy, 6) == 7
    clock = Clock()
    clock.now = 1.0
    grown = clock.round(policy, waits=8)  # the round ends with waits: it grows
    assert grown > 7
    assert needed(policy, 1) == grown  # the correction is not taken again


def test_a_round_trip_of_exactly_the_start_at_most_starts_there() -> None:
    policy = AdaptiveWindow(maximum=32)
    policy.first_page(START_AT_MOST * 2 * ITEM_COST * 100, 100)  # 16 pages, not 16 + 1
    assert policy.decide() == START_AT_MOST


def test_a_short_next_page_asks_for_no_more_than_the_first_page_in_full() -> None:
    # A last page of one invocation is little work: taken alone, its round trip would cover
    # twenty of them. The first page's whole round trip asked for 7.
    policy = AdaptiveWindow(maximum=32)
    policy.first_page(0.003, 100)
    policy.next_page(0.0001, 1)
    assert needed(policy, 6) == 7
    assert not policy.learning


def test_the_next_page_does_not_undo_a_pushback() -> None:
    policy = AdaptiveWindow(maximum=32)
    policy.first_page(0.010, 100)  # 11 pages
    policy.pushback()  # halved: 5, growing back a page per four windows
    policy.next_page(0.010, 100)  # 16 in full
    assert needed(policy, 13) <= 6


def test_only_the_first_next_page_with_items_counts() -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.next_page(0.003, 100)  # before any first page: nothing to correct yet
    assert policy.decide() == 1
    assert policy.learning
    policy.first_page(0.003, 100)
    policy.next_page(0.003, 0)  # an empty page teaches nothing
    assert policy.decide() == 4
    assert policy.learning
    policy.next_page(0.003, 100)
    policy.next_page(0.0001, 100)  # later pages change nothing by themselves
    assert needed(policy, 6) == 7


def test_waiting_for_every_page_grows_by_half_from_six_and_by_one_below() -> None:
    clock = Clock()
    policy = started(4)
    policy.waited(network=False, ready_ahead=0, at=clock.now)  # starts the clock
    assert clock.round(policy, waits=8, seconds_per_page=0.010) == 5
    assert clock.round(policy, waits=8, seconds_per_page=0.008) == 6
    assert clock.round(policy, waits=8, seconds_per_page=0.006) == 9
    assert clock.round(policy, waits=9, seconds_per_page=0.004) == 13


def test_waiting_for_some_pages_grows_by_a_quarter_and_by_one_at_least() -> None:
    clock = Clock()
    policy = started(8)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=3, seconds_per_page=0.010) == 10
    assert clock.round(policy, waits=1, seconds_per_page=0.008) == 12
    small = started(3)
    small.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(small, waits=3, seconds_per_page=0.010) == 4


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
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 5  # one more round at 5
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 4  # no faster again: undone
    held = [clock.round(policy, waits=8, seconds_per_page=0.002) for _ in range(8)]
    assert held == [4] * 8
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 5  # tried again
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 5  # with a second look
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 4


def test_a_larger_window_is_judged_again_on_its_second_round() -> None:
    # Its first round still brings pages requested a round trip ago, at the smaller window.
    clock = Clock()
    policy = started(12)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=6, seconds_per_page=0.001) == 15
    assert clock.round(policy, waits=6, seconds_per_page=0.001) == 15  # no faster yet
    assert clock.round(policy, waits=6, seconds_per_page=0.0008) == 16  # 25 % faster: kept


def test_each_larger_window_gets_its_second_look() -> None:
    clock = Clock()
    policy = started(8, maximum=32)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=3, seconds_per_page=0.010) == 10
    assert clock.round(policy, waits=3, seconds_per_page=0.010) == 10  # second look at 10
    assert clock.round(policy, waits=3, seconds_per_page=0.008) == 12  # it paid
    assert clock.round(policy, waits=3, seconds_per_page=0.008) == 12  # second look at 12


@pytest.mark.parametrize(
    ("faster", "then", "window"),
    [
        (1.15, 600, 5),  # 15 % faster at the same window: the new best, 600 a second is not
        (1.08, 600, 6),  # 8 %: noise, the best stays 500 a second, and 600 pays at 5
    ],
)
def test_a_round_at_the_same_window_sets_a_new_best_from_ten_percent_faster(
    faster: float, then: float, window: int
) -> None:
    clock = Clock()
    policy = started(4)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 5  # 500 pages a second
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 5
    assert clock.round(policy, waits=8, seconds_per_page=0.002) == 4  # undone: held at 4
    held = [clock.round(policy, waits=8, seconds_per_page=0.002 / faster) for _ in range(8)]
    assert held == [4] * 8
    assert clock.round(policy, waits=8, seconds_per_page=0.002 / faster) == 5
    # At 5, pages must come half of 25 % faster than the best: 562.5 or 647 a second.
    assert clock.round(policy, waits=8, seconds_per_page=1 / then) == window


def test_a_pushback_ends_a_second_look() -> None:
    # The second look belonged to a window the pushback took away: the next time the window
    # grows past its best, its first round that does not pay gets one too.
    clock = Clock()
    policy = started(4, maximum=64)
    policy.waited(network=True, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=8, seconds_per_page=0.01) == 5
    assert clock.round(policy, waits=8, seconds_per_page=0.01) == 5  # second look at 5
    policy.pushback()
    assert policy.decide() == 2
    trace = [clock.round(policy, waits=8, seconds_per_page=0.01) for _ in range(60)]
    fifth = trace.index(5)  # grown back past the best (4), at the same pace: it does not pay
    assert trace[fifth + 1] == 5  # a second look, not undone at once


@pytest.mark.parametrize("round_trip", [math.nan, math.inf, -math.inf, 1e308])
def test_a_first_round_trip_no_clock_gives_teaches_nothing_and_raises_nothing(
    round_trip: float,
) -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.first_page(round_trip, 100)
    assert policy.started
    assert 1 <= policy.decide() <= 16


def test_it_says_whether_it_has_started_and_what_it_is() -> None:
    policy = AdaptiveWindow(maximum=16)
    assert not policy.started
    policy.first_page(0.001, 0)  # an empty first page teaches nothing
    assert not policy.started
    policy.first_page(0.001, 100)
    assert policy.started
    assert repr(policy) == f"AdaptiveWindow(maximum=16, window={policy.window}, peak={policy.peak})"


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


def test_a_first_page_of_one_invocation_is_enough_to_learn_from() -> None:
    policy = AdaptiveWindow(maximum=16)
    policy.first_page(0.0001, 1)  # 50 us over 5 us of work: eleven pages cover it
    assert policy.decide() == 11


def test_the_first_page_starts_at_sixteen_and_waiting_grows_to_the_maximum() -> None:
    # list(max_prefetch=None) documents 32. A long first round trip asks for more and gets
    # 16: a walk of two pages must not send 31 requests past its end. Rounds of nothing but
    # waiting then take it to the maximum.
    policy = AdaptiveWindow(maximum=DEFAULT_MAX_PREFETCH)
    policy.first_page(0.100, 100)
    assert policy.decide() == START_AT_MOST == 16
    clock = 0.0
    policy.waited(network=False, ready_ahead=0, at=clock)
    windows = []
    for _ in range(3):
        for _ in range(policy.window):
            clock += 0.1 / policy.window  # a round trip per round: pages faster as it grows
            policy.waited(network=True, ready_ahead=0, at=clock)
        windows.append(policy.decide())
    assert windows == [24, 32, 32]


def test_a_first_round_sets_the_pace_however_slow_the_server() -> None:
    # A second per page: the first round is the baseline it is measured against, so growth
    # that does not pay is judged from there, not against some pace assumed in advance.
    clock = Clock()
    policy = started(4)
    policy.waited(network=False, ready_ahead=0, at=clock.now)
    assert clock.round(policy, waits=8, seconds_per_page=1.0) == 5


def rounds_at(policy: AdaptiveWindow, start: float, seconds: float, waits: bool = True) -> float:
    """One round of the policy's window (eight pages at least) in ``seconds``; its end."""
    pages = max(policy.window, 8)
    for page in range(1, pages):
        policy.waited(network=waits, ready_ahead=0, at=start + seconds * page / pages)
    policy.waited(network=waits, ready_ahead=0, at=start + seconds)
    return start + seconds


def exactly(pages: int, rate: float, start: float) -> float:
    """The end of a round of ``pages`` from ``start`` whose rate is ``rate``, in floats."""
    end = start + pages / rate
    while pages / (end - start) < rate:
        end = math.nextafter(end, 0.0)
    while pages / (end - start) > rate:
        end = math.nextafter(end, math.inf)
    return end


@pytest.mark.parametrize(("factor", "kept"), [(1.125, True), (1.12, False)])
def test_a_larger_window_pays_from_half_of_what_it_grew_by(factor: float, kept: bool) -> None:
    policy = started(4)
    policy.waited(network=False, ready_ahead=0, at=0.0)
    end = rounds_at(policy, 0.0, 8.0)  # eight pages in 8 s, every one waited for: grow to 5
    assert policy.decide() == 5
    # 4 to 5 pages in flight: pages can come 25 % faster at most; half of that counts.
    pages = max(policy.window, 8)
    finish = exactly(pages, factor, end) if kept else end + pages / factor
    for page in range(1, pages):
        policy.waited(network=True, ready_ahead=0, at=end + page * 0.1)
    policy.waited(network=True, ready_ahead=0, at=finish)
    assert policy.decide() == (6 if kept else 5)  # not paying: one more round at 5


def test_growth_near_sixteen_pays_from_half_of_what_it_grew_by() -> None:
    # 11 to 13 pages in flight brings pages 18 % faster at most: a fixed bar of 10 % would
    # undo growth by one page from ten on every time (11 to 12: 9 % at most), and hold the
    # window near ten where a round trip asks for sixteen.
    policy = started(11)
    policy.waited(network=False, ready_ahead=0, at=0.0)
    clock = 0.0
    for page in range(1, 12):  # 1,000 pages a second at 11, some waited for: grow by two
        clock += 1 / 1000
        policy.waited(network=page <= 5, ready_ahead=0, at=clock)
    assert policy.decide() == 13
    start = clock  # 13 pages at 1,095 a second: 9.5 % faster, over half of the 18 %
    for page in range(1, 14):
        policy.waited(network=page <= 5, ready_ahead=0, at=start + page / 1095)
    assert policy.decide() == 16


def test_a_window_of_two_or_three_halves_to_one() -> None:
    for window in (2, 3):
        policy = started(window)
        policy.pushback()
        assert policy.window == 1  # at once, not at the next decision


def test_after_pushback_to_one_page_it_grows_back_to_two_within_six_pages() -> None:
    # One page more per four windows of pages: at a window of one, that is about six pages
    # from one to two (the ceiling rises by a quarter page, then a little less each page).
    clock = Clock()
    policy = started(2)
    policy.waited(network=False, ready_ahead=0, at=clock.now)  # starts the clock
    for _ in range(2):
        clock.now += 0.01
        policy.waited(network=True, ready_ahead=0, at=clock.now)
    policy.pushback()
    assert policy.decide() == 1
    for _ in range(6):  # the round's last six pages, every one waited for
        clock.now += 0.01
        policy.waited(network=True, ready_ahead=0, at=clock.now)
    assert policy.decide() == 2
