"""The ``kernel-async`` command: list invocations, or serve the local emulator.

Exit codes: 0 success, 1 an API or connection error (one line, request id included), or an
emulator that cannot listen, 2 a usage or configuration error, 130 interrupted (Ctrl-C, no
traceback).

Everything printed for a terminal that came from a server (table cells, error messages) goes
through :func:`~kernel_async._table.printable`: the server does not drive the terminal.

Start-up: the arguments are parsed with nothing imported but :mod:`argparse` and plain
defaults (``kernel_async._defaults``); what a command needs (asyncio, the client, aiohttp, the
emulator) is imported once it runs, so ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, TextIO

from kernel_async._cli_terminal import (
    EMULATOR_DEMO_COUNT,
    JSONArray,
    StatusLine,
    UsageError,
    open_client,
    terminal_width,
    use_colour,
)
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

if TYPE_CHECKING:
    from kernel_async.testing._live import Churn

__all__ = ["main"]


class _ServeError(Exception):
    """The emulator could not start; exit 1 with the message."""


def _int_at_least(lowest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be >= {lowest}, got {value}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def _seconds(*, positive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (value > 0 if positive else value >= 0) or value == float("inf"):
            bound = "> 0" if positive else ">= 0"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
        return value

    return parse


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
    _add_filters(listing, statuses="only this status")
    listing.add_argument("--since", help="started since: RFC 3339 time or duration (5m, 1h30m)")
    listing.add_argument("--query", help="search id, app name and action name")
    listing.add_argument(
        "--limit", type=_int_at_least(1), default=100, metavar="N", help="page size, 1-100"
    )
    listing.add_argument(
        "--max-items",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="stop after this many invocations",
    )
    listing.add_argument(
        "--prefetch",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="a fixed number of pages in flight (1 walks sequentially; at most --connections)"
        "; without it the window adapts to the latency it measures",
    )
    listing.add_argument(
        "--max-prefetch",
        type=_int_at_least(1),
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
    )
    watch.add_argument(
        "--since",
        help="first report every invocation started since then (RFC 3339 time or duration); "
        "without it, only what starts or moves from now on",
    )
    watch.add_argument("--query", help="search id, app name and action name")
    watch.add_argument(
        "--interval",
        type=_seconds(positive=False),
        default=DEFAULT_WATCH_INTERVAL,
        metavar="SECONDS",
        help="seconds between two polls (longer while the server pushes back)",
    )
    watch.add_argument(
        "--lookback",
        type=_seconds(positive=False),
        default=DEFAULT_WATCH_LOOKBACK,
        metavar="SECONDS",
        help="how long before the newest invocation seen a poll looks, for ones listed late",
    )
    watch.add_argument(
        "--max-events",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="stop after this many events (default: run until interrupted)",
    )
    watch.add_argument(
        "--limit", type=_int_at_least(1), default=100, metavar="N", help="page size, 1-100"
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


def _add_filters(parser: argparse.ArgumentParser, *, statuses: str) -> None:
    # Flag names follow the Kernel CLI's `kernel invoke history`.
    parser.add_argument("--app", dest="app_name", help="only this app")
    parser.add_argument("--action", dest="action_name", help="only this action")
    parser.add_argument("--version", dest="version", help="only this app version")
    parser.add_argument("--deployment-id", dest="deployment_id", help="only this deployment")
    watching = parser.prog.endswith(" watch")
    parser.add_argument(
        "--status",
        choices=[s.value for s in InvocationStatus],
        action="append" if watching else "store",
        help=statuses,
    )


def _add_client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connections",
        type=_int_at_least(1),
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="requests at once (the connection pool's size)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds(positive=True),
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
        type=_int_at_least(0),
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
        type=_int_at_least(0),
        default=None,
        metavar="N",
        help=f"with --emulator: how many demo invocations (default: {EMULATOR_DEMO_COUNT})",
    )
    parser.add_argument(
        "--emulator-latency",
        type=_seconds(positive=False),
        default=None,
        metavar="SECONDS",
        help="with --emulator: seconds the emulator takes per request (default: 0)",
    )


def _build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
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

    emulator.add_argument("--port", type=_port, default=8787, help="port; 0 picks a free one")
    emulator.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the demo data")
    emulator.add_argument(
        "--count",
        type=_int_at_least(0),
        default=EMULATOR_DEMO_COUNT,
        metavar="N",
        help="how many invocations",
    )
    emulator.add_argument(
        "--latency",
        type=_seconds(positive=False),
        default=0.0,
        metavar="SECONDS",
        help="seconds per request",
    )
    emulator.add_argument(
        "--churn",
        type=_seconds(positive=False),
        default=0.0,
        metavar="RATE",
        help="live data: changes to the data per response, on average (seeded by --seed)",
    )
    emulator.add_argument(
        "--churn-kinds",
        type=_churn_kinds,
        default=None,
        metavar="KINDS",
        help=f"with --churn: a comma-separated list of {', '.join(Churn)} (default: all)",
    )
    emulator.add_argument(
        "--rate-limit",
        type=_seconds(positive=True),
        default=None,
        metavar="RPS",
        help="answer at most this many requests a second; the rest get 429 with Retry-After",
    )
    emulator.add_argument(
        "--reorder",
        action="store_true",
        help="answer concurrent requests in a seeded random order, each from the data at its turn",
    )


def _churn_kinds(text: str) -> list[Churn]:
    from kernel_async.testing._live import Churn

    try:
        return [Churn(kind.strip()) for kind in text.split(",") if kind.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of {', '.join(Churn)}: {text!r}") from None


def _check_source_flags(args: argparse.Namespace) -> None:
    if args.emulator and args.base_url is not None:
        raise UsageError("--base-url and --emulator cannot be used together")
    if not args.emulator:
        for flag, value in (
            ("--emulator-count", args.emulator_count),
            ("--emulator-latency", args.emulator_latency),
        ):
            if value is not None:
                raise UsageError(f"{flag} needs --emulator")


def _check_listing_flags(args: argparse.Namespace) -> None:
    _check_source_flags(args)
    for flag, value in (("--prefetch", args.prefetch), ("--max-prefetch", args.max_prefetch)):
        if value is not None and value > args.connections:
            raise UsageError(
                f"{flag} {value} is more than --connections {args.connections}; "
                "raise --connections as well"
            )
    if args.prefetch is not None and args.max_prefetch is not None:
        raise UsageError("--max-prefetch bounds the adaptive window; --prefetch fixes it")


class _Progress:
    """Invocations and pages listed so far, for the status line."""

    def __init__(self) -> None:
        self.items = self.pages = 0

    def page(self, items: int) -> None:
        self.items += items
        self.pages += 1

    def describe(self) -> str:
        pages = f"{self.pages:,} page" + ("s" if self.pages != 1 else "")
        return f"{self.items:,} invocations, {pages}"


async def _list_invocations(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    import json

    from kernel_async._table import TableLayout, render_header, render_row

    _check_listing_flags(args)
    output = args.output or ("table" if out.isatty() else "jsonl")
    async with open_client(args) as client:
        # Arguments are checked here, before the first request.
        listing = client.invocations.list(
            app_name=args.app_name,
            version=args.version,
            action_name=args.action_name,
            deployment_id=args.deployment_id,
            status=args.status,
            since=args.since,
            query=args.query,
            limit=args.limit,
            prefetch=args.prefetch,
            max_prefetch=args.max_prefetch,
            max_items=args.max_items,
        )
        progress = _Progress()
        status = StatusLine(err, progress.describe)
        layout = TableLayout.for_width(terminal_width())
        colour = use_colour(args.color, out)
        with ExitStack() as cleanup:
            # Exits run in reverse: the progress line is erased before the array is closed.
            array = cleanup.enter_context(JSONArray(out)) if output == "json" else None
            cleanup.callback(status.clear)
            cleanup.enter_context(status.retries_shown())
            if output == "table":
                out.write(render_header(layout) + "\n")
            async with listing:
                async for page in listing.pages():
                    progress.page(len(page))
                    status.clear()  # before a row goes to the same terminal
                    if array is not None:
                        array.write(page.items)
                    elif output == "table":
                        lines = [render_row(i, layout, colour=colour) for i in page]
                        out.write("".join(line + "\n" for line in lines))
                    else:
                        out.write("".join(json.dumps(i.to_dict()) + "\n" for i in page))
                    out.flush()
                    status.show()


async def _serve_emulator(args: argparse.Namespace, out: TextIO) -> None:
    import asyncio

    from kernel_async.testing._emulator import KernelEmulator
    from kernel_async.testing._live import LiveData

    live = None
    if args.churn or args.reorder:
        kinds = dict.fromkeys(args.churn_kinds, 1.0) if args.churn_kinds else None
        live = LiveData(seed=args.seed, rate=args.churn, kinds=kinds, reorder=args.reorder)
    emulator = KernelEmulator(
        count=args.count,
        seed=args.seed,
        latency=args.latency,
        port=args.port,
        live=live,
        rate_limit=args.rate_limit,
    )
    try:
        await emulator.start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _ServeError(f"cannot serve on 127.0.0.1:{args.port}: {reason}") from None
    try:
        out.write(
            f"Kernel API emulator serving {args.count} invocations at {emulator.url}\n"
            f"  export KERNEL_BASE_URL={emulator.url}\n"
            f"  export KERNEL_API_KEY={emulator.api_key}\n"
            "Press Ctrl-C to stop.\n"
        )
        out.flush()
        await asyncio.Event().wait()
    finally:
        await emulator.close()


def _fail(message: str) -> None:
    from kernel_async._table import printable

    print(f"kernel-async: {printable(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    args = _build_parser(arguments).parse_args(arguments)
    # Parsed: now what the commands need (see the module docs).
    import asyncio

    from kernel_async._errors import KernelError

    out = sys.stdout
    try:
        if args.command == "emulator":
            asyncio.run(_serve_emulator(args, out))
        elif args.action == "watch":
            from kernel_async._cli_watch import watch_invocations

            _check_source_flags(args)
            asyncio.run(watch_invocations(args, out, sys.stderr))
        else:
            asyncio.run(_list_invocations(args, out, sys.stderr))
    except KeyboardInterrupt:
        return 130
    except (UsageError, ValueError, TypeError) as exc:
        _fail(f"error: {exc}")
        return 2
    except _ServeError as exc:
        _fail(f"error: {exc}")
        return 1
    except KernelError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
        return 1
    except BrokenPipeError:
        # `kernel-async ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
