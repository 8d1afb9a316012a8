"""Live data for the emulator: changes while it serves, and answers out of order.

Real invocation lists change during a walk: invocations start (at the head), are reported late
(in the middle), are deleted, and change status (so they enter and leave a ``status``
filter). And a server with several connections answers concurrent requests in no particular
order, each from the data as it was when that request was processed. :class:`LiveData` does
both on a *logical* clock, so a run is reproducible:

* the clock is the number of data responses computed so far (``emulator.served``); changes
  happen between two responses, drawn from a seeded generator (``rate`` per response) or
  scripted by the test (``script={tick: change}``);
* with ``reorder``, concurrent requests are held until no new one arrives (for ``hold_steps``
  turns of the event loop in process, or ``hold`` seconds over TCP) and then answered in a
  seeded random order, each computed from the data at its turn;
* with ``shuffle_ties``, every data response serves each tie (invocations that share a
  ``started_at`` to the nanosecond) in a new seeded random order, as a server that sorts by
  ``started_at`` alone may (SQL promises no order among equal keys). That breaks the stable
  order walks rely on: a walk can no longer be exact. It says so in ``possible_gaps`` once
  it notices, which for a tie of a few invocations is a matter of chance.

In process (``emulator.client(in_memory=True)``), with a fixed ``prefetch`` (the adaptive
window steers by time), nothing depends on timing, so the same seed replays the same walk
exactly; over TCP the changes and the permutation are the same, but which requests are held
together depends on when they arrive.
"""

from __future__ import annotations

import asyncio
import bisect
import enum
import math
import random
import string
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from kernel_async._timestamps import format_rfc3339_nano, rfc3339_to_epoch_ns
from kernel_async.testing._data import generate_invocations
from kernel_async.testing._store import InvocationStore, Record, started_between

__all__ = ["Churn", "LiveData"]

_ID_ALPHABET = string.ascii_lowercase + string.digits


class _Clock(Protocol):
    """The part of the emulator the changes need: its clock."""

    def now(self) -> datetime: ...


class Churn(enum.StrEnum):
    """The kinds of change the generator draws from."""

    HEAD_INSERT = "head_insert"
    """An invocation starts now (by the emulator's clock; just after the newest if the data
    runs past it): it is the newest, so it shifts every later page down by one."""
    MIDDLE_INSERT = "middle_insert"
    """An invocation appears among older ones (reported late)."""
    DELETE = "delete"
    """An invocation is deleted: later pages shift up by one."""
    STATUS_CHANGE = "status_change"
    """A queued one starts running, or a running one succeeds or fails."""


class LiveData:
    """How the emulator's data changes while it serves (see the module docs).

    Args:
        seed: Same seed, same changes and the same answering order.
        rate: Changes per data response, on average (0: none but the scripted ones).
        kinds: The kinds of change to draw, with their weights (default: all four, equally).
        script: Changes the test makes itself, by tick: each is called with the emulator, so
            ``{3: lambda emu: emu.remove_invocation("inv_1")}`` runs after the third data
            response and before the fourth.
        reorder: Hold concurrent requests and answer them in a seeded random order.
        hold: Over TCP, seconds to wait for more requests before answering a held batch.
        hold_steps: In process, event-loop turns to wait for more requests.
        until: Stop the random changes after this tick (``None``: never).
        shuffle_ties: Serve each tie in a new random order at every data response.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        rate: float = 0.0,
        kinds: Mapping[Churn, float] | Mapping[str, float] | None = None,
        script: Mapping[int, Callable[[Any], None]] | None = None,
        reorder: bool = False,
        hold: float = 0.002,
        hold_steps: int = 4,
        until: int | None = None,
        shuffle_ties: bool = False,
    ) -> None:
        if not 0 <= rate < math.inf:
            raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
        # Switches are bools: a truthy "false" would turn one on.
        for name, switch in (("reorder", reorder), ("shuffle_ties", shuffle_ties)):
            if not isinstance(switch, bool):
                raise TypeError(f"{name} must be a bool, not {type(switch).__name__}")
        if not 0 <= hold < math.inf or isinstance(hold_steps, bool) or hold_steps < 0:
            raise ValueError("hold must be a finite number of seconds >= 0, hold_steps an int >= 0")
        try:
            # Churn("delete") is Churn.DELETE: kinds may be given by name, as the CLI does.
            weights = {Churn(kind): weight for kind, weight in (kinds or {}).items()}
        except ValueError:
            raise ValueError(f"kinds must be among {', '.join(Churn)}, got {kinds!r}") from None
        if kinds is None:
            weights = dict.fromkeys(Churn, 1.0)
        if not weights or not all(0 <= w < math.inf for w in weights.values()):
            raise ValueError("kinds' weights must be finite numbers >= 0")
        if not sum(weights.values()):
            raise ValueError("kinds must give at least one kind a positive weight")
        self.seed = seed
        self.rate = rate
        self.kinds = weights
        self.script = dict(script or {})
        self.reorder = reorder
        self.hold = hold
        self.hold_steps = hold_steps
        self.until = until
        self.shuffle_ties = shuffle_ties
        # Its own stream: seeded like the data, it would replay the data's draws (and ids).
        self.random = random.Random(f"live-data|{seed}")  # noqa: S311 - reproducible
        # Another stream for the order of ties: shuffling does not change the changes drawn.
        self._tie_random = random.Random(f"live-data-ties|{seed}")  # noqa: S311
        self._pending: list[asyncio.Future[None]] = []
        self._release: asyncio.Handle | None = None

    # -- changes -----------------------------------------------------------------------------

    def before_response(self, emulator: _Clock, store: InvocationStore) -> None:
        """Make the changes due before the next data response is computed."""
        scripted = self.script.get(store.tick)
        if scripted is not None:
            scripted(emulator)
        if not self.rate or (self.until is not None and store.tick >= self.until):
            return
        whole, fraction = divmod(self.rate, 1.0)
        count = int(whole) + (1 if self.random.random() < fraction else 0)
        for _ in range(count):
            self._random_change(store, emulator)

    def _random_change(self, store: InvocationStore, emulator: _Clock) -> None:
        rng = self.random
        kind = rng.choices(list(self.kinds), weights=list(self.kinds.values()))[0]
        records = store.records
        if kind is Churn.DELETE and records:
            store.remove(str(rng.choice(records).wire["id"]))
        elif kind is Churn.STATUS_CHANGE:
            moving = [r for r in records if r.wire["status"] in ("queued", "running")]
            if moving:
                record = rng.choice(moving)
                status = "running" if record.wire["status"] == "queued" else None
                status = status or rng.choice(("succeeded", "failed"))
                store.set_status(
                    str(record.wire["id"]), status, **_finished_fields(status, emulator)
                )
        elif kind is Churn.MIDDLE_INSERT and len(records) >= 2:
            index = rng.randrange(len(records) - 1)
            try:
                started = started_between(records[index], records[index + 1], rng.random())
            except ValueError:
                return  # no room between these two: no change this time
            status = rng.choice(("queued", "running", "succeeded", "failed"))
            store.add(_new_invocation(rng, emulator, started, status))
        elif kind in (Churn.HEAD_INSERT, Churn.MIDDLE_INSERT):
            newest = records[0] if records else None
            started = started_between(None, newest, rng.random())
            # It starts now, as on the real API, unless the data already runs past the
            # emulator's clock: then just after the newest, so that it is still the newest.
            now = format_rfc3339_nano(rfc3339_to_epoch_ns(emulator.now().isoformat()))
            if rfc3339_to_epoch_ns(now) > rfc3339_to_epoch_ns(started):
                started = now
            store.add(_new_invocation(rng, emulator, started, rng.choice(("queued", "running"))))

    def served_order(self, records: list[Record], offset: int, limit: int) -> list[Record]:
        """The order a data response serves ``records`` in (a copy, or ``records`` itself).

        With ``shuffle_ties``, the part of each tie that falls in the page at ``offset`` is a
        fresh random sample of the whole tie, as a server that shuffles the tie at every
        request serves it: only the page is drawn, so a tie of any size costs the page.
        """
        if not self.shuffle_ties or offset >= len(records):
            return records
        served = list(records)
        end = min(offset + limit, len(records))
        start = offset
        while start < end:
            # The records are newest first: the tie is a run of one key, found by bisection.
            key = records[start].sort_key[0]
            low = bisect.bisect_left(records, key, hi=start, key=_newest_first)
            high = bisect.bisect_right(records, key, lo=start, key=_newest_first)
            stop = min(high, end)
            drawn = self._tie_random.sample(range(low, high), stop - start)
            served[start:stop] = [records[index] for index in drawn]
            start = stop
        return served

    # -- answering out of order ------------------------------------------------------------

    async def turn(self, *, in_process: bool) -> None:
        """Wait for this request's turn: after its batch is gathered, in a seeded order."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append(future)
        if self._release is None:
            if in_process:
                self._release = loop.call_soon(self._spin, self.hold_steps)
            else:
                self._release = loop.call_later(self.hold, self._answer)
        await future

    def _spin(self, steps: int) -> None:
        if steps <= 0:
            self._answer()
        else:
            self._release = asyncio.get_running_loop().call_soon(self._spin, steps - 1)

    def _answer(self) -> None:
        batch, self._pending, self._release = self._pending, [], None
        self.random.shuffle(batch)
        for future in batch:  # they resume in this order, each computing its answer in turn
            if not future.done():
                future.set_result(None)

    def stop(self) -> None:
        """Forget held requests (the emulator is closing)."""
        if self._release is not None:
            self._release.cancel()
        batch, self._pending, self._release = self._pending, [], None
        for future in batch:
            future.cancel()


def _newest_first(record: Record) -> int:
    return record.sort_key[0]  # minus started_at in nanoseconds


def _finished_fields(status: str, emulator: _Clock) -> dict[str, Any]:
    """What else changes when an invocation reaches ``status``."""
    if status not in ("succeeded", "failed"):
        return {}
    reason = "Invocation completed successfully" if status == "succeeded" else "Selector not found"
    return {"finished_at": emulator.now().isoformat(), "status_reason": reason}


def _new_invocation(
    rng: random.Random, emulator: _Clock, started_at: str, status: str
) -> dict[str, Any]:
    (template,) = generate_invocations(1, seed=rng.getrandbits(32), now=emulator.now())
    invocation = {
        **template,
        # An id of its own draw: the template's comes from a seed the data may share.
        "id": "".join(rng.choices(_ID_ALPHABET, k=24)),
        "started_at": started_at,
        "status": status,
        "finished_at": None,
    }
    if status in ("queued", "running"):
        invocation.pop("output", None)
        invocation.pop("status_reason", None)
    else:
        invocation["finished_at"] = started_at
        invocation["status_reason"] = invocation.get("status_reason") or "Reported late"
    return invocation
