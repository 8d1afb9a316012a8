"""The CLI as a person sees it: on a terminal 80 and 120 columns wide, stdout and stderr mixed."""

import asyncio
import json
import os
import re
import subprocess
import unicodedata

import pytest

from kernel_async.testing import KernelEmulator, make_invocation

from terminal import SCRIPT, run_in_terminal

ID = re.compile(r"^[0-9a-z]{24}\b")
PROGRESS = re.compile(r"\d+ invocations?, \d+ pages?")
ERASED_PROGRESS = re.compile(r"\r\x1b\[K(?:\d+ invocations?, \d+ pages?)?")


def stdout_of(raw: str) -> str:
    """What went to stdout on a shared terminal: the output less the progress line."""
    return ERASED_PROGRESS.sub("", raw).replace("\r\n", "\n")


def demo_ids(*args: str) -> list[str]:
    """The ids the same command lists when piped (JSON lines)."""
    piped = subprocess.run(
        [SCRIPT, "invocations", "list", "--emulator", *args],
        capture_output=True,
        check=True,
        timeout=60,
        text=True,
    )
    return [json.loads(line)["id"] for line in piped.stdout.splitlines()]


@pytest.mark.parametrize("columns", [80, 120])
def test_the_table_reads_cleanly_on_a_terminal(columns: int) -> None:
    args = ("--max-items", "120", "--limit", "20")
    session = run_in_terminal("invocations", "list", "--emulator", *args, columns=columns)
    assert session.status == 0, session.text
    header, *rows = session.lines
    assert header.split()[:2] == ["ID", "APP"]
    assert "STATUS" in header
    assert len(rows) == 120, session.text  # one line per row: nothing wrapped or glued
    for row in rows:
        assert ID.match(row), row  # a row starts with a whole id...
        assert not PROGRESS.search(row), row  # ...and no progress text is left in it
        assert len(row) <= columns
    assert [row[:24] for row in rows] == demo_ids(*args)  # every id whole, in order
    # The progress line was shown while pages arrived, and erased before rows and at the end.
    assert "20 invocations, 1 page" in session.raw
    assert "120 invocations, 7 pages" in session.raw  # pages of 20 overlap by one
    assert "\x1b[32msucceeded" in session.raw  # the status is coloured on a terminal


def test_progress_is_cleared_only_when_stderr_is_a_terminal() -> None:
    piped = subprocess.run(
        [SCRIPT, "invocations", "list", "--emulator", "-o", "table", "--max-items", "30"],
        capture_output=True,
        timeout=60,
        text=True,
        check=True,
    )
    assert piped.stderr == ""
    assert "\x1b" not in piped.stdout
    assert len(piped.stdout.splitlines()) == 31


HOSTILE = {
    "id": "inv\x1b[2Jhostile0000000",
    "app_name": "\u202egnp.exe",
    "action_name": "tab\there",
    "version": "1\x9b31m",
    "status": "failed\x07",
    "status_reason": "\x1b]0;pwned\x07\x1b[31mred\r\nnext line\x7f\u2066!",
}


def terminal_controls(text: str) -> list[str]:
    """Control characters left after removing the CLI's own colours and line erasing."""
    ours = re.compile(r"\x1b\[(?:\d+m|K)|\r\n|\r")
    bidi = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F))}
    bidi |= set(map(chr, range(0x2066, 0x206A)))
    return [c for c in ours.sub("", text) if unicodedata.category(c) == "Cc" or c in bidi]


@pytest.mark.parametrize("output", ["table", "jsonl", "json"])
async def test_server_text_cannot_drive_the_terminal(output: str) -> None:
    record = make_invocation(**HOSTILE, payload="{}", output="\x1b]52;c;Y2xpcGJvYXJk\x07")
    async with KernelEmulator(invocations=[record, make_invocation()]) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", "-o", output, columns=250, env=env
        )
    assert session.status == 0, session.text
    assert terminal_controls(session.raw) == []
    if output == "table":
        assert "\\x1b]0;pwned\\x07\\x1b[31mred\\r\\nnext line\\x7f\\u2066!" in session.text
        assert "inv\\x1b[2Jhostile0000000" in session.text  # the id is escaped, not cut
        assert "\\u202egnp.exe" in session.text
    else:
        body = stdout_of(session.raw)
        rows = (
            json.loads(body) if output == "json" else [json.loads(x) for x in body.split("\n") if x]
        )
        assert rows[0]["status_reason"] == HOSTILE["status_reason"]  # the data is intact


async def test_error_messages_from_the_server_are_escaped() -> None:
    from kernel_async.testing import ScriptedResponse

    async with KernelEmulator(count=3) as emulator:
        body = json.dumps({"code": "unauthorized", "message": "\x1b]0;pwned\x07 bad key"})
        emulator.script(ScriptedResponse(status=401, body=body.encode()))
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", columns=100, env=env
        )
    assert session.status == 1
    assert terminal_controls(session.raw) == []
    assert "AuthenticationError" in session.text
    assert "\\x1b]0;pwned\\x07 bad key" in session.text


def test_json_output_is_a_streamed_array_closed_on_ctrl_c() -> None:
    session = run_in_terminal(
        "invocations",
        "list",
        "--emulator",
        "--emulator-latency",
        "0.2",
        "--limit",
        "5",
        "--prefetch",
        "1",
        "-o",
        "json",
        columns=120,
        interrupt_when=lambda output: output.count('"id"') >= 10,
    )
    assert session.status == 130
    assert "Traceback" not in session.raw
    body = stdout_of(session.raw).replace("^C", "")
    rows = json.loads(body)  # a complete array of what arrived before Ctrl-C
    assert 10 <= len(rows) < 250
    assert len({row["id"] for row in rows}) == len(rows)


async def test_the_status_line_fits_stderrs_terminal_when_stdout_is_redirected() -> None:
    """`kernel-async invocations list > file` on 60 columns: the status line (with a retry
    note longer than the terminal) is cut to stderr's width, so erasing it leaves nothing."""
    import os

    from kernel_async.testing import Fault, FaultKind, FaultSchedule

    throttled = Fault(kind=FaultKind.STATUS, status=429, retry_after_ms="1")
    faults = FaultSchedule(seed=3, rate=1.0, faults=[throttled], max_per_request=1)
    async with KernelEmulator(count=60, faults=faults) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        sink = os.open(os.devnull, os.O_WRONLY)
        try:
            session = await asyncio.to_thread(
                run_in_terminal,
                *("invocations", "list", "--limit", "10", "--prefetch", "1"),
                columns=60,
                env=env,
                stdout=sink,
            )
        finally:
            os.close(sink)
    assert session.status == 0
    assert "retry 1 of 2" in session.raw  # the retries were shown
    drawn = [part for part in session.raw.split("\r\x1b[K") if part]
    assert drawn
    assert max(len(part) for part in drawn) < 60
    assert session.lines == []  # every status line erased: nothing left on the screen


@pytest.mark.parametrize("columns", [80, 120])
async def test_wide_characters_keep_each_row_on_one_line(columns: int) -> None:
    rows = [
        make_invocation(
            id="wide" + "0" * 20,
            app_name="🛒🛒🛒-shop",
            status="failed",
            status_reason="タイムアウトしました",
        ),
        make_invocation(
            id="narrow" + "0" * 18,
            app_name="plain",
            status="failed",
            status_reason="Selector not found",
        ),
    ]
    async with KernelEmulator(invocations=rows) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", columns=columns, env=env
        )
    assert session.status == 0
    assert len(session.lines) == 3  # the header and one line per invocation: nothing wrapped
    header, *table = session.lines
    assert all(ID.match(line) for line in table)

    def column(line: str, text: str) -> int:  # where `text` starts on the screen
        prefix = line[: line.index(text)]
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in prefix)

    assert {column(line, " failed") for line in table} == {column(header, " STATUS")}


async def test_a_terminal_that_speaks_ascii_gets_text_it_can_show() -> None:
    """`PYTHONIOENCODING=ascii` (or an ASCII locale): a cut cell ends in `...`, and a character
    the terminal cannot show is escaped, as the table escapes control characters."""
    rows = [
        make_invocation(
            id="a" * 24, app_name="日本語アプリ", status="failed", status_reason="x" * 200
        ),
        make_invocation(id="b" * 24, app_name="plain", status="succeeded"),
    ]
    async with KernelEmulator(invocations=rows) as emulator:
        env = {
            "KERNEL_API_KEY": emulator.api_key,
            "KERNEL_BASE_URL": emulator.url,
            "PYTHONIOENCODING": "ascii",
        }
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", columns=80, env=env
        )
    assert session.status == 0, session.text
    assert session.raw.isascii()
    header, *table = session.lines
    assert header.split()[:2] == ["ID", "APP"]
    assert len(table) == 2, session.text
    assert table[0].startswith("a" * 24)
    assert "\\u65e5" in table[0]  # 日, escaped
    assert "..." in table[0]  # the app's cell, cut
    assert len(table[0]) <= 80
    assert table[1].startswith("b" * 24)


def test_a_dumb_terminal_gets_no_escape_sequences() -> None:
    """`TERM=dumb` (an editor's shell buffer): no colour, and no progress line either, which
    takes `ESC [ K` to erase."""
    session = run_in_terminal(
        "invocations",
        "list",
        "--emulator",
        "--max-items",
        "30",
        "--limit",
        "10",
        columns=120,
        env={"TERM": "dumb"},
    )
    assert session.status == 0, session.text
    assert "\x1b" not in session.raw
    assert "\r" not in session.raw.replace("\r\n", "")  # no line drawn over
    assert len(session.lines) == 31


def test_one_invocation_is_counted_in_the_singular() -> None:
    session = run_in_terminal(
        "invocations", "list", "--emulator", "--max-items", "1", "--limit", "1", columns=120
    )
    assert session.status == 0, session.text
    assert "1 invocation, 1 page" in session.raw
    assert "1 invocations" not in session.raw


async def test_soft_hyphens_keep_each_row_on_one_line() -> None:
    """U+00AD is a format character a terminal draws one column wide (pyte does, as wcwidth
    and glibc have it): twenty of them in an app name once pushed a row past 100 columns."""
    rows = [
        make_invocation(
            id="shy" + "0" * 21,
            app_name="shop" + "\u00ad" * 20,
            status="failed",
            status_reason="time\u00adout " * 20,
        ),
        make_invocation(id="plain" + "0" * 19, app_name="plain", status="failed"),
    ]
    async with KernelEmulator(invocations=rows) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", columns=100, env=env
        )
    assert session.status == 0, session.text
    assert len(session.lines) == 3, session.text  # the header and two rows: nothing wrapped
    header, *table = session.lines
    assert all(ID.match(line) for line in table), session.text
    assert {line.index(" failed") for line in table} == {header.index(" STATUS")}


LONG_ID = "run_" + "0123456789" * 5 + "abcdef"  # 60 characters: Kernel's are 24, the server decides


def long_id_rows() -> list[dict[str, object]]:
    return [
        make_invocation(id="a" * 24, started_at="2026-01-01T00:00:03Z", status="failed"),
        make_invocation(id="b" * 24, started_at="2026-01-01T00:00:02Z"),
        make_invocation(id=LONG_ID, started_at="2026-01-01T00:00:01Z", status="failed"),
    ]


@pytest.mark.parametrize("limit", ["100", "2"])
async def test_a_long_id_is_shown_whole_and_each_row_fits(limit: str) -> None:
    """A 60-character id once made a 136-character row on 100 columns, which the terminal
    wrapped. In the first page, it sizes the ID column before the header is written; in a
    later one, the column grows and the header is written again above the rows below it."""
    async with KernelEmulator(invocations=long_id_rows()) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", "--limit", limit, columns=100, env=env
        )
    assert session.status == 0, session.text
    lines = session.lines
    assert all(len(line) <= 100 for line in lines), session.text
    headers = [n for n, line in enumerate(lines) if line.startswith("ID ")]
    assert headers == ([0] if limit == "100" else [0, 3]), session.text
    assert len(lines) == 3 + len(headers), session.text  # one line per row: nothing wrapped
    assert lines[-1].startswith(LONG_ID + " "), session.text  # whole, to copy
    assert [line.split()[0] for line in lines if not line.startswith("ID ")] == [
        "a" * 24,
        "b" * 24,
        LONG_ID,
    ]
    header = lines[headers[-1]]
    assert {line.index(" failed") for line in (lines[-1],)} == {header.index(" STATUS")}


async def test_an_id_too_long_for_the_terminal_is_cut_in_the_middle_and_whole_when_piped() -> None:
    async with KernelEmulator(invocations=long_id_rows()) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", columns=50, env=env
        )
        piped = {
            output: await asyncio.to_thread(
                subprocess.run,
                [SCRIPT, "invocations", "list", "-o", output],
                capture_output=True,
                check=True,
                timeout=60,
                text=True,
                env={**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, **env},
            )
            for output in ("jsonl", "json", "table")
        }
    assert session.status == 0, session.text
    assert len(session.lines) == 4, session.text  # nothing wrapped
    assert all(len(line) <= 50 for line in session.lines), session.text
    cut = session.lines[-1].split()[0]
    assert cut == LONG_ID[:20] + "\u2026" + LONG_ID[-19:], session.text  # both ends kept
    # Piped or redirected, nothing is cut: JSON has every id whole, and so has a table that
    # no terminal bounds (120 columns, or COLUMNS).
    jsonl = [json.loads(line)["id"] for line in piped["jsonl"].stdout.splitlines()]
    assert jsonl == [row["id"] for row in json.loads(piped["json"].stdout)]
    assert jsonl == ["a" * 24, "b" * 24, LONG_ID]
    table = piped["table"].stdout.splitlines()
    assert table[-1].startswith(LONG_ID + " ")
    assert all(len(line) <= 120 for line in table)


@pytest.mark.parametrize(
    ("command", "setting"),
    [("list", "KERNEL_BASE_URL"), ("list", "--base-url"), ("watch", "--base-url")],
)
async def test_https_to_a_plain_http_server_says_what_to_check(command: str, setting: str) -> None:
    # `https://` for the emulator (which serves plain http) said only OpenSSL's
    # "[SSL: WRONG_VERSION_NUMBER] wrong version number", and a watch retried it forever: it
    # now ends at once (no --give-up-after), as for any failure no retry fixes.
    async with KernelEmulator(count=3) as emulator:
        url = emulator.url.replace("http://", "https://")
        env = {"KERNEL_API_KEY": emulator.api_key}
        args = ["--retries", "0"] if command == "list" else []
        if setting == "--base-url":
            args += ["--base-url", url]
        else:
            env["KERNEL_BASE_URL"] = url
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", command, *args, columns=300, env=env
        )
    assert session.status == 1
    # One line, which the terminal wraps: the last drawn (a watch writes its table's header
    # and its status line first).
    line = session.raw.split("\r\x1b[K")[-1].strip()
    assert "\n" not in line
    assert line.startswith("kernel-async: APIConnectionError: ")
    assert line.endswith(
        f"; the server does not speak TLS: check {setting} (the emulator's URL starts with http://)"
    )
