"""`kernel-async invocations watch` as a person meets it: on a terminal 80 and 120 columns
wide (rows and a status line sharing it), in a pipe (JSON lines), and interrupted."""

import json
import re

import pytest
from test_cli import cli

from kernel_async.testing import KernelEmulator

from terminal import run_in_terminal

EVENT_ROW = re.compile(r"^(seen|changed|gone) +(\S+ +)?[0-9a-z]{24}\b")
STATUS_TEXT = re.compile(r"watching: \d+ polls?, \d+ events?, \d+ in flight")


@pytest.mark.parametrize("columns", [80, 120])
def test_the_emulator_moves_and_each_event_is_one_row(columns: int) -> None:
    session = run_in_terminal(
        "invocations",
        "watch",
        "--emulator",
        "--interval",
        "0.2",
        "--max-events",
        "12",
        columns=columns,
    )
    assert session.status == 0, session.text
    header, *rows = session.lines
    assert header.split()[:3] == ["EVENT", "FROM", "ID"]
    assert len(rows) == 12, session.text  # one line per event: nothing wrapped or glued
    for row in rows:
        assert EVENT_ROW.match(row), row
        assert not STATUS_TEXT.search(row), row  # the status line was erased before the row
        assert len(row) <= columns
    # The status line said how the watch was doing, between polls.
    assert STATUS_TEXT.search(session.raw)
    assert "; next poll in" in session.raw or "; polling" in session.raw
    changed = [row for row in rows if row.startswith("changed")]
    assert changed, session.text  # the demo's invocations run and finish
    for row in changed:
        before = row.split()[1]
        assert before in {"queued", "running"}, row
        assert f" {before} " not in row[24:], row  # the status now is another


def test_ctrl_c_stops_a_watch_cleanly_with_130() -> None:
    session = run_in_terminal(
        "invocations",
        "watch",
        "--emulator",
        "--interval",
        "0.1",
        columns=120,
        interrupt_when=lambda output: len(re.findall(r"\n(?:seen|changed) ", output)) >= 3,
    )
    assert session.status == 130
    assert "Traceback" not in session.raw
    assert not STATUS_TEXT.search(session.lines[-1])  # the status line was erased


async def test_in_a_pipe_each_event_is_a_line_of_json_and_stderr_stays_quiet() -> None:
    status, out, err = await cli(
        "invocations", "watch", "--emulator", "--interval", "0", "--max-events", "20"
    )
    assert (status, err) == (0, "")
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 20
    for event in events:
        assert set(event) == {"event", "previous_status", "invocation"}
        assert event["event"] in {"seen", "changed", "gone"}
        if event["event"] == "changed":
            assert event["previous_status"] not in (None, event["invocation"]["status"])
        else:
            assert event["previous_status"] is None


async def test_since_reports_what_the_api_lists_then_follows_it() -> None:
    async with KernelEmulator(count=9, seed=4) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        status, out, err = await cli(
            "invocations",
            "watch",
            "--since",
            "100000h",
            "--limit",
            "4",
            "--interval",
            "0",
            "--max-events",
            "9",
            env=env,
        )
        assert (status, err) == (0, "")
        events = [json.loads(line) for line in out.splitlines()]
        assert {e["event"] for e in events} == {"seen"}
        # Each invocation once, oldest first (a feed reads forward in time).
        assert [e["invocation"]["id"] for e in events] == [
            i["id"] for i in reversed(emulator.invocations)
        ]
        assert {r.query["limit"] for r in emulator.requests} == {"4"}


async def test_the_status_filter_repeats_and_keeps_moves_out_of_it() -> None:
    status, out, _ = await cli(
        "invocations",
        "watch",
        "--emulator",
        "--status",
        "queued",
        "--status",
        "failed",
        "--interval",
        "0",
        "--max-events",
        "15",
    )
    assert status == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 15
    for event in events:
        statuses = {event["invocation"]["status"], event["previous_status"]}
        assert statuses & {"queued", "failed"}, event


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--emulator", "--max-events", "0"], "must be >= 1"),
        (["--emulator", "--interval", "-1"], "must be a finite number >= 0"),
        (["--emulator", "--lookback", "nan"], "must be a finite number >= 0"),
        (["--emulator", "--since", "yesterday"], "--since must be"),
        (["--emulator", "--status", "cancelled"], "invalid choice"),
        (["--emulator", "-o", "json"], "invalid choice"),
        (["--emulator", "--base-url", "http://127.0.0.1:9"], "cannot be used together"),
        (["--emulator-count", "3"], "needs --emulator"),
        ([], "kernel-async invocations watch --emulator"),
    ],
)
async def test_usage_errors_exit_2_before_any_request(args: list[str], message: str) -> None:
    status, out, err = await cli("invocations", "watch", *args)
    assert (status, out) == (2, "")
    assert message in err
    assert "Traceback" not in err


async def test_api_errors_exit_1_with_one_line() -> None:
    async with KernelEmulator(count=3) as emulator:
        env = {"KERNEL_API_KEY": "wrong-key", "KERNEL_BASE_URL": emulator.url}
        status, out, err = await cli("invocations", "watch", "--interval", "0", env=env)
        assert (status, out) == (1, "")
        assert err.startswith("kernel-async: AuthenticationError")
        assert len(err.splitlines()) == 1
        assert "wrong-key" not in err


async def test_a_long_id_widens_the_id_column_under_a_new_header() -> None:
    """Kernel ids are 24 characters, but the server decides: a 60-character id keeps its row
    within the terminal, whole, under a header written again for the wider column."""
    import asyncio

    from kernel_async.testing import make_invocation

    long_id = "run_" + "0123456789" * 5 + "abcdef"
    rows = [
        make_invocation(id=long_id, started_at="2026-01-01T00:00:03Z", status="failed"),
        make_invocation(id="b" * 24, started_at="2026-01-01T00:00:02Z"),
        make_invocation(id="a" * 24, started_at="2026-01-01T00:00:01Z", status="failed"),
    ]
    async with KernelEmulator(invocations=rows) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal,
            *("invocations", "watch", "--since", "100000h", "--interval", "0"),
            *("--max-events", "3"),
            columns=100,
            env=env,
        )
    assert session.status == 0, session.text
    lines = session.lines
    assert all(len(line) <= 100 for line in lines), session.text
    assert [line.split()[:2] for line in lines] == [
        ["EVENT", "FROM"],
        ["seen", "a" * 24],
        ["seen", "b" * 24],
        ["EVENT", "FROM"],
        ["seen", long_id],  # whole, to copy
    ], session.text
    assert lines[4].index(" failed") == lines[3].index(" STATUS")
