"""The watch's rules, as a pure state machine: plans out, answers in, events out (no loop)."""

from datetime import UTC, datetime, timedelta

import pytest

from kernel_async import Invocation
from kernel_async._timestamps import format_rfc3339_nano, rfc3339_to_epoch_ns
from kernel_async._watch_poll import MAX_INTERVAL, PollAnswers, next_wait, widened_since
from kernel_async._watch_state import FOLLOW_BY_WALK_FROM, WatchState

T0 = rfc3339_to_epoch_ns("2026-06-01T12:00:00Z")
SECOND = 10**9


def inv(name: str, status: str, at: float) -> Invocation:
    """An invocation started ``at`` seconds after T0."""
    ns = T0 + int(at * SECOND)
    raw = format_rfc3339_nano(ns)
    return Invocation(
        id=name,
        app_name="app",
        version="1",
        action_name="act",
        started_at=datetime.fromtimestamp(ns / 1e9, UTC),
        status=status,
        started_at_raw=raw,
    )


def poll(state: WatchState, window=(), in_flight=(), looked_up=None, complete=True):
    plan = state.plan(elapsed=1.0)
    answers = PollAnswers(
        window=list(window),
        window_complete=complete,
        in_flight=list(in_flight),
        looked_up=looked_up or {},
    )
    return plan, [
        (e.kind.value, e.invocation.id, e.previous_status, e.status)
        for e in state.observe(plan, answers)
    ]


def test_a_watch_that_starts_now_reports_nothing_on_its_first_poll_and_follows_what_is_in_flight():
    state = WatchState(lookback=timedelta(seconds=30))
    plan = state.plan(elapsed=0.0)
    assert plan.since == "30s"  # a duration the server subtracts from its own now
    assert plan.window is None
    assert plan.in_flight == ("queued", "running")  # whatever is in flight, of any age
    old = inv("old", "running", -3600)
    new = inv("new", "succeeded", 0)
    _, events = poll(state, window=[new], in_flight=[old])
    assert events == []
    assert {i.id for i in state.in_flight} == {"old"}
    # The next poll starts 30 s before the newest invocation seen: server instants only.
    plan, events = poll(state, window=[new], looked_up={"old": inv("old", "failed", -3600)})
    assert plan.since == format_rfc3339_nano(T0 - 30 * SECOND)
    assert plan.follow == ("old",)  # older than the window, in flight: looked up by id
    assert events == [("changed", "old", "running", "failed")]


def test_the_baseline_walks_what_is_in_flight_until_a_poll_is_complete():
    # An invocation in flight that an incomplete poll may have missed would otherwise never
    # be followed: the watch keeps learning what is in flight, of any age, silently, until
    # one poll's walks all vouch for what they did not deliver.
    state = WatchState(lookback=timedelta(seconds=30))
    plan, events = poll(state, window=[inv("new", "running", 0)], complete=False)
    assert plan.in_flight == ("queued", "running")
    assert plan.in_flight_since is None
    assert events == []
    assert state.possible_gaps == 0
    late = inv("late", "running", -3600)  # older than any window, found by the second poll
    plan, events = poll(state, window=[inv("new", "running", 0)], in_flight=[late])
    assert plan.in_flight == ("queued", "running")
    assert plan.in_flight_since is None
    assert events == []  # in flight when the watch started: followed silently
    assert {i.id for i in state.in_flight} == {"new", "late"}
    plan, events = poll(state, window=[inv("new", "running", 0)], looked_up={"late": None})
    assert plan.follow == ("late",)  # the baseline is over: what is followed is looked up
    assert plan.in_flight == ()
    assert events == [("gone", "late", None, "running")]


def test_the_baseline_moves_on_after_two_incomplete_polls_in_a_row_and_says_so():
    # A server of one invocation per page never completes a walk of two: a baseline that
    # waited for a complete poll would never end, and the watch never report a start.
    state = WatchState(lookback=timedelta(seconds=30))
    late = inv("late", "running", -3600)
    for _ in range(2):
        plan, events = poll(
            state, window=[inv("a", "running", 0)], in_flight=[late], complete=False
        )
        assert plan.in_flight == ("queued", "running")
        assert events == []
    assert state.possible_gaps == 1  # once, though both the window and the baseline moved on
    plan, events = poll(state, window=[inv("a", "running", 0), inv("b", "queued", 1)])
    assert plan.in_flight == ()  # the baseline is over: "late" is followed by lookup
    assert plan.follow == ("late",)
    assert events == [("seen", "b", None, "queued")]


def test_nothing_listed_before_the_first_complete_poll_is_reported_as_new():
    # The first poll's walk may have missed what was listed all along (it counted a possible
    # gap): finding it later is not a start, so failures() never yields an old failure.
    state = WatchState()
    old_failure, finished = inv("old", "failed", 0), inv("done", "succeeded", 1)
    _, events = poll(state, window=[finished], complete=False)
    assert events == []
    _, events = poll(state, window=[finished, old_failure])  # complete: the baseline
    assert events == []
    _, events = poll(state, window=[finished, old_failure, inv("new", "queued", 2)])
    assert events == [("seen", "new", None, "queued")]  # from then on, each start is an event


def test_a_window_walked_incompletely_twice_in_a_row_moves_on_and_says_so():
    state = WatchState(lookback=timedelta(seconds=0))
    poll(state, window=[inv("a", "running", 0)])
    plan, _ = poll(state, window=[inv("b", "running", 10)], complete=False)
    assert plan.window == T0
    assert state.possible_gaps == 0
    plan, _ = poll(state, window=[inv("b", "running", 10)], complete=False)
    assert plan.window == T0  # walked again: the first incomplete walk was held back
    assert state.possible_gaps == 1
    assert state.incomplete_polls == 2
    assert state.plan(elapsed=1.0).window == T0 + 10 * SECOND


def test_since_reports_everything_in_it_as_seen_on_the_first_poll():
    state = WatchState(since=T0 - 10 * SECOND)
    plan = state.plan(elapsed=0.0)
    assert plan.since == format_rfc3339_nano(T0 - 10 * SECOND)
    assert plan.in_flight == ()
    _, events = poll(state, window=[inv("b", "failed", 0), inv("a", "queued", -5)])
    assert events == [("seen", "a", None, "queued"), ("seen", "b", None, "failed")]  # oldest first


def test_a_relative_since_is_a_duration_until_something_is_seen():
    state = WatchState(since=timedelta(minutes=5), lookback=timedelta(seconds=30))
    assert state.plan(elapsed=2.0).since == "5m32s"


def test_each_transition_once_and_two_moves_between_polls_are_one_event():
    state = WatchState(since=T0)
    assert poll(state, window=[inv("a", "queued", 1)])[1] == [("seen", "a", None, "queued")]
    assert poll(state, window=[inv("a", "queued", 1)])[1] == []  # no change, no event
    # queued -> running -> failed between two polls: one event, from what was last seen.
    assert poll(state, window=[inv("a", "failed", 1)])[1] == [("changed", "a", "queued", "failed")]
    assert poll(state, window=[inv("a", "failed", 1)])[1] == []


def test_missing_from_a_complete_window_is_gone_and_forgotten():
    state = WatchState(since=T0)
    poll(state, window=[inv("a", "running", 1), inv("b", "running", 2)])
    # An incomplete walk (one that counted a possible gap) cannot vouch: nothing is gone.
    assert poll(state, window=[inv("b", "running", 2)], complete=False)[1] == []
    assert poll(state, window=[inv("b", "running", 2)])[1] == [("gone", "a", None, "running")]
    assert state.latest("a") is None
    assert poll(state, window=[inv("b", "running", 2)])[1] == []  # reported once


def test_a_lookup_that_cannot_tell_leaves_the_invocation_followed():
    state = WatchState(lookback=timedelta(0))
    poll(state, in_flight=[inv("old", "running", -100)])
    poll(state, window=[inv("new", "queued", 0)], looked_up={})  # left out: could not tell
    assert [i.id for i in state.in_flight] == ["old", "new"]
    _, events = poll(state, window=[inv("new", "queued", 0)], looked_up={"old": None})
    assert events == [("gone", "old", None, "running")]


def answer(plan, data):
    """What an honest server answers to a plan, from ``data`` (id -> invocation)."""
    window = [
        i for i in data.values() if plan.window is not None and i.started_at_ns >= plan.window
    ]
    looked_up = {name: data.get(name) for name in plan.follow}
    return PollAnswers(window=window, looked_up=looked_up)


def test_memory_is_the_window_plus_what_is_in_flight():
    state = WatchState(since=T0, lookback=timedelta(seconds=10))
    data = {"stuck": inv("stuck", "running", 0)}  # it never finishes
    for second in range(1, 500):
        # One new invocation a second; each finishes two seconds after it starts.
        data[f"i{second}"] = inv(f"i{second}", "running", second)
        if second > 2:
            data[f"i{second - 2}"] = inv(f"i{second - 2}", "succeeded", second - 2)
        plan = state.plan(elapsed=float(second))
        state.observe(plan, answer(plan, data))
        # The window reaches 10 s before the newest seen by the poll before (both ends
        # included: 12 invocations), plus the stuck one: memory stays flat.
        assert state.remembered <= 12 + 1
    assert state.plan(elapsed=0).follow == ("stuck",)
    assert len(data) == 500


def test_finished_invocations_older_than_the_window_are_forgotten_not_gone():
    state = WatchState(since=T0, lookback=timedelta(seconds=5))
    poll(state, window=[inv("a", "succeeded", 0)])
    _, events = poll(state, window=[inv("a", "succeeded", 0), inv("b", "queued", 60)])
    assert events == [("seen", "b", None, "queued")]
    assert state.plan(elapsed=1.0).window == T0 + 55 * SECOND
    assert poll(state, window=[inv("b", "queued", 60)])[1] == []
    assert state.latest("a") is None  # no longer in the window: forgotten, no event
    assert state.remembered == 1


def test_in_flight_beyond_the_window_is_looked_up_then_walked_by_status():
    state = WatchState(since=T0, lookback=timedelta(seconds=10))
    old = [inv(f"o{n}", "running", n) for n in range(FOLLOW_BY_WALK_FROM)]
    poll(state, window=old)
    plan = state.plan(elapsed=1.0)
    assert plan.follow == ()  # all in the window yet
    poll(state, window=[*old, inv("new", "queued", 100)])
    plan = state.plan(elapsed=1.0)
    assert set(plan.follow) == {"o0", "o1", "o2"}
    assert plan.in_flight == ("queued", "running")  # three or more: two walks, not three lookups
    assert plan.in_flight_since == format_rfc3339_nano(T0)  # since the oldest of them
    # What the walks found needs no lookup; one they missed is looked up by the I/O layer.
    _, events = poll(
        state,
        window=[inv("new", "queued", 100)],
        in_flight=[inv("o0", "running", 0), inv("o1", "running", 1), inv("x", "running", 50)],
        looked_up={"o2": inv("o2", "failed", 2)},
    )
    assert events == [("changed", "o2", "running", "failed")]  # "x" is not followed: ignored
    assert state.plan(elapsed=1.0).follow == ("o0", "o1")  # fewer than three: looked up


def test_the_status_filter_is_applied_here_so_moves_out_of_it_are_seen():
    state = WatchState(since=T0, statuses=["failed"])
    assert poll(state, window=[inv("a", "queued", 0), inv("b", "failed", 1)])[1] == [
        ("seen", "b", None, "failed")
    ]
    # a: queued -> failed is reported; c: seen as running is not.
    _, events = poll(
        state, window=[inv("a", "failed", 0), inv("b", "failed", 1), inv("c", "running", 2)]
    )
    assert events == [("changed", "a", "queued", "failed")]


def test_moves_out_of_the_filtered_status_are_reported():
    state = WatchState(since=T0, statuses=["running"])
    poll(state, window=[inv("a", "running", 0)])
    assert poll(state, window=[inv("a", "succeeded", 0)])[1] == [
        ("changed", "a", "running", "succeeded")
    ]


def test_final_statuses_are_configurable_and_an_unknown_status_is_followed():
    state = WatchState(since=T0, final={"succeeded", "failed", "cancelled"}, lookback=timedelta(0))
    poll(state, window=[inv("a", "paused", 0), inv("b", "cancelled", 1)])
    poll(state, window=[inv("c", "queued", 10)])
    plan = state.plan(elapsed=1.0)
    assert plan.follow == ("a",)  # "paused" is not final: followed; "cancelled" is final


def test_planning_changes_nothing():
    state = WatchState(since=T0)
    poll(state, window=[inv("a", "queued", 0)])
    before = (state.polls, state.remembered, state.plan(elapsed=1.0))
    for _ in range(3):
        state.plan(elapsed=5.0)  # planned, never answered (cancelled, failed)
    assert (state.polls, state.remembered, state.plan(elapsed=1.0)) == before


def test_given_invocations_are_followed_until_final_or_gone():
    known = inv("a", "queued", 0)
    state = WatchState(invocations=[known, "b", "c", known])
    assert state.pending == ("a", "b", "c")
    plan = state.plan(elapsed=0.0)
    assert plan.since is None  # no window: only what is given
    assert plan.follow == ("a", "b", "c")
    assert plan.in_flight == ()  # b and c have no known start: each is looked up
    # b is not found (yet): still waited for; c goes from running to gone.
    _, events = poll(
        state, looked_up={"a": inv("a", "running", 0), "b": None, "c": inv("c", "running", 5)}
    )
    assert events == [("changed", "a", "queued", "running"), ("seen", "c", None, "running")]
    _, events = poll(state, looked_up={"a": inv("a", "succeeded", 0), "b": None, "c": None})
    assert events == [("changed", "a", "running", "succeeded"), ("gone", "c", None, "running")]
    assert state.pending == ("b",)
    assert not state.finished
    _, events = poll(state, looked_up={"b": inv("b", "failed", 1)})
    assert events == [("seen", "b", None, "failed")]
    assert state.finished
    assert state.latest("a").status == "succeeded"
    assert state.latest("c") is None


def test_given_ids_with_a_since_are_walked_by_status():
    state = WatchState(invocations=["a", "b", "c"], invocations_since=T0)
    plan = state.plan(elapsed=0.0)
    assert plan.in_flight == ("queued", "running")
    assert plan.in_flight_since == format_rfc3339_nano(T0)


def test_given_invocations_already_final_need_no_poll():
    state = WatchState(invocations=[inv("a", "failed", 0)])
    assert state.finished


@pytest.mark.parametrize("lookback", [timedelta(0), timedelta(seconds=1), timedelta(hours=2)])
def test_the_window_never_moves_back(lookback):
    state = WatchState(since=T0 - 100 * SECOND, lookback=lookback)
    windows = []
    for second in (5, 3, 9, 9, 1):
        poll(state, window=[inv(f"i{second}", "running", second)])
        windows.append(state.plan(elapsed=0.0).window)
    assert windows == sorted(windows)
    assert all(w >= T0 - 100 * SECOND for w in windows)


# -- the wait between polls -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wait", "interval", "pushed_back", "asked", "expected"),
    [
        (0.0, 2.0, False, None, 2.0),  # no pushback: the interval
        (60.0, 2.0, False, None, 2.0),  # and back to it after a poll without
        (0.0, 0.0, True, None, 1.0),  # pushback: at least a second
        (2.0, 2.0, True, None, 4.0),  # doubled
        (40.0, 2.0, True, None, MAX_INTERVAL),  # up to the cap
        (2.0, 2.0, True, 30.0, 30.0),  # at least what Retry-After asked
        (2.0, 2.0, True, 3600.0, MAX_INTERVAL),  # a hint past the cap is capped
        (120.0, 120.0, True, None, 120.0),  # never shorter than the interval asked for
        (0.0, 300.0, True, 30.0, 300.0),
    ],
)
def test_pushback_only_ever_lengthens_the_wait(
    wait: float, interval: float, pushed_back: bool, asked: float | None, expected: float
) -> None:
    assert next_wait(wait, interval, pushed_back=pushed_back, asked=asked) == expected


def test_a_duration_window_is_widened_back_to_where_the_next_one_starts():
    # The first window is a duration of the server's clock; the next starts 30 s before
    # the newest invocation it found. The poll walks from there too, unless the window
    # found one that started that early (then it reached there), and what only that walk
    # found before the window's oldest was listed already: learnt, not seen.
    state = WatchState(since=timedelta(minutes=1), lookback=timedelta(seconds=30))
    plan = state.plan(elapsed=0.0)
    assert plan.widen_back == 30 * SECOND
    assert widened_since(plan, []) is None
    assert widened_since(plan, [inv("a", "queued", 0)]) == format_rfc3339_nano(T0 - 30 * SECOND)
    assert widened_since(plan, [inv("a", "queued", 0), inv("b", "queued", -30)]) is None
    answers = PollAnswers(
        window=[inv("a", "queued", 0)],
        widened=[inv("a", "running", 0), inv("old", "failed", -20), inv("late", "queued", 1)],
    )
    events = [(e.kind.value, e.invocation.id, e.status) for e in state.observe(plan, answers)]
    assert events == [("seen", "a", "running"), ("seen", "late", "queued")]
    assert state.latest("old") is not None  # known, silently
    assert state.plan(elapsed=1.0).widen_back is None  # an instant window from now on
