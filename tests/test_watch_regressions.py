"""Review of the watch and of walks on live data: each test a finding, failing before its fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kernel_async import EventKind
from kernel_async._params import InvocationFilters
from kernel_async._timestamps import is_go_duration, parse_go_duration
from kernel_async.testing import KernelEmulator, LiveData, make_invocation

from conftest import NOW

SECOND = timedelta(seconds=1)


# -- since="-0s": Go's ParseDuration reads it as 0, which is now, not the future ---------------


@pytest.mark.parametrize("since", ["-0s", "-0", "-0.0s", "-0h0m0s", "-0.0000000001s"])
async def test_a_minus_zero_duration_is_zero_not_the_future(since: str) -> None:
    # f"{-0.0}s" is "-0.0s": a computed duration can carry the sign of a negative zero.
    assert is_go_duration(since)
    assert parse_go_duration(since) == timedelta(0)
    assert InvocationFilters.create(since=since).since == since  # sent as given, as Go reads
    async with (
        KernelEmulator(count=3, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
    ):
        async with client.invocations.watch(since=since, interval=0) as watch:
            assert await watch.poll() == []  # nothing started in the last 0s (and 30 s)
        assert (await client.invocations.list_page(since=since)).items == ()


@pytest.mark.parametrize("since", ["-1ns", "-0.000000001s", "-0s1ns"])
def test_a_duration_below_zero_is_still_refused(since: str) -> None:
    assert not is_go_duration(since)
    with pytest.raises(ValueError, match="negative duration"):
        InvocationFilters.create(since=since)


# -- since=None against a server that serves one invocation per page -------------------------


async def test_a_watch_from_now_reports_starts_on_a_server_of_one_invocation_per_page() -> None:
    # No walk of more than one page is complete there, so the baseline of a watch that
    # starts now was never complete either: it never reported a start (it did report moves
    # of what it had learnt silently). After two incomplete polls in a row it moves on, as
    # the window does, and counts a possible gap.
    data = [
        make_invocation(id=f"old_{n}", status="running", started_at=NOW - n * timedelta(hours=1))
        for n in range(1, 6)
    ]
    async with (
        KernelEmulator(data, now=NOW, limit_cap=1) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.watch(interval=0) as watch,
    ):
        quiet = [event for _ in range(3) for event in await watch.poll()]
        emulator.add_invocation(make_invocation(id="new", status="queued", started_at=NOW))
        emulator.set_status("old_3", "failed", status_reason="boom")
        events = [event for _ in range(4) for event in await watch.poll()]
    assert quiet == []
    assert sorted((e.kind, e.invocation.id, e.status) for e in events) == [
        (EventKind.CHANGED, "old_3", "failed"),
        (EventKind.SEEN, "new", "queued"),
    ]
    assert watch.possible_gaps >= 1  # what it may have missed is said, not hidden


# -- the first window is a duration; the next, an instant, reached further back ---------------


@pytest.mark.parametrize("lookback", [30, 5])
async def test_a_watch_from_now_never_reports_what_was_listed_before_it_started(
    lookback: int,
) -> None:
    # The first poll walks the last `lookback` seconds of the server's clock; the second
    # walks from `lookback` before the newest invocation the first one found, which reaches
    # further back whenever that one is older than the watch: an invocation finished and
    # listed all along there was reported as new, and failures() yielded an old failure.
    data = [
        make_invocation(id="recent", status="succeeded", started_at=NOW - (lookback - 1) * SECOND),
        make_invocation(id="old", status="failed", started_at=NOW - (lookback + 5) * SECOND),
    ]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.watch(interval=0, lookback=lookback) as watch,
    ):
        quiet = [event for _ in range(3) for event in await watch.poll()]
        emulator.add_invocation(make_invocation(id="new", status="failed", started_at=NOW))
        events = await watch.poll()
    assert quiet == []
    assert [(e.kind, e.invocation.id) for e in events] == [(EventKind.SEEN, "new")]


async def test_a_duration_since_never_reports_what_started_before_it() -> None:
    # The same with since=timedelta: the first poll reports what started in the last
    # since + lookback; the second reached back to lookback before the newest it found.
    data = [
        make_invocation(id="in", status="succeeded", started_at=NOW - 50 * SECOND),
        make_invocation(id="before", status="failed", started_at=NOW - 75 * SECOND),
    ]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.watch(interval=0, since="30s", lookback=30) as watch,
    ):
        events = [event for _ in range(3) for event in await watch.poll()]
    assert [(e.kind, e.invocation.id) for e in events] == [(EventKind.SEEN, "in")]


# -- a final status does not change: an answer that says otherwise is stale ---------------------


async def test_a_stale_answer_never_moves_a_final_invocation_back() -> None:
    # A replica that lags behind answers a poll with an invocation as it was before it
    # failed: the watch reported failed -> running, then running -> failed again, and
    # failures() yielded the same failure twice. A final status is one after which an
    # invocation no longer changes (final_statuses=), so such an answer is stale.
    data = [make_invocation(id="inv_a", status="failed", started_at=NOW - SECOND)]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.failures(interval=0, since=NOW - timedelta(hours=1)) as failures,
    ):
        watch = failures.watch
        seen = await watch.poll()
        emulator.set_status("inv_a", "running")  # the stale answer
        stale = await watch.poll()
        emulator.set_status("inv_a", "failed", status_reason="boom")
        again = await watch.poll()
    assert [(e.kind, e.status) for e in seen] == [(EventKind.SEEN, "failed")]
    assert (stale, again) == ([], [])


async def test_a_move_on_from_a_status_the_caller_calls_final_is_still_reported() -> None:
    # final_statuses= is the caller's ("running": done with it once it runs). Staleness is
    # the API's order (queued, running, then the rest): running -> succeeded is a real move
    # that the window still lists, and was dropped as stale; running -> queued is stale.
    data = [make_invocation(id="inv_a", status="running", started_at=NOW - SECOND)]
    async with (
        KernelEmulator(data, now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.watch(
            interval=0, since=NOW - timedelta(hours=1), final_statuses=["running"]
        ) as watch,
    ):
        seen = await watch.poll()
        emulator.set_status("inv_a", "queued")  # a lagging replica
        stale = await watch.poll()
        emulator.set_status("inv_a", "succeeded")
        moved = await watch.poll()
    assert [(e.kind, e.status) for e in seen] == [(EventKind.SEEN, "running")]
    assert stale == []
    assert [(e.kind, e.status) for e in moved] == [(EventKind.CHANGED, "succeeded")]


async def test_the_widened_walk_never_hides_a_start_listed_during_the_poll() -> None:
    # The first window that finds something is widened: what only that walk finds, older
    # than the oldest the window found, is learnt silently. "late" started after the watch
    # (inside the window) and was listed between the two walks: it was taken for one listed
    # before the watch started, and never reported; without the widening, the next window
    # (an instant, lookback before "first") reported it.
    async with (
        KernelEmulator([], now=NOW) as emulator,
        emulator.client(in_memory=True) as client,
        client.invocations.watch(interval=0, lookback=30) as watch,
    ):
        quiet = [event for _ in range(2) for event in await watch.poll()]
        emulator.add_invocation(
            make_invocation(id="first", status="running", started_at=NOW + 20 * SECOND)
        )
        late = make_invocation(id="late", status="running", started_at=NOW + 5 * SECOND)
        # After the window's walk, before the widened one.
        emulator.live = LiveData(script={emulator.served + 1: lambda e: e.add_invocation(late)})
        events = [event for _ in range(2) for event in await watch.poll()]
    assert quiet == []
    assert sorted((e.kind, e.invocation.id) for e in events) == [
        (EventKind.SEEN, "first"),
        (EventKind.SEEN, "late"),
    ]
