"""Where a walk stands in the list.

An :class:`Anchor` is the last invocation a walk delivered, with the position it was found at
and the ids that tie with it: enough to tell, for any invocation of a later page, whether the
walk is already past it, by the order the walk relies on (newest first by ``started_at``; see
:mod:`kernel_async._walk`). The plan places pages with it; a resume token
(:mod:`kernel_async._resume`) carries one from a walk to the next.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Set
from datetime import datetime

from kernel_async._models import Invocation

__all__ = ["Anchor", "first_after", "tie_ids"]


class Anchor:
    """Where a walk stands: the last invocation delivered, and the position it was at.

    Read-only by convention. A plain slotted class rather than an attrs one: a walk makes two
    per page, and ``started_at_ns`` (a parse of the wire text) is needed only for a tie at
    the microsecond or a resume token, so an anchor at an invocation reads it from there
    when asked, once.

    Attributes:
        id: The invocation's id.
        started_at: Its ``started_at``, for placing pages by the order.
        started_at_ns: The same, to the nanosecond, for ties at the microsecond.
        position: Its offset in the list when it was fetched.
        recent_ids: Other ids delivered before it that a later page may still show: those
            with the very same ``started_at`` (its ties, which the order cannot tell apart),
            and for a resumed walk the token's last few.
    """

    __slots__ = ("_at", "_started_at_ns", "id", "position", "recent_ids", "started_at")

    def __init__(
        self,
        id: str,
        started_at: datetime,
        started_at_ns: int | None,
        position: int,
        recent_ids: frozenset[str] = frozenset(),
        *,
        at: Invocation | None = None,
    ) -> None:
        if started_at_ns is None and at is None:
            raise TypeError("an anchor needs started_at_ns or the invocation it is at")
        self.id = id
        self.started_at = started_at
        self._started_at_ns = started_at_ns
        self._at = at  # where started_at_ns comes from, until it is asked for
        self.position = position
        self.recent_ids = recent_ids

    @property
    def started_at_ns(self) -> int:
        """``started_at`` to the nanosecond (read from the invocation the first time)."""
        value = self._started_at_ns
        if value is None:
            assert self._at is not None  # __init__ takes one or the other
            value = self._started_at_ns = self._at.started_at_ns
            self._at = None
        return value

    def _key(self) -> tuple[str, datetime, int, int, frozenset[str]]:
        return (self.id, self.started_at, self.started_at_ns, self.position, self.recent_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Anchor):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Anchor(id={self.id!r}, started_at={self.started_at!r}, "
            f"started_at_ns={self.started_at_ns!r}, position={self.position!r}, "
            f"recent_ids={self.recent_ids!r})"
        )

    @classmethod
    def of(
        cls, item: Invocation, position: int, recent_ids: frozenset[str] = frozenset()
    ) -> Anchor:
        """The anchor at ``item``, found at ``position``."""
        return cls(item.id, item.started_at, None, position, recent_ids, at=item)

    @classmethod
    def after(cls, batch: tuple[Invocation, ...], position: int, before: Anchor | None) -> Anchor:
        """The anchor at the last of ``batch`` (delivered after ``before``), with its ties."""
        return cls.of(batch[-1], position, tie_ids(batch, before))

    def is_behind(self, item: Invocation) -> bool:
        """Whether ``item`` comes before this anchor in the order (strictly newer)."""
        if item.started_at != self.started_at:
            return item.started_at > self.started_at
        return item.started_at_ns > self.started_at_ns


def tie_ids(batch: tuple[Invocation, ...], before: Anchor | None) -> frozenset[str]:
    """The ids delivered with exactly the ``started_at`` of the last of ``batch``.

    Ties are in a stable server order that the walk cannot derive, so it remembers every
    invocation of the tie it delivered: a page that lost its cursor still places them behind
    the walk. ``before`` is the anchor before the batch, whose ties carry on if it ties too.
    Costs a comparison or two per page, and a nanosecond parse when the last ties with the
    one before it at the microsecond (or is the batch's only item).
    """
    last = batch[-1]
    same = []
    for item in reversed(batch):
        if item.started_at != last.started_at:
            break
        same.append(item)
    if len(same) == 1 < len(batch):
        return frozenset((last.id,))  # no tie: the common case, without a nanosecond parse
    nanoseconds = last.started_at_ns
    ties = {item.id for item in same if item is last or item.started_at_ns == nanoseconds}
    if len(same) == len(batch) and before is not None and before.started_at_ns == nanoseconds:
        ties |= before.recent_ids | {before.id}
    return frozenset(ties)


def first_after(
    anchor: Anchor, items: tuple[Invocation, ...], delivered: Callable[[], Set[str]]
) -> int | None:
    """Where the invocations after ``anchor`` start in a page: the index of the first.

    After the anchor's first place in the page (a server may repeat it). If it is not there
    (deleted, or out of the filter), by the order: after the last invocation newer than it
    or among the ids ``delivered`` returns (called only then), and 0 if there is none. ``None``
    when the page, without the anchor, is not newest first: the order cannot place it.
    """
    for index, item in enumerate(items):
        if item.id == anchor.id:
            return index + 1  # the data moved by a few items; the anchor is still here
    if any(a.started_at < b.started_at for a, b in itertools.pairwise(items)):
        return None
    recent = delivered()
    for index in range(len(items) - 1, -1, -1):
        if items[index].id in recent or anchor.is_behind(items[index]):
            return index + 1
    return 0
