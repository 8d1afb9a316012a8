"""Where a walk stands in the list.

An :class:`Anchor` is the last invocation a walk delivered, with the position it was found at
and the ids that tie with it: enough to tell, for any invocation of a later page, whether the
walk is already past it, by the order the walk relies on (newest first by ``started_at``; see
:mod:`kernel_async._walk`). The plan places pages with it; a resume token
(:mod:`kernel_async._resume`) carries one from a walk to the next.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from kernel_async._models import Invocation

__all__ = ["Anchor", "tie_ids"]


@attrs.frozen
class Anchor:
    """Where a walk stands: the last invocation delivered, and the position it was at.

    Attributes:
        id: The invocation's id.
        started_at: Its ``started_at``, for placing pages by the order.
        started_at_ns: The same, to the nanosecond, for ties at the microsecond.
        position: Its offset in the list when it was fetched.
        recent_ids: Other ids delivered before it that a later page may still show: those
            with the very same ``started_at`` (its ties, which the order cannot tell apart),
            and for a resumed walk the token's last few.
    """

    id: str
    started_at: datetime
    started_at_ns: int
    position: int
    recent_ids: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, item: Invocation, position: int, recent_ids: frozenset[str] = frozenset()
    ) -> Anchor:
        """The anchor at ``item``, found at ``position``."""
        return cls(item.id, item.started_at, item.started_at_ns, position, recent_ids)

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
