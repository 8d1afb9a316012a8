"""The real `kernel-async` entry point, run in a subprocess."""

import asyncio
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from kernel_async.testing import KernelEmulator, ScriptedResponse

SCRIPT = shutil.which("kernel-async", path=str(Path(sys.executable).parent)) or "kernel-async"


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    # Nothing of the caller's shell that the CLI reads: its key, and a COLUMNS exported there
    # (pytest-xdist's workers set 80), which would narrow the table a pipe gets.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KERNEL_") and k not in ("COLUMNS", "LINES")
    }
    process = await asyncio.create_subprocess_exec(
        SCRIPT,
        *args,
        env={**environment, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_lists_the_emulators_demo_data_as_json_lines_without_a_key() -> None:
    status, out, err = await cli("invocations", "list", "--emulator")
    assert (status, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 250
    assert {"id", "app_name", "version", "action_name", "status", "started_at"} <= set(rows[0])
    assert rows == sorted(rows, key=lambda r: r["started_at"], reverse=True) or len(rows) == 250


async def test_filters_and_max_items() -> None:
    status, out, _ = await cli(
        "invocations",
        "list",
        "--emulator",
        "--status",
        "failed",
        "--app",
        "invoice-bot",
        "--limit",
        "3",
        "--max-items",
        "4",
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert len(rows) == 4
    assert {(r["status"], r["app_name"]) for r in rows} == {("failed", "invoice-bot")}


async def test_json_output_is_one_array() -> None:
    status, out, _ = await cli(
        "invocations", "list", "--emulator", "-o", "json", "--max-items", "2"
    )
    assert status == 0
    assert [type(r) for r in json.loads(out)] == [dict, dict]


async def test_lists_from_the_api_given_by_the_environment() -> None:
    async with KernelEmulator(count=7, seed=2) as emulator:
        status, out, _ = await cli(
            "invocations",
            "list",
            env={"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url},
        )
        assert status == 0
        assert [json.loads(line)["id"] for line in out.splitlines()] == [
            i["id"] for i in emulator.invocations
        ]
        assert emulator.requests[0].query["limit"] == "100"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["invocations", "list", "--emulator", "--limit", "0"], "must be >= 1"),
        (
            ["invocations", "list", "--emulator", "--limit", "101"],
            "--limit must be between 1 and 100",
        ),
        (["invocations", "list", "--emulator", "--since", "yesterday"], "--since must be"),
        (["invocations", "list", "--emulator", "--status", "cancelled"], "invalid choice"),
        (["invocations", "list"], "KERNEL_API_KEY"),
        (["frobnicate"], "invalid choice"),
    ],
)
async def test_usage_errors_exit_2_with_a_message(args: list[str], message: str) -> None:
    status, out, err = await cli(*args)
    assert status == 2
    assert message in err
    assert out == ""
    assert "Traceback" not in err


async def test_api_errors_exit_1_with_one_line_and_the_request_id() -> None:
    async with KernelEmulator(count=1) as emulator:
        status, _, err = await cli(
            "invocations", "list", env={"KERNEL_API_KEY": "wrong", "KERNEL_BASE_URL": emulator.url}
        )
    assert status == 1
    assert err.count("\n") == 1
    assert "AuthenticationError" in err
    assert "req_emu_000001" in err


async def test_connection_errors_exit_1(unused_tcp_port: int) -> None:
    status, _, err = await cli(
        "invocations",
        "list",
        "--base-url",
        f"http://127.0.0.1:{unused_tcp_port}/",
        env={"KERNEL_API_KEY": "k"},
    )
    assert status == 1
    assert "APIConnectionError" in err


async def test_the_emulator_command_serves_until_interrupted() -> None:
    process = await asyncio.create_subprocess_exec(
        SCRIPT,
        "emulator",
        "--port",
        "0",
        "--count",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = banner.rsplit(" at ", 1)[1].strip()
        status, out, _ = await cli(
            "invocations",
            "list",
            env={"KERNEL_API_KEY": "kernel-emulator-key", "KERNEL_BASE_URL": url},
        )
        assert status == 0
        assert len(out.splitlines()) == 5
    finally:
        process.send_signal(__import__("signal").SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130
    assert b"Traceback" not in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from kernel_async import __version__
    from kernel_async._cli import main

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert __version__ in capsys.readouterr().out


async def test_prefetch_flag_bounds_requests_in_flight() -> None:
    async with KernelEmulator(count=120, latency=0.005) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        status, out, _ = await cli(
            "invocations", "list", "--limit", "10", "--prefetch", "3", env=env
        )
        assert status == 0
        assert len(out.splitlines()) == 120
        assert 1 < emulator.max_in_flight <= 3
        status, _, err = await cli("invocations", "list", "--prefetch", "65", env=env)
        assert status == 2
        assert "prefetch" in err


async def test_table_output_without_a_terminal_has_no_colour() -> None:
    status, out, _ = await cli(
        "invocations", "list", "--emulator", "-o", "table", "--max-items", "5"
    )
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split()[:5] == ["ID", "APP", "ACTION", "VERSION", "STATUS"]
    assert len(lines) == 6
    assert "\x1b[" not in out
    status, out, _ = await cli(
        "invocations", "list", "--emulator", "-o", "table", "--max-items", "5", "--color", "always"
    )
    assert "\x1b[3" in out


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from kernel_async._cli_terminal import use_colour

    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour("auto", Terminal())  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour("auto", Terminal())  # type: ignore[arg-type]
    assert use_colour("always", Terminal())  # type: ignore[arg-type]
    assert not use_colour("never", Terminal())  # type: ignore[arg-type]


async def test_the_emulator_on_a_busy_port_says_so_in_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = await cli("emulator", "--port", str(port))
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert f"cannot serve on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("port", ["-5", "65536", "http"])
async def test_the_emulator_refuses_a_bad_port(port: str) -> None:
    status, out, err = await cli("emulator", "--port", port)
    assert (status, out) == (2, "")
    assert "--port" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("command", "defaults"),
    [
        (["emulator"], ["(default: 8787)", "(default: 250)", "(default: 0.0)"]),
        (["invocations", "list"], ["(default: 32", "(default: 64)", "(default: 100)"]),
    ],
)
async def test_help_shows_the_defaults(command: list[str], defaults: list[str]) -> None:
    status, out, _ = await cli(*command, "--help")
    assert status == 0
    for default in defaults:
        assert default in " ".join(out.split()), default
    assert "(default: None)" not in out


async def test_the_emulator_and_a_base_url_exclude_each_other() -> None:
    status, out, err = await cli(
        "invocations", "list", "--emulator", "--base-url", "https://api.example.test/"
    )
    assert (status, out) == (2, "")
    assert "--base-url and --emulator cannot be used together" in err


async def test_hints_name_flags_and_variables_not_python() -> None:
    status, _, err = await cli("invocations", "list")
    assert status == 2
    assert "KERNEL_API_KEY" in err
    assert "--emulator" in err
    assert "AsyncKernel" not in err
    status, _, err = await cli("invocations", "list", "--emulator", "--prefetch", "80")
    assert status == 2
    assert "--prefetch 80 is more than --connections 64" in err
    assert "AsyncKernel" not in err
    status, _, err = await cli("invocations", "list", "--emulator-count", "5")
    assert status == 2
    assert "--emulator-count needs --emulator" in err


async def test_connections_and_the_emulators_size_are_flags() -> None:
    status, out, _ = await cli(
        "invocations",
        "list",
        "--emulator",
        "--emulator-count",
        "700",
        "--emulator-latency",
        "0.001",
        "--prefetch",
        "80",
        "--connections",
        "80",
    )
    assert status == 0
    assert len(out.splitlines()) == 700


async def silent_server(accepted: list[socket.socket]) -> asyncio.Server:
    """Accepts connections, reads nothing back, never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer.get_extra_info("socket"))
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0)


async def test_a_server_that_never_answers_is_given_up_on_as_the_flags_say() -> None:
    accepted: list[socket.socket] = []
    server = await silent_server(accepted)
    async with server:
        port = server.sockets[0].getsockname()[1]
        status, out, err = await cli(
            "invocations",
            "list",
            "--base-url",
            f"http://127.0.0.1:{port}/",
            "--timeout",
            "0.2",
            "--retries",
            "1",
            env={"KERNEL_API_KEY": "k"},
        )
    assert (status, out) == (1, "")
    assert "APITimeoutError" in err
    assert "timed out" in err
    assert len(accepted) == 2  # the attempt and one retry


async def test_json_output_stays_one_array_when_the_walk_fails() -> None:
    async with KernelEmulator(count=30) as emulator:
        # The third page: pages of 5 overlap by one, so they start at 0, 4, 8.
        emulator.script(ScriptedResponse(status=500, body=b"<html>down</html>", offset=8))
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        args = ("invocations", "list", "--limit", "5", "--prefetch", "1", "--retries", "0")
        status, out, err = await cli(*args, "-o", "json", env=env)
    assert status == 1
    assert "InternalServerError" in err
    assert [row["id"] for row in json.loads(out)] == [i["id"] for i in emulator.invocations[:9]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # $'\xff' from a shell: Python's sys.argv holds it as the lone surrogate U+DCFF.
        (("--app", "\udcff"), "--app is not valid text"),
        (("--query", "caf\udce9"), "--query is not valid text"),
        (("--since", "\u0665m"), "--since must be an RFC 3339"),
        (("--since", "99999999h"), "--since must be an RFC 3339"),
    ],
)
async def test_arguments_that_cannot_be_sent_as_given_are_usage_errors(
    args: tuple[str, ...], message: str
) -> None:
    status, out, err = await cli("invocations", "list", "--emulator", *args)
    assert (status, out) == (2, "")
    assert message in err


async def test_an_environment_key_that_is_not_utf8_is_a_usage_error() -> None:
    async with KernelEmulator(count=3) as emulator:
        status, out, err = await cli(
            "invocations",
            "list",
            env={"KERNEL_API_KEY": emulator.api_key + "\udcff", "KERNEL_BASE_URL": emulator.url},
        )
        assert (status, out) == (2, "")
        assert "KERNEL_API_KEY is not valid text" in err
        assert emulator.api_key not in err
        assert emulator.requests == []
