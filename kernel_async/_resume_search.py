"""How a resumed walk finds its place again when the list moved far: a galloping search.

A resume token names the last invocation a walk delivered (its *anchor*) and the position it
had. The list is newest first, so every invocation started since then pushes the anchor one
place down, and every one deleted before it pulls it one place up. The resumed walk reads its
first page at the old position; when that page does not hold the *boundary* (the anchor
itself, or the place where invocations newer than it give way to the rest), the walk searches:

* a page entirely newer than the anchor says the boundary is further on: the next page is
  read further still, each jump twice the one before (0, 1, 2, 4, ... pages past the last
  one read, at most :data:`MAX_JUMP_PAGES`);
* a page with nothing newer than the anchor (or past the end of the list) says the boundary
  is before it: the same, backwards, with no longest jump (a page read backwards is never
  deeper than one already read, and offset 0 bounds it): a token whose offset is far past
  the end of the list, hand-made or from a list that has shrunk since, costs about
  ``2 log2(offset / limit)`` requests (126 at most, from ``2**63 - 1``), not one per
  :data:`MAX_JUMP_PAGES` pages;
* once a page on each side is known, the next is read halfway between (a binary search)
  until one page holds the boundary.

So ``N`` invocations started since the token cost about ``2 log2(N / limit)`` requests
instead of one per page of the walk's size. The search delivers nothing: it hands the page
that holds the boundary to the walk plan (:mod:`kernel_async._walk`), which places it like
any other page (by the anchor's id, or by the order and the ids the token carries when the
anchor is gone), so the walk's guarantees (each invocation once, ties, possible gaps
counted) hold as everywhere else.

**Pages of the search are read at the walk's** ``limit`` (100, the API's maximum, unless
given), even when ``max_items`` shrinks the walk's own pages: ``max_items`` bounds what is
delivered, not what is read to find the place. The page that holds the boundary is cut to what
a page of the walk's own size read from there would have held (a part of one response, so as
exact as a response), so no batch the walk delivers is larger than one of its own pages.

**While the data moves.** What a page says about a position stays true under some changes
only: a position newer than the anchor stays newer when invocations start (newer ones are
pushed into it) but not when some are deleted; a position not newer stays so when some are
deleted but not when invocations start. So a bound that a later page contradicts is dropped,
and the search gallops again from the bound that held. Each page it reads while galloping
moves its bound forward by at least a page, so it ends whenever fewer than a page of
invocations start per request (when more do, no walk can end). Pages that contradict each
other while nothing moves (a server out of the documented order, a token edited by hand)
would keep it going forever: after :data:`MAX_CONTRADICTIONS` it stops where it stands, and
the walk counts a possible gap.

**Long ties.** A token inside a tie longer than it can name counts the ties before the ones it
names and marks a few (:mod:`kernel_async._anchor`); the search remembers where the tie starts
once a page shows it, so that a page of ties without a mark is ranked as its neighbours are.

Pure, like the plan: values in, values out, no I/O.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import attrs

from kernel_async._anchor import Anchor
from kernel_async._anchor_pages import counted_alone, first_after, tie_ranks
from kernel_async._models import Page
from kernel_async._params import MAX_OFFSET
from kernel_async._protocol import page_step

__all__ = ["MAX_CONTRADICTIONS", "MAX_JUMP_PAGES", "AnchorSearch", "Found"]

MAX_JUMP_PAGES: Final = 1024
"""The longest jump of the search forward, in pages: doubling stops there, so a page is never
read more than this many pages past the last one known to be before the boundary (a deep
offset costs the server a scan) and beyond that the search goes on in jumps of this size.
Backwards the jumps keep doubling: each page is shallower than one already read."""

MAX_CONTRADICTIONS: Final = 32
"""Pages that contradict a bound the search had, after which it stops where it stands. Data
that moves contradicts a bound now and then; pages that contradict each other while nothing
moves (a server that is not in the documented order, a token edited by hand) would keep the
search going forever. The page it stands on is then placed like any other, and the boundary
counted as a possible gap."""


class Found(NamedTuple):
    """The end of a search: what the walk places, and how."""

    page: Page
    """The page that holds the boundary (or where the search gave up)."""
    step: int
    """The walk's page step from there."""
    first_new: int | None
    """Where the new invocations start in ``page`` (as the search placed it), or ``None`` for
    the walk to place the page itself, as it would have without a search."""
    doubtful: bool = False
    """The boundary is not proven: count it as a possible gap."""
    why: str = "the resume's place rests on a count of ties alone"
    """Why it is not, for the possible gap (and ``ContinuityError`` in strict mode)."""


_NEIGHBOURS: Final = "the resume's place rests on two pages of one invocation"


class AnchorSearch:
    """Where a resumed walk reads next while its pages do not hold its anchor's boundary.

    Args:
        anchor: The invocation the walk resumes after (with the ids delivered just before).
        start: The position to read first: the anchor's position when the token was taken.
        page_size: The walk's own page size; the page handed over is cut to it.
        limit: The page size of the search's requests (at least ``page_size``).
    """

    def __init__(self, anchor: Anchor, *, start: int, page_size: int, limit: int) -> None:
        self._anchor = anchor
        self._behind = anchor.recent_ids | {anchor.id}  # delivered before the resumed walk
        self._page_size = page_size
        self.limit = max(limit, page_size)
        self._reach = self.limit  # what one page really holds (the server may cap limit)
        self._newer_to: int | None = None  # the last position known newer than the anchor
        self._older_from: int | None = None  # the first position known not newer (or the end)
        self._jump = 0  # how far past its bound the next galloping page starts
        # Where the anchor's tie starts (its rank 0), once a page told: ranks a page of ties
        # that holds no mark, as the pages either side of it would (see tie_ranks).
        self._tie_start: int | None = None
        self._contradictions = 0
        self.offset = start  # where the next page starts

    def take(self, page: Page) -> Found | None:
        """Read the page requested at :attr:`offset`.

        Returns ``None`` while the search goes on (:attr:`offset` is then the next page to
        read), or what the walk places (:class:`Found`).
        """
        items = page.items
        step = page_step(page)
        if step is not None:
            # A step shorter than the page contradicts the page (X-Next-Offset one past its
            # offset with 100 invocations in it): what the page holds is the truer reach, and
            # one odd header must not end the search where it stands.
            self._reach = min(self.limit, max(step, len(items)))
        if not items and page.has_more:
            return None  # proves nothing (the guard ends a run of them): read the same again
        first_new = first_after(self._anchor, items, lambda: self._behind, self._first_rank(page))
        if first_new is None:
            # Not in the documented order: no search can place it, and the walk takes the
            # page as it would have without one.
            return Found(page, min(self._page_size, self._reach), None)
        if self._reach < 2 and self._contradictions < MAX_CONTRADICTIONS:
            return self._take_one(page, first_new)
        if self._contradictions >= MAX_CONTRADICTIONS:
            why = "the search for the resume's place met pages that contradict each other"
            return Found(page, min(self._page_size, self._reach), None, doubtful=True, why=why)
        if first_new == len(items) and page.has_more:
            self._newer(page.offset + len(items) - 1)  # all of it newer: the place is further
            return None
        if not first_new and page.offset > 0:
            self._older(page.offset)  # nothing newer, or past the end: the place is before it
            return None
        return self._found(page, first_new)  # or the head of the list, or its end

    def _take_one(self, page: Page, first_new: int) -> Found | None:
        """A page of one invocation, or none (a server that caps ``limit`` at 1).

        No page can hold both sides of the boundary, so the search bisects positions until
        the last one newer than the anchor and the first one not newer are neighbours, and
        hands over the page of the second. Two requests place that boundary, not one: it is
        counted as a possible gap, as every boundary of such a walk is. Until a position
        before the boundary is known (a token past the end, a list that shrank), a page all
        newer than the anchor is the walk's, which moves on from there as it would have.
        """
        items = page.items
        if first_new == len(items) and page.has_more:
            if self._older_from is None:
                return Found(page, 1, None)
            self._newer(page.offset + len(items) - 1)
            return None
        if first_new == 0 and page.offset > 0:
            if self._newer_to is not None and self._newer_to + 1 == page.offset:
                return Found(page, 1, 0, doubtful=True, why=_NEIGHBOURS)
            self._older(page.offset)
            return None
        return self._found(page, first_new)  # the head of the list, or its end

    def _first_rank(self, page: Page) -> int | None:
        """What the rank of the page's first item is, were it a tie of a token's anchor.

        Only for a token that counts ties it cannot name: a page of them with no mark is
        ranked from where an earlier page placed the tie's start, so that the search never
        reads one page as before the boundary and its neighbour as after it.
        """
        if not self._anchor.ties_before:
            return None
        ranks = tie_ranks(self._anchor, page.items)
        told = next((i for i, rank in enumerate(ranks) if rank is not None), None)
        if told is not None:
            rank = ranks[told]
            assert rank is not None
            self._tie_start = page.offset + told - rank
        return None if self._tie_start is None else page.offset - self._tie_start

    def _found(self, page: Page, first_new: int) -> Found:
        """The part of ``page`` a page of the walk's size read from the boundary holds."""
        start = max(first_new - 1, 0)  # the last item behind the walk: the page's overlap
        end = first_new + self._page_size
        step = min(self._page_size, self._reach)
        doubtful = counted_alone(
            self._anchor, page.items, first_new, self._behind, ends_list=not page.has_more
        )
        if end >= len(page.items):
            part = attrs.evolve(page, items=page.items[start:], offset=page.offset + start)
            return Found(part, step, first_new - start, doubtful)
        part = Page(
            items=page.items[start:end],
            offset=page.offset + start,
            limit=self._page_size,
            has_more=True,
            next_offset=page.offset + end,
            request_id=page.request_id,
            anomalies=page.anomalies,
        )
        return Found(part, step, first_new - start, doubtful)

    def _newer(self, position: int) -> None:
        """Everything up to ``position`` is newer than the anchor: the boundary is later."""
        if self._older_from is not None and self._older_from <= position:
            self._older_from, self._jump = None, 0  # invocations started since: stale
            self._contradictions += 1
        self._newer_to = position
        self._aim()

    def _older(self, position: int) -> None:
        """Nothing from ``position`` on is newer than the anchor: the boundary is not later."""
        if self._newer_to is not None and self._newer_to >= position:
            self._newer_to, self._jump = None, 0  # invocations deleted since: stale
            self._contradictions += 1
        self._older_from = position
        self._aim()

    def _aim(self) -> None:
        newer, older, reach = self._newer_to, self._older_from, self._reach
        if older is None:
            assert newer is not None  # one bound is always known once a page was read
            offset = newer + self._jump
        elif newer is None:
            offset = max(0, older - reach + 1 - self._jump)
        elif reach < 2:
            offset = (newer + older + 1) // 2  # pages of one: the first not newer, at last
        else:
            # Halfway, the pages either side as long; from the last newer position once one
            # page from there holds the place (the most room after it to deliver from).
            offset = max(newer, (newer + older - reach + 1) // 2)
        if older is None:
            self._jump = min(max(reach, 2 * self._jump), MAX_JUMP_PAGES * reach)
        elif newer is None:
            self._jump = min(max(reach, 2 * self._jump), MAX_OFFSET)
        self.offset = min(offset, MAX_OFFSET)
