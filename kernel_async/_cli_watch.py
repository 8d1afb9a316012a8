"""``kernel-async invocations watch``: invocations as they start and change, like ``tail -f``.

On a terminal, one table row per event (what happened, the status before, the invocation) and
a status line on stderr that says how the watch is doing; in a pipe, one JSON object per
event and line. It runs until interrupted (Ctrl-C: exit 130), or ``--max-events``. With
``--emulator``, the emulator's live mode starts, runs and finishes invocations meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

from kernel_async._cli_terminal import (
    Output,
    StatusLine,
    arguments_checked,
    counted,
    open_client,
    terminal_width,
    use_colour,
)

if TYPE_CHECKING:
    from kernel_async._watch import InvocationWatch
    from kernel_async._watch_state import InvocationEvent

__all__ = ["watch_invocations"]

EMULATOR_CHANGES_PER_REQUEST = 0.5
"""With ``--emulator``: how busy the demo is (each request the watch sends moves it on)."""

EMULATOR_CHURN = {"head_insert": 1.0, "status_change": 2.0, "delete": 0.05}
"""With ``--emulator``: invocations start, run and finish; now and then one is deleted."""


def event_json(event: InvocationEvent) -> str:
    """One event as a line of JSON: what happened, the status before, the invocation now."""
    previous = event.previous_status
    return json.dumps(
        {
            "event": event.kind.value,
            "previous_status": None if previous is None else str(previous),
            "invocation": event.invocation.to_dict(),
        }
    )


class _Progress:
    """How the watch is doing, for the status line."""

    def __init__(self, watch: InvocationWatch) -> None:
        self._watch = watch
        self.events = 0
        self.next_poll = 0.0  # seconds until the next poll; 0: polling now

    def describe(self) -> str:
        watch = self._watch
        polls, events = counted(watch.polls, "poll"), counted(self.events, "event")
        text = f"watching: {polls}, {events}, {len(watch.in_flight):,} in flight"
        if self.next_poll >= 1:
            return text + f"; next poll in {self.next_poll:.0f}s"
        return text + "; polling"


async def watch_invocations(args: argparse.Namespace, out: Output, err: Output) -> None:
    """Run the command: poll, print each event, and say on stderr how it is going."""
    from kernel_async._cli_args import filters_of
    from kernel_async._table import TableLayout, render_event, render_event_header

    output = args.output or ("table" if out.isatty() else "jsonl")
    live = None
    if args.emulator:
        from kernel_async.testing._live import LiveData

        live = LiveData(seed=0, rate=EMULATOR_CHANGES_PER_REQUEST, kinds=EMULATOR_CHURN)
    async with open_client(args, live=live) as client:
        with arguments_checked(args):  # checked here, before the first request
            watch = client.invocations.watch(
                **filters_of(args),
                limit=args.limit,
                interval=args.interval,
                lookback=args.lookback,
            )
        layout = TableLayout.for_events(terminal_width(), encoding=out.encoding)
        colour = use_colour(args.color, out)
        progress = _Progress(watch)
        status = StatusLine(err, progress.describe)
        if output == "table":
            out.write(render_event_header(layout) + "\n")
            out.flush()
        with ExitStack() as cleanup:
            cleanup.callback(status.clear)
            cleanup.enter_context(status.retries_shown())
            async with watch:
                while True:
                    started = time.monotonic()
                    progress.next_poll = 0.0
                    status.show()
                    # One poll at a time (not `async for`), so that the status line moves
                    # on with each poll, events or not.
                    for event in await watch.poll():
                        status.clear()  # before a row goes to the same terminal
                        if output == "table":
                            wider = layout.fitting_ids([event.invocation.id])
                            if wider is not layout:  # a longer id: its column grows, and the
                                layout = wider  # header of the rows below it is written again
                                out.write(render_event_header(layout) + "\n")
                            out.write(render_event(event, layout, colour=colour) + "\n")
                        else:
                            out.write(event_json(event) + "\n")
                        out.flush()
                        progress.events += 1
                        if progress.events == args.max_events:
                            return
                    if watch.finished:
                        return
                    progress.next_poll = max(watch.interval - (time.monotonic() - started), 0)
                    status.show()
                    await asyncio.sleep(progress.next_poll)
