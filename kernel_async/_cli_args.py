"""The ``kernel-async`` command's arguments: its subcommands and their flags.

Imported before anything heavy (see ``kernel_async._cli``): only :mod:`argparse` and plain
defaults; the emulator's own flags, which name its kinds of churn, are added only when the
command line names the emulator.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from kernel_async._cli_checks import churn_kinds, demo_count, int_at_least, port, seconds
from kernel_async._cli_terminal import EMULATOR_DEMO_COUNT, EMULATOR_MAX_COUNT
from kernel_async._defaults import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PREFETCH,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_CONNECT,
    DEFAULT_TIMEOUT_READ,
    DEFAULT_TIMEOUT_TOTAL,
    DEFAULT_WATCH_INTERVAL,
    DEFAULT_WATCH_LOOKBACK,
    InvocationStatus,
)
from kernel_async._version import __version__

__all__ = ["build_parser", "filters_of"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default in ``--help``, unless there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _add_listing(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = actions.add_parser(
        "list",
        help="list invocations, newest first",
        formatter_class=_HelpFormatter,
        description=(
            "List invocations, newest first: a table on a terminal, JSON lines otherwise. "
            "Uses KERNEL_API_KEY and KERNEL_BASE_URL; --emulator lists demo data from a "
            "local emulator instead."
        ),
    )
    _add_filters(listing, statuses="only this status", repeatable=False)
    listing.add_argument(
        "--since", action=_Once, help="started since: RFC 3339 time or duration (5m, 1h30m)"
    )
    listing.add_argument("--query", action=_Once, help="search id, app name and action name")
    listing.add_argument(
        "--limit", type=int_at_least(1), default=100, metavar="N", help="page size, 1-100"
    )
    listing.add_argument(
        "--max-items",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="stop after this many invocations",
    )
    listing.add_argument(
        "--prefetch",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="a fixed number of pages in flight (1 walks sequentially; at most --connections)"
        "; without it the window adapts to the latency it measures",
    )
    listing.add_argument(
        "--max-prefetch",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help=f"the most pages an adaptive window has in flight (default: {DEFAULT_MAX_PREFETCH}"
        ", or --connections if lower)",
    )
    _add_client_flags(listing)
    listing.add_argument(
        "--output",
        "-o",
        choices=("table", "jsonl", "json"),
        default=None,
        help=(
            "table (the default on a terminal), jsonl (the default otherwise: one invocation "
            "per line) or json (one array, streamed: closed even when interrupted)"
        ),
    )
    _add_terminal_and_source_flags(listing, verb="list")
    listing.set_defaults(flags=_flags_by_parameter(listing))


def _add_watch(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    watch = actions.add_parser(
        "watch",
        help="follow invocations as they start, change status and go (like tail -f)",
        formatter_class=_HelpFormatter,
        description=(
            "Follow invocations as they start, change status and go, until interrupted: "
            "one row per event on a terminal (with a status line on stderr), one JSON object "
            "per event and line otherwise. Uses KERNEL_API_KEY and KERNEL_BASE_URL; "
            "--emulator watches a local emulator whose invocations start, run and finish."
        ),
    )
    _add_filters(
        watch,
        statuses="only events of invocations in this status, or leaving it (repeat it for several)",
        repeatable=True,
    )
    watch.add_argument(
        "--since",
        action=_Once,
        help="first report every invocation started since then (RFC 3339 time or duration); "
        "without it, only what starts or moves from now on",
    )
    watch.add_argument("--query", action=_Once, help="search id, app name and action name")
    watch.add_argument(
        "--interval",
        type=seconds(positive=False),
        default=DEFAULT_WATCH_INTERVAL,
        metavar="SECONDS",
        help="seconds between two polls (longer while the server pushes back)",
    )
    watch.add_argument(
        "--lookback",
        type=seconds(positive=False),
        default=DEFAULT_WATCH_LOOKBACK,
        metavar="SECONDS",
        help="how long before the newest invocation seen a poll looks, for ones listed late",
    )
    watch.add_argument(
        "--max-events",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="stop after this many events (default: run until interrupted)",
    )
    watch.add_argument(
        "--give-up-after",
        type=seconds(positive=False),
        default=None,
        metavar="SECONDS",
        help="end the watch (exit 1) once the server has been unavailable this long; 0: at the "
        "first poll that fails (default: wait for it as long as it takes)",
    )
    watch.add_argument(
        "--limit", type=int_at_least(1), default=100, metavar="N", help="page size, 1-100"
    )
    _add_client_flags(watch)
    watch.add_argument(
        "--output",
        "-o",
        choices=("table", "jsonl"),
        default=None,
        help="table (the default on a terminal) or jsonl (the default otherwise)",
    )
    _add_terminal_and_source_flags(watch, verb="watch")
    watch.set_defaults(flags=_flags_by_parameter(watch))


class _Once(argparse.Action):
    """Stores a filter's value, and refuses the flag given twice.

    ``--app a --app b`` reads as "either", but argparse would keep ``b`` and drop ``a``
    without a word. The API takes one value of each filter per request, so a second one is a
    usage error that names the flag. ``advice`` says what to do instead.
    """

    def __init__(
        self, *args: Any, advice: str = "run the command once for each", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.default is not None:
            raise TypeError("a flag given once has no default: None tells it was not given")
        self._advice = advice

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given = getattr(namespace, self.dest, None)
        if given is not None:
            raise argparse.ArgumentError(
                self,
                f"given twice ({given!r}, then {values!r}), and the API takes one per "
                f"request: {self._advice}",
            )
        setattr(namespace, self.dest, values)


_FILTERS = ("app_name", "version", "action_name", "deployment_id", "status", "since", "query")


def filters_of(args: argparse.Namespace) -> dict[str, Any]:
    """The filter flags, as the keyword arguments ``list()`` and ``watch()`` both take."""
    return {name: getattr(args, name) for name in _FILTERS}


def _add_filters(parser: argparse.ArgumentParser, *, statuses: str, repeatable: bool) -> None:
    # Flag names follow the Kernel CLI's `kernel invoke history`; each flag's dest is the
    # library's name of the parameter it sets (see _flags_by_parameter).
    parser.add_argument("--app", dest="app_name", action=_Once, help="only this app")
    parser.add_argument("--action", dest="action_name", action=_Once, help="only this action")
    parser.add_argument("--version", dest="version", action=_Once, help="only this app version")
    parser.add_argument(
        "--deployment-id", dest="deployment_id", action=_Once, help="only this deployment"
    )
    choices = [s.value for s in InvocationStatus]
    if repeatable:
        # A watch filters the statuses itself, so it takes several (see its docs).
        parser.add_argument("--status", choices=choices, action="append", help=statuses)
    else:
        parser.add_argument(
            "--status",
            choices=choices,
            action=_Once,
            advice="list one status at a time, or follow several with `invocations watch`",
            help=statuses,
        )


def _add_client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connections",
        dest="max_connections",
        type=int_at_least(1),
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="requests at once (the connection pool's size)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds(positive=True),
        default=None,
        metavar="SECONDS",
        help=(
            "seconds one attempt may take, and the longest silence within it "
            f"(default: {DEFAULT_TIMEOUT_TOTAL:g} per attempt, at most {DEFAULT_TIMEOUT_READ:g} "
            f"of silence, {DEFAULT_TIMEOUT_CONNECT:g} to connect)"
        ),
    )
    parser.add_argument(
        "--retries",
        dest="max_retries",
        type=int_at_least(0),
        default=DEFAULT_MAX_RETRIES,
        metavar="N",
        help="retries of a failed request (0 disables them)",
    )


def _add_terminal_and_source_flags(parser: argparse.ArgumentParser, *, verb: str) -> None:
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the status (auto: only on a terminal, and not with NO_COLOR)",
    )
    parser.add_argument(
        "--base-url", help="API base URL (default: KERNEL_BASE_URL, then the official API)"
    )
    demo = "demo data that changes as you watch" if verb == "watch" else "demo data"
    parser.add_argument(
        "--emulator",
        action="store_true",
        help=f"{verb} {demo} from an in-process emulator instead (no key needed)",
    )
    parser.add_argument(
        "--emulator-count",
        type=demo_count,
        default=None,
        metavar="N",
        help=f"with --emulator: how many demo invocations, at most {EMULATOR_MAX_COUNT} "
        f"(default: {EMULATOR_DEMO_COUNT})",
    )
    parser.add_argument(
        "--emulator-latency",
        type=seconds(positive=False),
        default=None,
        metavar="SECONDS",
        help="with --emulator: seconds the emulator takes per request (default: 0)",
    )


def _flags_by_parameter(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each flag by its dest, which is the library's name of the parameter it sets.

    ``app_name``: ``--app``. The library's complaints about an argument are said with the
    flag (``kernel_async._cli_messages``).
    """
    return {
        action.dest: next(o for o in action.option_strings if o.startswith("--"))
        for action in parser._actions  # argparse has no public list of a parser's flags
        if action.dest != "help" and any(o.startswith("--") for o in action.option_strings)
    }


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kernel-async",
        description="List or watch Kernel invocations, or run a local Kernel API emulator.",
    )
    parser.add_argument("--version", action="version", version=f"kernel-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    invocations = commands.add_parser("invocations", help="work with invocations")
    actions = invocations.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_listing(actions)
    _add_watch(actions)

    emulator = commands.add_parser(
        "emulator",
        help="serve the Kernel API emulator on 127.0.0.1",
        formatter_class=_HelpFormatter,
        description="Serve the Kernel API emulator on 127.0.0.1 until interrupted.",
    )
    if "emulator" in argv:
        # Its flags name the emulator's kinds of churn, which take importing the emulator:
        # only when the command line may use them (another command never parses them).
        _add_emulator_flags(emulator)
    return parser


def _add_emulator_flags(emulator: argparse.ArgumentParser) -> None:
    from kernel_async.testing._live import Churn

    emulator.add_argument("--port", type=port, default=8787, help="port; 0 picks a free one")
    emulator.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the demo data")
    emulator.add_argument(
        "--count",
        type=demo_count,
        default=EMULATOR_DEMO_COUNT,
        metavar="N",
        help=f"how many invocations, at most {EMULATOR_MAX_COUNT}",
    )
    emulator.add_argument(
        "--latency",
        type=seconds(positive=False),
        default=0.0,
        metavar="SECONDS",
        help="seconds per request",
    )
    emulator.add_argument(
        "--churn",
        type=seconds(positive=False),
        default=0.0,
        metavar="RATE",
        help="live data: changes to the data per response, on average (seeded by --seed)",
    )
    emulator.add_argument(
        "--churn-kinds",
        type=churn_kinds,
        default=None,
        metavar="KINDS",
        help=f"with --churn: a comma-separated list of {', '.join(Churn)} (default: all)",
    )
    emulator.add_argument(
        "--rate-limit",
        type=seconds(positive=True),
        default=None,
        metavar="RPS",
        help="answer at most this many requests a second; the rest get 429 with Retry-After",
    )
    emulator.add_argument(
        "--reorder",
        action="store_true",
        help="answer concurrent requests in a seeded random order, each from the data at its turn",
    )
