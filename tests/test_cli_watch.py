"""`kernel-async invocations watch` as a person meets it: on a terminal 80 and 120 columns
wide (rows and a status line sharing it), in a pipe (JSON lines), and interrupted."""

import asyncio
import json
import os
import re
import signal
from collections.abc import Callable
from typing import Any, Self

import pytest
from test_cli import SCRIPT, cli

from kernel_async.testing import KernelEmulator, ScriptedResponse, make_invocation

from conftest import NOW
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


# -- a server that goes away and comes back ---------------------------------------------------


class WatchInAPipe:
    """`kernel-async invocations watch` in a subprocess, its stdout and stderr read as they come.

    The two readers are tasks of the test's own: they end when the process closes its pipes,
    and leaving the block interrupts the process (Ctrl-C) and awaits them.
    """

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self._args = args
        self._env = env
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.status: int | None = None

    async def __aenter__(self) -> Self:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("KERNEL_")}
        self._process = await asyncio.create_subprocess_exec(
            SCRIPT,
            "invocations",
            "watch",
            *self._args,
            env={**environment, **self._env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        assert self._process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self._process.stdout, self._event)),
            asyncio.create_task(self._read(self._process.stderr, self.errors.append)),
        ]
        return self

    def _event(self, line: str) -> None:
        self.events.append(json.loads(line))

    @staticmethod
    async def _read(stream: asyncio.StreamReader, take: Callable[[str], None]) -> None:
        async for line in stream:
            take(line.decode())

    async def wait(self) -> int:
        """The exit code, once the process has ended by itself."""
        await asyncio.wait_for(asyncio.gather(*self._readers), 60)
        self.status = await self._process.wait()
        return self.status

    async def __aexit__(self, *exc_info: object) -> None:
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
        try:
            await self.wait()
        finally:
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()


async def until(condition: Callable[[], object], *, seconds: float = 30) -> None:
    """Wait for ``condition()`` to hold; fail instead of hanging."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - watches another process's output
            await asyncio.sleep(0.02)


def ids_by_event(watch: WatchInAPipe) -> list[tuple[str, str, str | None]]:
    return [(e["event"], e["invocation"]["id"], e["previous_status"]) for e in watch.events]


def unavailable(line: str) -> bool:
    return "server unavailable, trying again in " in line


async def test_a_watch_outlives_a_server_that_goes_away_and_loses_nothing(
    unused_tcp_port: int,
) -> None:
    """Review r13: the emulator killed for 3 s ended the watch (APIConnectionError, exit 1).
    Now it waits it out, polls the same watch again, and reports what moved meanwhile, once."""
    key = "sk-outage-canary-4f1d2b"
    old = [
        make_invocation(id=f"inv_old{n}", started_at=f"2026-05-31T0{n}:00:00Z") for n in range(3)
    ]
    emulator = KernelEmulator(old, now=NOW, api_key=key, port=unused_tcp_port)
    await emulator.start()
    try:
        env = {"KERNEL_API_KEY": key, "KERNEL_BASE_URL": emulator.url}
        async with WatchInAPipe("--since", "1000h", "--interval", "0.2", env=env) as watch:
            await until(lambda: len(watch.events) == 3)
            emulator.add_invocation(
                make_invocation(id="inv_a", status="running", started_at="2026-06-01T11:00:00Z")
            )
            await until(lambda: len(watch.events) == 4)

            await emulator.close()  # the server goes away; meanwhile, invocations move on
            emulator.set_status("inv_a", "failed")
            emulator.add_invocation(
                make_invocation(id="inv_b", status="queued", started_at="2026-06-01T11:30:00Z")
            )
            await until(lambda: any(unavailable(line) for line in watch.errors))
            await asyncio.sleep(2)  # more than one failed poll
            await emulator.start()  # and comes back, on the same port

            await until(lambda: len(watch.events) == 6)
            served = len(emulator.requests)
            await until(lambda: len(emulator.requests) >= served + 6)  # a few polls more
        assert watch.status == 130
    finally:
        await emulator.close()
    assert ids_by_event(watch) == [
        *[("seen", f"inv_old{n}", None) for n in range(3)],
        ("seen", "inv_a", None),
        ("changed", "inv_a", "running"),
        ("seen", "inv_b", None),
    ]
    # It said so on stderr, a line each time, and that it went on; the key never.
    waits = [line for line in watch.errors if unavailable(line)]
    assert waits, watch.errors
    for line in waits:
        assert re.fullmatch(
            r"kernel-async: server unavailable, trying again in [\d.]+s: APIConnectionError: .*\n",
            line,
        ), line
    assert any("server answers again" in line for line in watch.errors), watch.errors
    assert not any("Traceback" in line or key in line for line in watch.errors)


async def test_a_watch_waits_out_a_server_answering_503() -> None:
    # Finished invocations only: each poll is one request, its window's.
    old = [
        make_invocation(id=f"inv_old{n}", started_at=f"2026-05-31T0{n}:00:00Z") for n in range(4)
    ]
    async with KernelEmulator(old, now=NOW) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        args = ("--since", "1000h", "--interval", "0.1", "--retries", "0", "--max-events", "5")
        async with WatchInAPipe(*args, env=env) as watch:
            await until(lambda: len(watch.events) == 4)
            emulator.script(*[ScriptedResponse(status=503, body=b"<html>down</html>")] * 2)
            served = len(emulator.requests)
            await until(lambda: len(emulator.requests) >= served + 2)  # both answered 503
            emulator.add_invocation(
                make_invocation(id="inv_new", status="running", started_at="2026-06-01T11:00:00Z")
            )
            assert await watch.wait() == 0  # --max-events: the fifth event came
    assert ids_by_event(watch)[-1] == ("seen", "inv_new", None)
    waits = [line for line in watch.errors if unavailable(line)]
    assert len(waits) == 2, watch.errors  # one line per failed poll
    assert "InternalServerError: 503 Service Unavailable: <html>down</html>" in waits[0]


def test_ctrl_c_while_the_watch_waits_for_the_server_exits_130(unused_tcp_port: int) -> None:
    key = "sk-terminal-canary-77aa"
    session = run_in_terminal(
        "invocations",
        "watch",
        "--interval",
        "0.2",
        "--retries",
        "0",
        columns=120,
        env={"KERNEL_API_KEY": key, "KERNEL_BASE_URL": f"http://127.0.0.1:{unused_tcp_port}/"},
        interrupt_when=lambda output: "trying again in" in output,
    )
    assert session.status == 130
    assert "Traceback" not in session.raw
    assert key not in session.raw
    # On the status line, after how the watch is doing; erased on the way out.
    assert re.search(
        r"watching: 0 polls, 0 events, 0 in flight; server unavailable, trying again in [\d.]+s: "
        r"APIConnectionError: ",
        session.raw,
    ), session.raw
    assert not any("server unavailable" in line for line in session.lines), session.text


@pytest.mark.parametrize("seconds", ["0", "1"])
async def test_give_up_after_ends_a_watch_the_server_keeps_failing(
    seconds: str, unused_tcp_port: int
) -> None:
    env = {"KERNEL_API_KEY": "k", "KERNEL_BASE_URL": f"http://127.0.0.1:{unused_tcp_port}/"}
    args = ("--retries", "0", "--interval", "0.1", "--give-up-after", seconds)
    async with WatchInAPipe(*args, env=env) as watch:
        assert await watch.wait() == 1
    *waits, last = watch.errors
    assert last.startswith("kernel-async: APIConnectionError: ")
    if seconds == "0":  # as before: the first failed poll ends it
        assert waits == []
    else:
        assert waits, watch.errors
        assert all(unavailable(line) for line in waits), watch.errors


async def test_errors_another_poll_would_not_fix_still_end_the_watch() -> None:
    async with KernelEmulator(count=3, now=NOW) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        async with WatchInAPipe("--interval", "0.1", env=env) as watch:
            await until(lambda: len(emulator.requests) >= 2)
            emulator.script(ScriptedResponse(status=403, body=b'{"code":"no","message":"no"}'))
            assert await watch.wait() == 1
    assert [line for line in watch.errors if unavailable(line)] == []
    assert watch.errors[-1].startswith("kernel-async: PermissionDeniedError: 403")
