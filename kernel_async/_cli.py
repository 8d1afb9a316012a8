"""The ``kernel-async`` command: list or watch invocations, or serve the local emulator.

Exit codes: 0 success, 1 an API or connection error (one line, request id included), an
emulator that cannot listen, or output that cannot be written (a full disk, a closed stdout),
2 a usage or configuration error, 130 interrupted (Ctrl-C, no traceback).

Everything printed for a terminal that came from a server (table cells, error messages) goes
through :func:`~kernel_async._text.printable`: the server does not drive the terminal. An
error is one line of reasonable length, however much the server said
(:mod:`kernel_async._cli_messages`).

Start-up: the arguments are parsed (``kernel_async._cli_args``) with nothing imported but
:mod:`argparse` and plain defaults (``kernel_async._defaults``); what a command needs
(asyncio, the client, aiohttp, the emulator) is imported once it runs, so ``--help`` and
usage errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack, suppress

from kernel_async._cli_args import build_parser, filters_of
from kernel_async._cli_checks import (
    check_emulator_flags,
    check_listing_flags,
    check_source_flags,
)
from kernel_async._cli_terminal import (
    JSONArray,
    Output,
    OutputError,
    StatusLine,
    UsageError,
    arguments_checked,
    counted,
    open_client,
    terminal_width,
    use_colour,
)

__all__ = ["main"]


class _ServeError(Exception):
    """The emulator could not start; exit 1 with the message."""


class _Progress:
    """Invocations and pages listed so far, for the status line."""

    def __init__(self) -> None:
        self.items = self.pages = 0

    def page(self, items: int) -> None:
        self.items += items
        self.pages += 1

    def describe(self) -> str:
        return f"{counted(self.items, 'invocation')}, {counted(self.pages, 'page')}"


async def _list_invocations(args: argparse.Namespace, out: Output, err: Output) -> None:
    import json

    from kernel_async._table import TableLayout, render_header, render_row

    check_listing_flags(args)
    output = args.output or ("table" if out.isatty() else "jsonl")
    async with open_client(args) as client:
        with arguments_checked(args):  # checked here, before the first request
            listing = client.invocations.list(
                **filters_of(args),
                limit=args.limit,
                prefetch=args.prefetch,
                max_prefetch=args.max_prefetch,
                max_items=args.max_items,
            )
        progress = _Progress()
        status = StatusLine(err, progress.describe)
        layout = TableLayout.for_width(terminal_width(), encoding=out.encoding)
        headed: TableLayout | None = None  # the layout the last header was written for
        colour = use_colour(args.color, out)
        with ExitStack() as cleanup:
            # Exits run in reverse: the progress line is erased before the array is closed.
            array = cleanup.enter_context(JSONArray(out)) if output == "json" else None
            cleanup.callback(status.clear)
            cleanup.enter_context(status.retries_shown())
            async with listing:
                async for page in listing.pages():
                    progress.page(len(page))
                    status.clear()  # before a row goes to the same terminal
                    if array is not None:
                        array.write(page.items)
                    elif output == "table":
                        # The ID column grows to the page's longest id where there is room.
                        layout = layout.fitting_ids(i.id for i in page)
                        lines = [render_row(i, layout, colour=colour) for i in page]
                        if layout is not headed:  # the first page, or wider ids: the header
                            lines.insert(0, render_header(layout))  # of the rows below it
                            headed = layout
                        out.write("".join(line + "\n" for line in lines))
                    else:
                        out.write("".join(json.dumps(i.to_dict()) + "\n" for i in page))
                    out.flush()
                    status.show()
            if output == "table" and headed is None:  # nothing listed: the header alone
                out.write(render_header(layout) + "\n")


async def _serve_emulator(args: argparse.Namespace, out: Output) -> None:
    import asyncio

    from kernel_async.testing._emulator import KernelEmulator
    from kernel_async.testing._live import LiveData

    check_emulator_flags(args)
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
    """Say ``message`` (one line: see :func:`~kernel_async._cli_messages.one_line`)."""
    if sys.stderr is None:  # `2>&-`: the exit code says it
        return
    with suppress(OSError):  # stderr full or gone: the exit code says it
        print(f"kernel-async: {message}", file=sys.stderr, flush=True)


def _base_url_from(args: argparse.Namespace) -> str | None:
    """The flag or environment variable that gave the base URL; ``None``: the default."""
    if getattr(args, "base_url", None) is not None:
        return "--base-url"
    return "KERNEL_BASE_URL" if os.environ.get("KERNEL_BASE_URL") else None


def _discard_stdout() -> None:
    # What stdout still buffers goes nowhere: Python flushes it on the way out, and a second
    # failure there would print "Exception ignored ..." and exit 120 instead.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    args = build_parser(arguments).parse_args(arguments)
    # Parsed: now what the commands need (see the module docs).
    import asyncio

    from kernel_async._cli_messages import error_line, one_line
    from kernel_async._errors import KernelError

    if sys.stdout is None:  # `>&-`: nowhere to write, so nothing is asked of the API either
        _fail("error: cannot write to stdout: it is closed")
        return 1
    out, err = Output(sys.stdout, "stdout"), Output(sys.stderr, "stderr")
    try:
        if args.command == "emulator":
            asyncio.run(_serve_emulator(args, out))
        elif args.action == "watch":
            from kernel_async._cli_watch import watch_invocations

            check_source_flags(args)
            asyncio.run(watch_invocations(args, out, err))
        else:
            asyncio.run(_list_invocations(args, out, err))
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        _fail(f"error: {one_line(str(exc), ellipsis=err.ellipsis)}")
        return 2
    except (_ServeError, OutputError) as exc:
        _fail(f"error: {one_line(str(exc), ellipsis=err.ellipsis)}")
        if isinstance(exc, OutputError):
            _discard_stdout()
        return 1
    except KernelError as exc:
        _fail(error_line(exc, base_url_from=_base_url_from(args), ellipsis=err.ellipsis))
        return 1
    except BrokenPipeError:
        # `kernel-async ... | head`: the reader left; that is not an error.
        _discard_stdout()
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
