"""Where a walk stands in the list.

An :class:`Anchor` is the last invocation a walk delivered, with the position it was found at
and the ids that tie with it: enough to tell, for any invocation of a later page, whether the
walk is already past it, by the order the walk relies on (newest first by ``started_at``; see
:mod:`kernel_async._walk`). The plan places pages with it; a resume token
(:mod:`kernel_async._resume`) carries one from a walk to the next.

**Ties.** Invocations that share a ``started_at`` to the nanosecond come in a stable server
order no client can derive, so an anchor knows every one of its tie the walk delivered, by id
and in the order delivered. A token cannot carry thousands of ids: it names the nearest ones
and, for those before them, only how many there were and a few evenly spread *marks* (id and
rank in the tie). Within a tie a page is a run of consecutive ranks, so one mark (or the tie's
first place, right after an invocation newer than it) gives the rank of each invocation after
it: every one ranked among those the token could not name was delivered.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Final

from kernel_async._models import Invocation

__all__ = ["Anchor"]

_NO_MARKS: Final[Mapping[str, int]] = MappingProxyType({})
_NO_PREDS: Final[dict[str, list[str]]] = {}  # never written to: anchors with preds own theirs


class _TieLog:
    """The ties a walk delivered, in order, shared by the anchors it makes along the tie.

    Only ever extended: each anchor reads its first ``n`` ids (see :class:`Anchor`).
    """

    __slots__ = ("first", "ids")

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids: list[str] = []
        self.first: dict[str, int] = {}  # each id's first index in ids
        self.extend(ids)

    def extend(self, ids: Iterable[str]) -> None:
        for id_ in ids:
            self.first.setdefault(id_, len(self.ids))
            self.ids.append(id_)


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
        ties_before: How many of its tie were delivered before ``tie_order``'s first and are
            not named there (only an anchor from a token has any).
        tie_marks: Some of those, with their rank in the tie (0: the first delivered).

    Its ties (:attr:`recent_ids`, :attr:`tie_order`) are kept in a :class:`_TieLog` that
    the anchors a walk makes along one tie share, each knowing how much of it is its own: a
    copy per anchor made a walk through a tie quadratic (a tie of 20,000 with pages of 10
    took 4 s). Ask :meth:`knows` on a hot path; the two sets are built when first read.
    """

    __slots__ = (
        "_at",
        "_extra",
        "_length",
        "_log",
        "_preds",
        "_recent_ids",
        "_started_at_ns",
        "_tie_order",
        "id",
        "position",
        "started_at",
        "tie_marks",
        "ties_before",
    )

    def __init__(
        self,
        id: str,
        started_at: datetime,
        started_at_ns: int | None,
        position: int,
        recent_ids: frozenset[str] = frozenset(),
        *,
        at: Invocation | None = None,
        tie_order: tuple[str, ...] = (),
        ties_before: int = 0,
        tie_marks: Mapping[str, int] = _NO_MARKS,
    ) -> None:
        if started_at_ns is None and at is None:
            raise TypeError("an anchor needs started_at_ns or the invocation it is at")
        self.id = id
        self.started_at = started_at
        self._started_at_ns = started_at_ns
        self._at = at  # where started_at_ns comes from, until it is asked for
        self.position = position
        self._recent_ids: frozenset[str] | None = recent_ids
        self._tie_order: tuple[str, ...] | None = tie_order
        # An anchor in a walk's tie: its ties are _log's first _length ids, and _extra.
        self._log: _TieLog | None = None
        self._length = 0
        self._extra: frozenset[str] = frozenset()
        self.ties_before = ties_before
        self.tie_marks = tie_marks
        self._preds: dict[str, list[str]] = _NO_PREDS  # see tie_preds()

    @property
    def recent_ids(self) -> frozenset[str]:
        """Other ids delivered before it that a later page may still show.

        Those with the very same ``started_at`` (its ties, which the order cannot tell
        apart), and for a resumed walk the token's last few.
        """
        value = self._recent_ids
        if value is None:
            assert self._log is not None  # one or the other, from __init__ or _in_tie
            value = self._recent_ids = self._extra.union(self._log.ids[: self._length])
        return value

    @property
    def tie_order(self) -> tuple[str, ...]:
        """Its ties known by id, in the order delivered, itself last.

        ``()`` when it is its tie's only invocation known (the common case).
        """
        value = self._tie_order
        if value is None:
            assert self._log is not None  # one or the other, from __init__ or _in_tie
            value = self._tie_order = tuple(self._log.ids[: self._length])
        return value

    def knows(self, id_: str) -> bool:
        """``id_ in self.recent_ids``, without building the set."""
        log = self._log
        if log is None:
            return id_ in self.recent_ids
        return log.first.get(id_, self._length) < self._length or id_ in self._extra

    def has_recent_ids(self) -> bool:
        """``bool(self.recent_ids)``, without building the set."""
        return self._log is not None or bool(self.recent_ids)

    @property
    def started_at_ns(self) -> int:
        """``started_at`` to the nanosecond (read from the invocation the first time)."""
        value = self._started_at_ns
        if value is None:
            assert self._at is not None  # __init__ takes one or the other
            value = self._started_at_ns = self._at.started_at_ns
            self._at = None
        return value

    def _key(self) -> tuple[str, datetime, int, int, frozenset[str], int, frozenset[object]]:
        # Not tie_order: what it adds to recent_ids is only the order in which a later token
        # names them, and an anchor from a token does not know which of its ids are ties.
        return (
            self.id,
            self.started_at,
            self.started_at_ns,
            self.position,
            self.recent_ids,
            self.ties_before,
            frozenset(self.tie_marks.items()),
        )

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
            f"recent_ids={self.recent_ids!r}, ties_before={self.ties_before!r}, "
            f"tie_marks={dict(self.tie_marks)!r})"
        )

    @classmethod
    def of(
        cls, item: Invocation, position: int, recent_ids: frozenset[str] = frozenset()
    ) -> Anchor:
        """The anchor at ``item``, found at ``position``."""
        return cls(item.id, item.started_at, None, position, recent_ids, at=item)

    @classmethod
    def after(
        cls,
        batch: tuple[Invocation, ...],
        position: int,
        before: Anchor | None,
        *,
        shown: tuple[Invocation, ...] = (),
        aside: bool = False,
    ) -> Anchor:
        """The anchor at the last of ``batch`` (delivered after ``before``), with its ties.

        Ties are in a stable server order that the walk cannot derive, so it remembers every
        invocation of the tie it delivered: a page that lost its cursor still places them behind
        the walk. ``before`` is the anchor before the batch, whose ties carry on if it ties too.
        ``shown`` is the page the batch came from: the order it shows among the batch and the
        ties the walk knew is kept (see :meth:`tie_preds`). ``aside``: an anchor made to be read
        once and dropped (a resume token's), which copies the tie's log rather than extending
        the one ``before`` shares with the walk's next anchor. Costs a comparison or two per
        page, and a nanosecond parse when the last ties with the one before it at the
        microsecond (or is the batch's only item).
        """
        last = batch[-1]
        same = []
        for item in reversed(batch):
            if item.started_at != last.started_at:
                break
            same.append(item)
        if len(same) == 1 < len(batch):
            # No tie: the common case, without a nanosecond parse.
            return cls(last.id, last.started_at, None, position, frozenset((last.id,)), at=last)
        nanoseconds = last.started_at_ns
        order = tuple(
            item.id for item in reversed(same) if item is last or item.started_at_ns == nanoseconds
        )
        if len(same) == len(batch) and before is not None and before.started_at_ns == nanoseconds:
            # The same tie goes on: what ``before`` knew, and the batch after it.
            log = before._tie_log_with(order, share=not aside)
            anchor = cls._in_tie(last, nanoseconds, position, log)
            anchor._extra = before._extra if before._log is not None else before.recent_ids
            anchor.ties_before = before.ties_before
            anchor.tie_marks = before.tie_marks
            if shown:
                anchor._preds = _preds_after(before, order, shown, nanoseconds)
            return anchor
        if len(order) == 1:
            return cls(last.id, last.started_at, nanoseconds, position, frozenset(order))
        anchor = cls._in_tie(last, nanoseconds, position, _TieLog(order))
        anchor._preds = {later: [earlier] for earlier, later in itertools.pairwise(order)}
        return anchor

    @classmethod
    def _in_tie(cls, last: Invocation, nanoseconds: int, position: int, log: _TieLog) -> Anchor:
        anchor = cls(last.id, last.started_at, nanoseconds, position)
        anchor._recent_ids = anchor._tie_order = None  # read from the log when asked for
        anchor._log, anchor._length = log, len(log.ids)
        return anchor

    def _tie_log_with(self, order: tuple[str, ...], *, share: bool) -> _TieLog:
        """The log of this anchor's ties, then ``order``: shared when nothing follows it yet.

        A walk makes each anchor after the one before, so the log grows in place; an anchor
        made from one that another already followed, or not to ``share`` it, gets a copy,
        and the first's ties stay as they were.
        """
        log = self._log
        if share and log is not None and len(log.ids) == self._length:
            log.extend(order)
            return log
        return _TieLog((*(self.tie_order or (self.id,)), *order))

    def tie_preds(self) -> Mapping[str, Sequence[str]]:
        """For each tie the walk knows, the ones a page showed right before it, among those.

        Each is a fact on a stable server: a page is a run of the server's order, and a
        deletion, an insertion or a change of status moves no invocation past another. So
        every tie reached by following these links back comes before the tie, for good. The
        order delivered says less: a tie that started at the cursor's very instant may be
        delivered after ties that come after it (placed after one delivered before, once
        the cursor went). A token's ids have none until a page shows them: which of them came
        in one page is not known. Shared with the anchors made after this one in the same tie
        (each adds its page): read it, never change it.
        """
        return self._preds

    def is_behind(self, item: Invocation) -> bool:
        """Whether ``item`` comes before this anchor in the order (strictly newer)."""
        if item.started_at != self.started_at:
            return item.started_at > self.started_at
        return item.started_at_ns > self.started_at_ns


def _preds_after(
    before: Anchor, order: tuple[str, ...], shown: tuple[Invocation, ...], nanoseconds: int
) -> dict[str, list[str]]:
    """``before``'s preds, with the order a page showed among known and new ties added."""
    # Shared along the walk's anchors, each adding its page: built anew for each, the preds
    # would cost every page a pass over the whole tie.
    preds = before._preds if before._preds is not _NO_PREDS else {}
    new = set(order)
    seen: set[str] = set()
    previous = None
    for item in shown:
        id_ = item.id
        if id_ in seen or not (id_ in new or id_ == before.id or before.knows(id_)):
            continue  # a repeat (the guard counts it), or a tie the walk does not know
        if item.started_at_ns != nanoseconds:
            continue  # a token's recent ids are not all ties
        seen.add(id_)
        if previous is not None:
            earlier = preds.setdefault(id_, [])
            if previous not in earlier:
                earlier.append(previous)
        previous = id_
    return preds
