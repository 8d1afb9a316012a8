"""How the real `kernel-async` fails, run in a subprocess: usage errors speak of its flags,
output that cannot be written is one line (exit 1), and nothing is ever dropped silently."""

import asyncio
import json
import os
import re

import pytest
from test_cli import SCRIPT, cli

from kernel_async.testing import KernelEmulator, ScriptedResponse


async def shell(script: str, *args: str) -> tuple[int, str, str]:
    """Run `kernel-async *args` under `sh -c script` ("$@" is the command), for redirections
    that only a shell makes (`>&-`, `> /dev/full`)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KERNEL_")}
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        script,
        "sh",
        SCRIPT,
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


# -- a filter given twice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "flag", "values"),
    [
        ("list", "--status", ("failed", "queued")),
        ("list", "--app", ("web-scraper", "invoice-bot")),
        ("list", "--action", ("scrape", "verify-login")),
        ("list", "--version", ("1.0.0", "1.1.0")),
        ("list", "--deployment-id", ("dep_a", "dep_b")),
        ("list", "--query", ("web", "bot")),
        ("list", "--since", ("5m", "1h")),
        ("watch", "--app", ("web-scraper", "invoice-bot")),
        ("watch", "--query", ("web", "bot")),
    ],
)
async def test_a_filter_given_twice_is_a_usage_error_naming_it(
    command: str, flag: str, values: tuple[str, str]
) -> None:
    """The API filters on one value per request: keeping only the last would silently drop
    the first (`--status failed --status queued` listed only queued ones)."""
    first, second = values
    status, out, err = await cli("invocations", command, "--emulator", flag, first, flag, second)
    assert (status, out) == (2, "")
    assert f"argument {flag}: given twice" in err
    assert repr(first) in err
    assert repr(second) in err
    assert "Traceback" not in err


async def test_list_says_where_several_statuses_go() -> None:
    status, _, err = await cli(
        "invocations", "list", "--emulator", "--status", "failed", "--status", "queued"
    )
    assert status == 2
    assert "the API takes one per request: list one status at a time" in err
    assert "invocations watch" in err  # which takes several


async def test_a_refused_filter_sends_no_request() -> None:
    """A filter given twice, or refused by the library, is refused before any request."""
    async with KernelEmulator(count=3) as emulator:
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        status, _, _ = await cli("invocations", "list", "--app", "a", "--app", "b", env=env)
        assert status == 2
        status, _, _ = await cli("invocations", "list", "--app", "", env=env)
        assert status == 2
        status, out, _ = await cli("invocations", "list", "--app", "nope", env=env)
        assert (status, out) == (0, "")
        assert [r.query.get("app_name") for r in emulator.requests] == ["nope"]


# -- output that cannot be written -----------------------------------------------------------


@pytest.mark.parametrize("output", ["jsonl", "json", "table"])
async def test_a_full_disk_is_one_line_and_exit_1(output: str) -> None:
    status, _, err = await shell(
        '"$@" > /dev/full', "invocations", "list", "--emulator", "-o", output
    )
    assert status == 1
    assert err == "kernel-async: error: cannot write to stdout: No space left on device\n"


async def test_a_closed_stdout_is_one_line_and_exit_1() -> None:
    status, _, err = await shell('"$@" >&-', "invocations", "list", "--emulator")
    assert status == 1
    assert err == "kernel-async: error: cannot write to stdout: it is closed\n"


async def test_a_closed_stderr_changes_nothing_else() -> None:
    status, out, _ = await shell('"$@" 2>&-', "invocations", "list", "--emulator")
    assert status == 0
    assert len(out.splitlines()) == 250
    # A usage error with nowhere to say it: the exit code alone, and nothing on stdout.
    status, out, _ = await shell('"$@" 2>&-', "invocations", "list", "--emulator", "--app", "")
    assert (status, out) == (2, "")


async def test_a_full_disk_under_the_emulator_command_is_one_line_and_exit_1() -> None:
    status, _, err = await shell('"$@" > /dev/full', "emulator", "--port", "0")
    assert status == 1
    assert err == "kernel-async: error: cannot write to stdout: No space left on device\n"


# -- the in-process emulator -----------------------------------------------------------------


async def test_the_in_process_emulators_server_log_stays_off_the_terminal() -> None:
    """A request line too long for aiohttp's server: the emulator answers 400 and its server
    logs the error with a traceback; the user sees the client's one line, nothing else."""
    status, out, err = await cli("invocations", "list", "--emulator", "--query", "a" * 9000)
    assert (status, out) == (1, "")
    assert err.startswith("kernel-async: BadRequestError: 400")
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert "Error handling request" not in err


# -- messages that name the command's flags, not Python's parameters --------------------------

PYTHON = re.compile(r"\bNone\b|=True|\bpass\b|\b[a-z]+_[a-z_]+\b")
"""What a message for Python code says and a shell cannot act on: `pass None`, `allow_http=True`,
a parameter name such as `app_name` (quoted values excepted: they are the user's)."""


def unquoted(message: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'", "''", message)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--base-url", "http://10.0.0.1/"],
            {"KERNEL_API_KEY": "sk-x"},
            "--base-url http://10.0.0.1/ uses plain http to a non-loopback host, which would "
            "send the API key in clear text; use https",
        ),
        (
            [],
            {"KERNEL_API_KEY": "sk-x", "KERNEL_BASE_URL": "http://10.0.0.1/"},
            "KERNEL_BASE_URL http://10.0.0.1/ uses plain http",
        ),
        (
            ["--base-url", "https://user:pw@api.example.test/"],
            {"KERNEL_API_KEY": "sk-x"},
            "--base-url must not carry a user or password; use KERNEL_API_KEY instead",
        ),
        (["--emulator", "--app", ""], {}, "--app must not be empty"),
        (["--emulator", "--action", ""], {}, "--action must not be empty"),
        (["--emulator", "--deployment-id", "a\tb"], {}, "--deployment-id must not contain"),
        (["--emulator", "--limit", "101"], {}, "--limit must be between 1 and 100"),
        (["--emulator", "--since", "yesterday"], {}, "--since must be an RFC 3339"),
        (["--emulator", "--query", "caf\udce9"], {}, "--query is not valid text"),
        ([], {"KERNEL_API_KEY": "sk-\udcff"}, "KERNEL_API_KEY is not valid text"),
    ],
)
async def test_usage_errors_name_the_commands_flags(
    args: list[str], env: dict[str, str], message: str
) -> None:
    status, out, err = await cli("invocations", "list", *args, env=env)
    assert (status, out) == (2, "")
    assert message in err
    assert len(err.splitlines()) == 1
    assert not PYTHON.search(unquoted(err)), err


async def test_watch_errors_name_its_flags_too() -> None:
    status, _, err = await cli("invocations", "watch", "--emulator", "--app", "")
    assert status == 2
    assert "--app must not be empty" in err
    assert not PYTHON.search(unquoted(err)), err


def test_messages_are_rewritten_outside_the_values_they_quote() -> None:
    from kernel_async._cli_messages import for_the_shell

    names = {"app_name": "--app", "since": "--since", "limit": "--limit"}
    # A one-word parameter only where the library names it, first; a quoted value never.
    assert (
        for_the_shell("since must be a Go duration such as 5m; got 'app_name since'", names)
        == "--since must be a Go duration such as 5m; got 'app_name since'"
    )
    assert for_the_shell("the limit is app_name's", names) == "the limit is --app's"
    assert for_the_shell('app_name bad: "it\'s app_name"', names) == '--app bad: "it\'s app_name"'
    # Names it does not know stay as they are.
    assert for_the_shell("other_name must not be empty", names) == "other_name must not be empty"


# -- the emulator command's flags ------------------------------------------------------------


async def test_churn_kinds_without_churn_is_a_usage_error() -> None:
    status, out, err = await cli("emulator", "--port", "0", "--churn-kinds", "delete")
    assert (status, out) == (2, "")
    assert "--churn-kinds needs --churn" in err


@pytest.mark.parametrize(
    "command",
    [
        ("invocations", "list", "--emulator", "--max-items", "1", "--emulator-count"),
        ("invocations", "watch", "--emulator", "--max-events", "1", "--emulator-count"),
        ("emulator", "--port", "0", "--count"),
    ],
    ids=["list", "watch", "emulator"],
)
async def test_the_demo_data_has_a_bound_named_by_its_flag(command: tuple[str, ...]) -> None:
    """The emulator builds all its data before it answers: a million invocations took 30 s
    and 1.6 GB before the first request (review r11), and the flag took any number."""
    from kernel_async._cli_terminal import EMULATOR_MAX_COUNT

    status, out, err = await cli(*command, str(EMULATOR_MAX_COUNT + 1))
    assert (status, out) == (2, "")
    flag = command[-1]
    assert f"argument {flag}: must be at most {EMULATOR_MAX_COUNT}" in err
    assert err.splitlines()[-1].startswith("kernel-async ")  # argparse's one line, after usage


@pytest.mark.parametrize(
    "argv", [["invocations", "list", "--emulator", "--emulator-count"], ["emulator", "--count"]]
)
def test_the_bound_itself_is_taken(argv: list[str]) -> None:
    from kernel_async._cli_args import build_parser
    from kernel_async._cli_terminal import EMULATOR_MAX_COUNT

    args = build_parser(argv).parse_args([*argv, str(EMULATOR_MAX_COUNT)])
    assert EMULATOR_MAX_COUNT in (
        getattr(args, "emulator_count", None),
        getattr(args, "count", None),
    )


# -- what the server says, in one line of reasonable length -----------------------------------


@pytest.mark.parametrize("command", ["list", "watch"])
async def test_a_huge_error_message_is_cut_and_keeps_its_request_id(command: str) -> None:
    """Review r13: a 500 whose message was 100 KB came out as one 100,076-byte line."""
    message = "boom " + "x" * 100_000
    body = json.dumps({"code": "internal", "message": message}).encode()
    async with KernelEmulator(count=3) as emulator:
        emulator.script(ScriptedResponse(status=500, body=body))
        env = {"KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        # A 500 is worth polling again: the watch gives up on it only when told to.
        given_up = ("--give-up-after", "0") if command == "watch" else ()
        status, out, err = await cli("invocations", command, "--retries", "0", *given_up, env=env)
    assert (status, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert len(err) < 600, len(err)
    assert err.startswith(
        "kernel-async: InternalServerError: 500 Internal Server Error: internal: boom xxx"
    )
    # How much was cut, then the request id, which a support ticket needs.
    assert re.search(r"xxx\u2026 \(99,\d{3} more characters\) \(request id req_emu_\d+\)\n$", err)


async def test_a_long_usage_error_is_cut_too() -> None:
    status, _, err = await cli("invocations", "list", "--emulator", "--since", "9" * 5000)
    assert status == 2
    assert len(err.splitlines()) == 1
    assert len(err) < 600, len(err)
    assert "more characters)" in err


def test_one_line_counts_what_it_cuts_after_escaping() -> None:
    from kernel_async._cli_messages import one_line

    assert one_line("short") == "short"
    # Escaped first, then cut: an escape takes four characters of the line.
    assert one_line("a\x1bb" * 200, limit=12) == "a\\x1bba\\x1bb\u2026 (1,188 more characters)"
    assert one_line("x" * 20, limit=10, ellipsis="...") == "xxxxxxxxxx... (10 more characters)"


# -- a redirect ---------------------------------------------------------------------------------


@pytest.mark.parametrize("from_flag", [False, True])
async def test_a_redirect_names_where_it_went_and_what_to_check(from_flag: bool) -> None:
    """Review r13: a 302 said only `APIStatusError: 302 Found`."""
    key = "sk-9f3e1c7a2b4d6e8f0a1c"
    async with KernelEmulator(count=3, api_key=key) as emulator:
        location = f"{emulator.url}v1/invocations?token={key}"
        emulator.script(ScriptedResponse(status=302, headers={"Location": location}))
        if from_flag:
            args, env, setting = ["--base-url", emulator.url], {}, "--base-url"
        else:
            args, env, setting = [], {"KERNEL_BASE_URL": emulator.url}, "KERNEL_BASE_URL"
        status, out, err = await cli(
            "invocations", "list", *args, env={"KERNEL_API_KEY": key, **env}
        )
    assert (status, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert key not in err
    assert err == (
        f"kernel-async: APIStatusError: 302 Found: redirected to "
        f"'{emulator.url}v1/invocations?token=***'; redirects are not followed; "
        f"check {setting} (request id req_emu_000001)\n"
    )
