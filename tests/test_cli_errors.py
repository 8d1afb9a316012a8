"""How the real `kernel-async` fails, run in a subprocess: usage errors speak of its flags,
output that cannot be written is one line (exit 1), and nothing is ever dropped silently."""

import pytest
from test_cli import cli

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
