"""The placement of a page: where, in a page the walk plan takes, its new invocations start.

A page reaches back over the last invocation delivered (the *cursor*) by the *overlap*: one
item, or two on pages of ten or more once the data has been seen to move. :meth:`_first_new`
places it, cheapest first: where the overlap puts the cursor (nothing moved: the common case);
else by ids and by the order (:func:`~kernel_async._anchor_pages.first_after`: after the cursor, or
after the last invocation delivered recently or newer than it); else not at all: the page
*floats*, and the plan bridges to it or takes it from the first item not behind the cursor
(:mod:`kernel_async._walk` tells the whole walk). Before all that, a page whose ties of the
cursor come in another order than delivered (:func:`~kernel_async._anchor_pages.ties_out_of_order`)
says the server's order of ties is not stable: no position can place it, so every tie in it
the walk has not delivered is taken, and the boundary counted. What is delivered from there
on leaves out what the walk delivered before (:meth:`_unrepeated`). A boundary the walk
cannot check is counted in :attr:`~kernel_async.WalkStats.possible_gaps`
(:meth:`_possible_gap`; in strict mode it raises :class:`~kernel_async.ContinuityError`),
never silent.

:class:`PagePlacement` is a base of the plan (:class:`~kernel_async._walk.WalkPlan`), which
holds the state it reads (set up in the plan's ``__init__``) and decides what to do with a
placed page: deliver it, bridge to it, or hold it.
"""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING, Final

from kernel_async._anchor_pages import counted_alone, first_after, ties_out_of_order, ties_with
from kernel_async._errors import ContinuityError

if TYPE_CHECKING:
    from kernel_async._anchor import Anchor
    from kernel_async._models import Invocation, Page
    from kernel_async._walk_records import WalkStats

__all__ = ["REMEMBERED", "Delivered", "PagePlacement", "RecentIds"]

_WIDE_OVERLAP_FROM: Final = 10  # pages at least this big overlap by two once data moved
REMEMBERED: Final = 100  # ids in a generation of RecentIds: the walk never repeats these


class RecentIds(Container[str]):
    """The ids of the invocations the walk delivered last: at least the last 100.

    In two generations of at least :data:`REMEMBERED` ids each, the older dropped when the
    newer is full: bounded memory, and no copy for pages of 100 (each page's set of ids,
    built anyway to look for repeats, becomes a generation as it is).
    """

    __slots__ = ("_newer", "_older")

    def __init__(self) -> None:
        self._newer: set[str] = set()
        self._older: set[str] = set()

    def add(self, ids: set[str]) -> None:
        """Remember ``ids``, delivered just now (the set is kept: the caller gives it up)."""
        if len(self._newer) >= REMEMBERED:
            self._older, self._newer = self._newer, ids
        elif self._newer:
            self._newer |= ids
        else:
            self._newer = ids

    def isdisjoint(self, ids: set[str]) -> bool:
        """Whether none of ``ids`` is remembered."""
        return ids.isdisjoint(self._newer) and ids.isdisjoint(self._older)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._newer or id_ in self._older


class Delivered(Container[str]):
    """The ids a page may show that the walk delivered: its last ones, and the cursor's.

    Asked, never built: the cursor's ties can be thousands (see :meth:`Anchor.knows`).
    """

    __slots__ = ("_cursor", "_recent")

    def __init__(self, recent: RecentIds, cursor: Anchor | None) -> None:
        self._recent = recent
        self._cursor = cursor

    def __contains__(self, id_: object) -> bool:
        if id_ in self._recent:
            return True
        cursor = self._cursor
        return cursor is not None and type(id_) is str and (id_ == cursor.id or cursor.knows(id_))


class PagePlacement:
    """How the walk plan places a page against its cursor (see the module docs)."""

    if TYPE_CHECKING:
        # What the plan sets up in its __init__.
        _cursor: Anchor | None
        _recent: RecentIds
        _strict: bool
        _step: int | None
        _moved: bool
        _ties_unstable: bool
        stats: WalkStats

    @property
    def _overlap(self) -> int:
        # A page of one item cannot hold the cursor and something new. Once the data has
        # been seen to move, pages of ten or more overlap by two: a single change between two
        # pages' fetches then shifts the cursor within the overlap instead of out of the
        # page, at one invocation per page instead of a bridge per change.
        step = self._step
        if step is None or step < 2:
            return 0
        return 2 if self._moved and step >= _WIDE_OVERLAP_FROM else 1

    def _recent_ids(self) -> Delivered:
        return Delivered(self._recent, self._cursor)

    def _first_new(self, page: Page) -> int | None:
        """The index of the page's first new item, or ``None`` if the page floats."""
        cursor, items = self._cursor, page.items
        if cursor is None:
            return 0
        if self._unknown_tie_in(items) if self._ties_unstable else ties_out_of_order(cursor, items):
            # The server's order of ties is not stable (this page says so, or one did before
            # and this one shows a tie the walk has not delivered): no position in the page
            # tells which of its ties are new. Every one the walk has not delivered is taken,
            # never one twice; ties no page shows may be missed, so the page is counted. (A
            # server that lists one tie twice, in two places, looks the same.)
            self._ties_unstable = True
            self._possible_gap(
                page,
                "the server's order of ties changed between requests "
                "(or it lists one of them twice)",
            )
            return self._first_unknown_tie(page)
        expected = self._overlap - 1  # where the cursor is if nothing moved
        if 0 <= expected < len(items) and items[expected].id == cursor.id:
            return expected + 1  # the overlap matched
        # Its first place (a server may repeat it), or where the order puts the page.
        first_new = first_after(cursor, items, self._recent_ids)
        if first_new is None:
            # Not newest first: the order the walk relies on does not hold here.
            self._possible_gap(page, "the page is not sorted newest first")
            return 0
        if cursor.ties_before and counted_alone(
            cursor, items, first_new, self._recent_ids(), ends_list=not page.has_more
        ):
            self._possible_gap(page, "the resume's place rests on a count of ties alone")
        # Nothing behind the walk at the head of the list: nothing can be missing before it.
        return first_new if first_new or page.offset == 0 else None

    def _unknown_tie_in(self, items: tuple[Invocation, ...]) -> bool:
        """Whether the page shows a tie of the cursor that the walk has not delivered."""
        cursor = self._cursor
        assert cursor is not None
        recent: Delivered | None = None
        for item in items:
            if ties_with(cursor, item):
                recent = self._recent_ids() if recent is None else recent
                if item.id not in recent:
                    return True
        return False

    def _first_unknown_tie(self, page: Page) -> int:
        """Where delivery starts in a page whose ties come in an order other than delivered.

        At its first invocation not behind the cursor: the delivery leaves out what the walk
        delivered (by id), so the cursor's ties it has not delivered are taken wherever they
        are. Not after a resume from inside a tie: ties its token only counted are not known
        by id, so only what is older than the tie is taken (and the tie is left to chance:
        each of its pages counted).
        """
        cursor = self._cursor
        assert cursor is not None  # only a page placed against a cursor is checked
        for index, item in enumerate(page.items):
            if cursor.is_behind(item):
                continue
            if cursor.ties_before and ties_with(cursor, item):
                continue  # a tie that may be one the token only counted
            return index
        return len(page.items)

    def _first_not_behind(self, page: Page) -> int:
        cursor = self._cursor
        assert cursor is not None  # a page floats only behind a cursor
        return next((i for i, item in enumerate(page.items) if not cursor.is_behind(item)), 0)

    def _possible_gap(self, page: Page, why: str) -> None:
        self.stats.possible_gaps += 1
        if self._strict:
            raise ContinuityError(
                f"cannot check the walk's continuity at offset {page.offset}: {why}",
                offset=page.offset,
                request_id=page.request_id,
            )

    def _unrepeated(
        self, items: tuple[Invocation, ...], first: int, delivered: Container[str]
    ) -> tuple[list[int], tuple[Invocation, ...]]:
        """The indexes and items from ``first`` on, without ids delivered or seen before.

        Seen before: earlier in the page. What a page shows before ``first`` is never
        delivered from it (delivered already, or behind the walk), so neither is a second
        copy after it. Every copy past an invocation's first in the page is counted, as a
        server bug.
        """
        seen = {item.id for item in items[:first]}
        indexes = []
        for index in range(first, len(items)):
            id_ = items[index].id
            if id_ in seen:
                self.stats.anomalies += 1  # one invocation twice in a page: a server bug
            elif id_ not in delivered:
                indexes.append(index)
            seen.add(id_)
        return indexes, tuple(items[i] for i in indexes)
