"""``kernel-async invocations watch``: invocations as they start and change, like ``tail -f``.

On a terminal, one table row per event (what happened, the status before, the invocation) and
a status line on stderr that says how the watch is doing; in a pipe, one JSON object per
event and line. It runs until interrupted (Ctrl-C: exit 130), or ``--max-events``. With
``--emulator``, the emulator's live mode starts, runs and finishes invocations meanwhile.

Like ``tail -f``, it outlives the server going away: a poll that fails, after the client's
retries, for a reason that may pass (what the client itself retries: the server down or
restarting, a timeout, a 429 or 5xx) is said in one line, waited out with a backoff, and
polled again on the same watch, which then reports what moved meanwhile (a failed poll
changed nothing it remembers: see :class:`~kernel_async._watch.InvocationWatch`). What
another poll would not fix (a 401, a 400, a redirect) ends the command as before, and so
does an outage longer than ``--give-up-after``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

from kernel_async._cli_messages import error_line
from kernel_async._cli_terminal import (
    Output,
    StatusLine,
    arguments_checked,
    counted,
    open_client,
    terminal_width,
    use_colour,
)
from kernel_async._errors import KernelError
from kernel_async._retry import RetryPolicy, backoff_delay, worth_retrying

if TYPE_CHECKING:
    from kernel_async._watch import InvocationWatch
    from kernel_async._watch_state import InvocationEvent

__all__ = ["watch_invocations"]

EMULATOR_CHANGES_PER_REQUEST = 0.5
"""With ``--emulator``: how busy the demo is (each request the watch sends moves it on)."""

EMULATOR_CHURN = {"head_insert": 1.0, "status_change": 2.0, "delete": 0.05}
"""With ``--emulator``: invocations start, run and finish; now and then one is deleted."""


OUTAGE_BACKOFF = RetryPolicy(initial_delay=1.0, max_delay=30.0)
"""The waits between polls while the server stays unavailable: from 1 s (each poll has had
the client's retries already, 1.5 s with the defaults), doubling, to 30 s, so that a long
outage costs two polls a minute and the watch is back within 30 s of the server. Less up to a
quarter at random, so that the watches of a fleet that lost the server together do not come
back together. Never shorter than ``--interval``, nor than the server's ``Retry-After``."""


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
        self.waiting_for_server = False  # then the status line says why (StatusLine.say)

    def describe(self) -> str:
        watch = self._watch
        polls, events = counted(watch.polls, "poll"), counted(self.events, "event")
        text = f"watching: {polls}, {events}, {len(watch.in_flight):,} in flight"
        if self.waiting_for_server:
            return text
        if self.next_poll >= 1:
            return text + f"; next poll in {self.next_poll:.0f}s"
        return text + "; polling"


class _Outage:
    """Polls that failed in a row for a reason another poll may not have (see the module)."""

    def __init__(self, give_up_after: float | None) -> None:
        self._give_up_after = give_up_after  # seconds; None: never
        self._started: float | None = None  # when the first of them failed
        self._failures = 0

    def wait_after(self, error: BaseException, interval: float) -> float | None:
        """Seconds to wait before polling again; ``None``: ``error`` ends the watch.

        ``interval``: the watch's own wait before its next poll (``--interval``, longer after
        the server pushed back, as long as its ``Retry-After``).
        """
        if not worth_retrying(error):
            return None
        now = time.monotonic()
        if self._started is None:
            self._started = now
        lasted = now - self._started
        if self._give_up_after is not None and lasted >= self._give_up_after:
            return None
        jitter = random.random()  # noqa: S311 - jitter, not secrets
        wait = backoff_delay(self._failures, OUTAGE_BACKOFF, random=jitter)
        self._failures += 1
        wait = max(wait, interval)
        if self._give_up_after is not None:
            wait = min(wait, self._give_up_after - lasted)  # a last poll when the time is up
        return wait

    def end(self) -> float | None:
        """A poll succeeded: how long the outage lasted (``None``: there was none)."""
        started, self._started, self._failures = self._started, None, 0
        return None if started is None else time.monotonic() - started


def _seconds(seconds: float) -> str:
    """``2s``; under a second, ``0.4s``."""
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"


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
        outage = _Outage(args.give_up_after)
        with ExitStack() as cleanup:
            cleanup.callback(status.clear)
            cleanup.enter_context(status.retries_shown())
            async with watch:
                while True:
                    started = time.monotonic()
                    progress.next_poll = 0.0
                    progress.waiting_for_server = False
                    status.show()
                    # One poll at a time (not `async for`), so that the status line moves
                    # on with each poll, events or not.
                    try:
                        events = await watch.poll()
                    except KernelError as error:
                        wait = outage.wait_after(error, watch.interval)
                        if wait is None:
                            raise
                        why = error_line(error, base_url_from=None, ellipsis=err.ellipsis)
                        progress.waiting_for_server = True
                        status.say(f"server unavailable, trying again in {_seconds(wait)}: {why}")
                        await asyncio.sleep(wait)
                        continue  # the same watch, polled again from where it was
                    lasted = outage.end()
                    if lasted is not None:
                        status.say(f"server answers again after {_seconds(lasted)}; watching on")
                    for event in events:
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
