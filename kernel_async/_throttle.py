"""The client's answer to "slow down": the shared backoff, and the requests let out after it.

A ``429`` or a ``503`` says the server wants fewer requests from this key (a ``503`` without
``Retry-After`` as much as one with it: it is overloaded or down). Every request of the
client then waits until the time the server asked for, or the backoff's (the shared
backoff, :attr:`Throttle.until`). Released together after the wait, requests that were in
flight at once would all be pushed back again, each spending a retry of its own: against a
server that takes two requests a second, a walk with eight pages in flight ran three of them
out of retries within two seconds (review r11), where a walk of one page at a time finished.
So after a pushback:

* the client's requests go **one at a time**, for as long again as the server asked to
  wait, then one more at once after each page that comes back, up to
  :attr:`Throttle.ceiling` (the connection limit), where the limit is lifted;
* a request that was pushed back goes before those that were not (most retries first), and
  none is let out before :attr:`Throttle.until` (a request waiting for its turn is not sent,
  and spends no retry);
* a request let out after a page came back since the last pushback is a **probe** of how
  many the server takes: a pushback on it spends none of its retries. The first let out
  after a pushback is not a probe, so each round between two pushbacks either gets a page
  or spends a retry: a server that takes nothing still ends every request.

:class:`Throttle` is plain state and decisions (:meth:`~Throttle.pushed_back`,
:meth:`~Throttle.answered`, :meth:`~Throttle.probing`), tested without a loop; the waiting
is :meth:`~Throttle.turn`, a thin layer over futures.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Final

__all__ = ["PastDeadline", "Throttle"]

_AFTER_PUSHBACK: Final = 1  # requests at once right after a pushback: one, as a sequential walk


class PastDeadline(Exception):
    """A request's deadline comes before the time the server asked this client to wait."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until


class Throttle:
    """The shared backoff and the limit on requests at once after it (see the module docs).

    Attributes:
        until: Loop time until which no request is sent (0: none asked for).
        sequential_until: Loop time until which requests go one at a time after a pushback.
        pushbacks: "Slow down" answers so far (adaptive walks halve their window on each).
        limit: Requests that may be sent at once now; ``None`` when there is no limit (no
            pushback yet, or the limit grew back to the ceiling).
        ceiling: The limit at which the limit is lifted.
    """

    __slots__ = (
        "_counter",
        "_queue",
        "answers_since_pushback",
        "ceiling",
        "limit",
        "pushbacks",
        "sending",
        "sequential_until",
        "until",
    )

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError(f"ceiling must be >= 1, got {ceiling}")
        self.until = 0.0
        self.sequential_until = 0.0
        self.answers_since_pushback = 0  # pages back since the last pushback
        self.pushbacks = 0
        self.limit: int | None = None
        self.ceiling = ceiling
        self.sending = 0  # requests let out and not yet done
        # Waiting for a turn: (-retries done, arrival, future, deadline), most retries first.
        self._queue: list[tuple[int, int, asyncio.Future[None], float]] = []
        self._counter = itertools.count()

    # -- decisions (no I/O) --------------------------------------------------------------

    def pushed_back(self, resume_at: float, now: float) -> None:
        """The server said "slow down": nothing before ``resume_at``, then one at a time.

        One at a time for as long again as the server asked to wait, at least: a server
        that counts requests per second pushes back on a burst however few are at once,
        and a request it answers in a millisecond frees its place at once.
        """
        self.until = max(self.until, resume_at)
        self.sequential_until = max(self.sequential_until, resume_at + (resume_at - now))
        self.pushbacks += 1
        self.limit = _AFTER_PUSHBACK
        self.answers_since_pushback = 0
        self._fail_past(self.until)

    def probing(self) -> bool:
        """Whether a request let out now is a probe: a pushback on it spends no retry.

        That is one let out under the limit after a page came back since the last
        pushback: it tests whether the server takes one more. The first let out after a
        pushback is not, so each round between two pushbacks spends a retry or gets a
        page, and a server that never takes one more still ends every request.
        """
        return self.limit is not None and self.answers_since_pushback > 0

    def answered(self, now: float) -> None:
        """A page came back: after the time of one at a time, one more may be out at once.

        Up to the ceiling, where the limit is lifted.
        """
        self.answers_since_pushback += 1
        if self.limit is None or now < self.sequential_until:
            return
        self.limit += 1
        if self.limit >= self.ceiling:
            self.limit = None
        self._wake()

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn."""
        return len(self._queue)

    # -- waiting (thin) ------------------------------------------------------------------

    async def turn(self, retries: int, deadline_at: float = math.inf) -> None:
        """Wait for a place under the limit, then count the request as sent: :meth:`done` after.

        ``retries``: how many times it was tried already (the most go first). The shared
        backoff's time is waited before this (the caller sleeps until :attr:`until`, and
        can stop at a deadline or when the client closes); requests whose sleep ends at the
        same moment all join the queue before any is let out, so that the order holds.

        Raises:
            PastDeadline: :attr:`until` is at or past ``deadline_at``, now or once a pushback
                moves it while this waits: raised then, not at the deadline.
            BaseException: what :meth:`abort` makes, when it is called meanwhile.
        """
        if self.limit is None and not self._queue:
            self.sending += 1  # the common case: no limit, nothing waiting
            return
        if self.until >= deadline_at:
            raise PastDeadline(self.until)
        loop = asyncio.get_running_loop()
        place = loop.create_future()
        heapq.heappush(self._queue, (-retries, next(self._counter), place, deadline_at))
        # Soon, not now: requests whose sleep ends at this moment join the queue first.
        loop.call_soon(self._wake)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                self.done()  # let out just as it was cancelled: the place goes to the next
            else:
                self._forget(place)
            raise

    def done(self) -> None:
        """A request let out by :meth:`turn` has its answer (or failed): a place is free."""
        self.sending -= 1
        self._wake()

    def abort(self, error: Callable[[], BaseException]) -> None:
        """End every wait for a turn with a new ``error()`` (the client closed: none is sent)."""
        queue, self._queue = self._queue, []
        for _, _, place, _ in queue:
            if not place.done():
                place.set_exception(error())

    def _fail_past(self, until: float) -> None:
        """End the waits whose deadline comes before ``until``: they could not be sent."""
        kept = []
        for entry in self._queue:
            place, deadline_at = entry[2], entry[3]
            if deadline_at <= until and not place.done():
                place.set_exception(PastDeadline(until))
            elif not place.done():
                kept.append(entry)
        if len(kept) < len(self._queue):
            heapq.heapify(kept)
            self._queue = kept

    def _wake(self) -> None:
        """Let out waiting requests, most retries first, while the limit and the time allow.

        Not before :attr:`until`: a request pushed back while others wait sets it, and one
        let out then would only be pushed back too, spending a retry of its own. (One timer
        per early wake: an extra wake finds nothing to do.)
        """
        queue = self._queue
        if not queue:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self.until:
            loop.call_at(self.until, self._wake)
            return
        while queue and (self.limit is None or self.sending < self.limit):
            place = heapq.heappop(queue)[2]
            if place.done() or place.get_loop() is not loop:
                continue  # cancelled while waiting, or left by an event loop now gone
            self.sending += 1
            place.set_result(None)

    def _forget(self, place: asyncio.Future[None]) -> None:
        self._queue = [entry for entry in self._queue if entry[2] is not place]
        heapq.heapify(self._queue)
