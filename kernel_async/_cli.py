"""The ``kernel-async`` command: list invocations, or serve the local emulator.

Exit codes: 0 success, 1 an API or connection error (one line, request id included), 2 a usage
or configuration error, 130 interrupted (Ctrl-C, no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TextIO

from kernel_async._client import AsyncKernel
from kernel_async._errors import KernelError, MissingAPIKeyError
from kernel_async._invocations import DEFAULT_PREFETCH
from kernel_async._models import InvocationStatus
from kernel_async._table import TableLayout, render_header, render_row
from kernel_async._version import __version__
from kernel_async.testing._emulator import KernelEmulator

__all__ = ["main"]

_EMULATOR_DEMO_COUNT = 250


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kernel-async",
        description="List Kernel invocations, or run a local Kernel API emulator.",
    )
    parser.add_argument("--version", action="version", version=f"kernel-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    invocations = commands.add_parser("invocations", help="work with invocations")
    actions = invocations.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="list invocations, newest first",
        description=(
            "List invocations, newest first: a table on a terminal, JSON lines otherwise. "
            "Uses KERNEL_API_KEY and KERNEL_BASE_URL; --emulator lists demo data from a "
            "local emulator instead."
        ),
    )
    # Flag names follow the Kernel CLI's `kernel invoke history` (FACTS.md).
    listing.add_argument("--app", dest="app_name", help="only this app")
    listing.add_argument("--action", dest="action_name", help="only this action")
    listing.add_argument("--version", dest="version", help="only this app version")
    listing.add_argument("--deployment-id", dest="deployment_id", help="only this deployment")
    listing.add_argument(
        "--status", choices=[s.value for s in InvocationStatus], help="only this status"
    )
    listing.add_argument("--since", help="started since: RFC 3339 time or duration (5m, 1h30m)")
    listing.add_argument("--query", help="search id, app name and action name")
    listing.add_argument(
        "--limit", type=_positive_int, default=100, help="page size, 1-100 (default 100)"
    )
    listing.add_argument(
        "--max-items", type=_positive_int, default=None, help="stop after this many invocations"
    )
    listing.add_argument(
        "--prefetch",
        type=_positive_int,
        default=DEFAULT_PREFETCH,
        help=f"pages in flight at once (default {DEFAULT_PREFETCH}; 1 walks sequentially)",
    )
    listing.add_argument(
        "--output",
        "-o",
        choices=("table", "jsonl", "json"),
        default=None,
        help="output format (default: table on a terminal, JSON lines otherwise)",
    )
    listing.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the status (default: only on a terminal, and not with NO_COLOR)",
    )
    listing.add_argument("--base-url", help="API base URL (default: KERNEL_BASE_URL or the API)")
    listing.add_argument(
        "--emulator",
        action="store_true",
        help=f"list from an in-process emulator with {_EMULATOR_DEMO_COUNT} demo invocations",
    )

    emulator = commands.add_parser(
        "emulator",
        help="serve the Kernel API emulator on 127.0.0.1",
        description="Serve the Kernel API emulator on 127.0.0.1 until interrupted.",
    )
    emulator.add_argument("--port", type=int, default=8787, help="port (0 picks a free one)")
    emulator.add_argument("--seed", type=int, default=0, help="seed of the demo data")
    emulator.add_argument(
        "--count", type=int, default=_EMULATOR_DEMO_COUNT, help="how many invocations"
    )
    emulator.add_argument(
        "--latency", type=_non_negative_float, default=0.0, help="seconds per request"
    )
    return parser


@asynccontextmanager
async def _open_client(args: argparse.Namespace) -> AsyncIterator[AsyncKernel]:
    if args.emulator:
        async with (
            KernelEmulator(count=_EMULATOR_DEMO_COUNT, seed=0) as emulator,
            emulator.client() as client,
        ):
            yield client
    else:
        async with AsyncKernel(base_url=args.base_url) as client:
            yield client


def _use_colour(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


class _Progress:
    """Items and pages so far, on one line of stderr, when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._enabled = stream.isatty()
        self.items = self.pages = 0

    def page(self, items: int) -> None:
        self.items += items
        self.pages += 1
        if self._enabled:
            pages = f"{self.pages:,} page" + ("s" if self.pages != 1 else "")
            self._stream.write(f"\r\x1b[K{self.items:,} invocations, {pages}")
            self._stream.flush()

    def clear(self) -> None:
        if self._enabled and self.pages:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


async def _list_invocations(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    output = args.output or ("table" if out.isatty() else "jsonl")
    async with _open_client(args) as client:
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
            max_items=args.max_items,
        )
        progress = _Progress(err)
        layout = TableLayout.for_width(shutil.get_terminal_size((120, 24)).columns)
        colour = _use_colour(args.color, out)
        rows: list[dict[str, str | None]] = []
        try:
            async with listing:
                if output == "table":
                    out.write(render_header(layout) + "\n")
                async for page in listing.pages():
                    progress.page(len(page))
                    if output == "table":
                        lines = [render_row(i, layout, colour=colour) for i in page]
                        out.write("".join(line + "\n" for line in lines))
                    elif output == "jsonl":
                        out.write("".join(json.dumps(i.to_dict()) + "\n" for i in page))
                    else:
                        rows.extend(i.to_dict() for i in page)
                    out.flush()
        finally:
            progress.clear()
        if output == "json":
            json.dump(rows, out, indent=2)
            out.write("\n")


async def _serve_emulator(args: argparse.Namespace, out: TextIO) -> None:
    emulator = KernelEmulator(
        count=args.count, seed=args.seed, latency=args.latency, port=args.port
    )
    async with emulator:
        out.write(
            f"Kernel API emulator serving {args.count} invocations at {emulator.url}\n"
            f"  export KERNEL_BASE_URL={emulator.url}\n"
            f"  export KERNEL_API_KEY={emulator.api_key}\n"
            "Press Ctrl-C to stop.\n"
        )
        out.flush()
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        if args.command == "emulator":
            asyncio.run(_serve_emulator(args, out))
        else:
            asyncio.run(_list_invocations(args, out, sys.stderr))
    except KeyboardInterrupt:
        return 130
    except (MissingAPIKeyError, ValueError, TypeError) as exc:
        print(f"kernel-async: error: {exc}", file=sys.stderr)
        return 2
    except KernelError as exc:
        print(f"kernel-async: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `kernel-async ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
