"""A page read against an :class:`~kernel_async._anchor.Anchor`: where what is new starts.

The walk's placement (:mod:`kernel_async._walk_placement`) and a resumed walk's search for
its place (:mod:`kernel_async._resume_search`) ask the same questions of a page: where the
invocations after the anchor start (:func:`first_after`), each tie's rank where the page
tells it (:func:`tie_ranks`), whether that boundary rests on a token's count of ties alone
(:func:`counted_alone`), and whether the page shows ties in an order pages never showed
before (:func:`ties_out_of_order`: the server's order of ties is not stable). Plain functions
of an anchor and a page; the anchor is read, never changed.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from kernel_async._anchor import Anchor
    from kernel_async._models import Invocation

__all__ = ["counted_alone", "first_after", "tie_ranks", "ties_out_of_order", "ties_with"]

_ANCESTORS_CHECKED: Final = 512  # how many earlier ties ties_out_of_order looks at, per tie


def first_after(
    anchor: Anchor,
    items: tuple[Invocation, ...],
    delivered: Callable[[], Container[str]],
    first_rank: int | None = None,
) -> int | None:
    """Where the invocations after ``anchor`` start in a page: the index of the first.

    After the anchor's first place in the page (a server may repeat it). If it is not there
    (deleted, or out of the filter), by the order: after the last invocation newer than it
    or among the ids ``delivered`` returns (called only then), or ranked among the ties its
    token could only count (see :func:`tie_ranks`; ``first_rank``: what the first item's
    rank would be, from another page), and 0 if there is none. ``None`` when the page,
    without the anchor, is not newest first: the order cannot place it.
    """
    for index, item in enumerate(items):
        if item.id == anchor.id:
            return index + 1  # the data moved by a few items; the anchor is still here
    if any(a.started_at < b.started_at for a, b in itertools.pairwise(items)):
        return None
    recent = delivered()
    placed = 0
    for index in range(len(items) - 1, -1, -1):
        if items[index].id in recent or anchor.is_behind(items[index]):
            placed = index + 1
            break
    if anchor.ties_before and placed < len(items):
        # Past what the ids place: ties delivered before the ones the token names. A tie
        # deleted since makes a rank read too low; the ties the token names come next and
        # place the boundary by id. Only if they are all gone too can a rank below
        # ties_before be a tie never delivered (see counted_alone).
        ranks = tie_ranks(anchor, items, first_rank)
        for index in range(len(items) - 1, placed - 1, -1):
            rank = ranks[index]
            if rank is not None and rank < anchor.ties_before:
                return index + 1
    return placed


def tie_ranks(
    anchor: Anchor, items: tuple[Invocation, ...], first_rank: int | None = None
) -> list[int | None]:
    """Each item's rank in the anchor's tie (0: the first delivered) where it can be told.

    Within the tie a page holds consecutive ranks: one of the anchor's marks, or the tie's
    first place (right after an invocation newer than it), gives the rank of each tie after
    it, and ``first_rank`` (when given) that of a tie the page starts with. ``None`` for the
    rest, and for every item not tied with the anchor to the nanosecond.
    """
    marks = anchor.tie_marks
    ranks: list[int | None] = []
    rank = None if first_rank is None else first_rank - 1
    newer_before = False
    for item in items:
        if item.started_at != anchor.started_at or item.started_at_ns != anchor.started_at_ns:
            rank, newer_before = None, anchor.is_behind(item)
        elif item.id in marks:
            rank, newer_before = marks[item.id], False
        elif rank is not None:
            rank += 1
        elif newer_before:
            rank, newer_before = 0, False  # the tie's first place
        ranks.append(rank)
    return ranks


def counted_alone(
    anchor: Anchor,
    items: tuple[Invocation, ...],
    first_new: int,
    known: Container[str],
    *,
    ends_list: bool,
) -> bool:
    """Whether ``first_new`` (from :func:`first_after`) rests on the count of ties alone.

    That is a boundary right after a tie of the anchor that no id the walk knows (``known``)
    names: one ranked among the ties its token only counted. The ties the token names come
    after those, so the boundary is proven only where one of them is seen; were they all
    gone since, ties deleted among the counted ones would make the boundary too late by as
    many, hiding ties never delivered. The walk counts it as a possible gap. (A page that
    ends on such a tie places nothing, unless it ends the list: ``ends_list``.)
    """
    if not anchor.ties_before or not first_new or (first_new == len(items) and not ends_list):
        return False
    before = items[first_new - 1]
    return before.id not in known and before.id != anchor.id and ties_with(anchor, before)


def ties_out_of_order(anchor: Anchor, items: tuple[Invocation, ...]) -> bool:
    """Whether the page shows a tie before one that pages showed comes before it.

    What pages showed (:meth:`~kernel_async._anchor.Anchor.tie_preds`, up to 512 ties back
    from each) never changes on a stable server, so a page that shows the other order says
    the server's order of ties is not stable. One that sorts by ``started_at`` alone may
    serve a tie in another order at each request (SQL's ``ORDER BY started_at LIMIT ...
    OFFSET ...`` promises no order among equal keys); each page is then another sample of
    the tie, and no position tells which of its ties were delivered. (So does a server that
    lists a tie twice.)
    """
    preds = anchor.tie_preds()
    if not preds:
        return False
    positions: dict[str, int] = {}
    for index, item in enumerate(items):
        # An anchor with preds knows its own id among its ties (Anchor.after).
        if anchor.knows(item.id) and item.id not in positions and ties_with(anchor, item):
            positions[item.id] = index
    if len(positions) < 2:
        return False
    for id_, index in positions.items():
        # The ties known to come before this one, nearest first, up to a bound.
        pending = deque(preds.get(id_, ()))
        visited = set(pending)
        while pending and len(visited) <= _ANCESTORS_CHECKED:
            earlier = pending.popleft()
            shown_at = positions.get(earlier)
            if shown_at is not None and shown_at > index:
                return True
            for further in preds.get(earlier, ()):
                if further not in visited:
                    visited.add(further)
                    pending.append(further)
    return False


def ties_with(anchor: Anchor, item: Invocation) -> bool:
    """Whether ``item`` started at the anchor's very instant, to the nanosecond."""
    return item.started_at == anchor.started_at and item.started_at_ns == anchor.started_at_ns
