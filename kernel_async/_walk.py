"""The plan of a concurrent offset walk that checks continuity at every page boundary.

A pure state machine (no I/O, no loop): the I/O layer (:mod:`kernel_async._listing`) asks the
plan which requests to make, hands it each page in order, and cancels what the plan discards.
Everything that decides *what* to fetch and *what* to deliver is here, tested with values,
with two parts of the plan in bases of their own: where a page's new invocations start
(:mod:`kernel_async._walk_placement`), and how many pages are in flight while the data moves
(:mod:`kernel_async._walk_churn`).

**The order it relies on.** ``GET /invocations`` lists newest first by ``started_at``, ties in
a stable server order, and an invocation's ``started_at`` never changes. Offset pagination over
that list is not a snapshot: an invocation that starts, is deleted or changes status (and so
enters or leaves a ``status`` filter) moves every later item by one position.

**Overlap.** Every page after the first is requested so that it starts at the last invocation
delivered (the *cursor*): ``offset = X-Next-Offset - 1``. If that page's first item is the
cursor, nothing moved between the two fetches and everything after it is new. If not, the
walk places the page by ids and by the order:

* the cursor elsewhere in the page: the data moved by a few items; deliver what follows it;
* the cursor gone (deleted, or it left the filter): every item delivered recently, or newer
  than the cursor, is behind the walk; what follows the last of them is new;
* no item of the page is behind the walk (*floating*): items may be missing between the cursor
  and the page, so the page is held and a *bridge* is requested a little before the cursor's
  position (1, 2, 4, ... items before, doubling while the bridge itself floats). Once the
  bridge has moved the cursor past the held page's first item, the held page is placed too.

So every invocation that is in the list for the whole walk is delivered once, in order, whatever
was inserted, deleted or changed meanwhile and whichever response came first. One extra item per
page (about one extra request per ``limit`` pages) pays for the check; one extra request per
change that lands between two pages' fetches pays for a bridge.

**Churn.** Pages fetched at the same time straddle a change together, so the plan halves its
window after every bridge and widens it again by one page per window of clean pages (additive
increase, multiplicative decrease); under heavy churn the walk goes one page at a time
(:mod:`kernel_async._walk_churn`).

**Resuming.** With an anchor, the first page is placed like any other. If the list moved far
since (that page all newer than the anchor, or none of it), a search
(:mod:`kernel_async._resume_search`) picks the pages to read, one at a time, until one holds
the anchor's place; the plan takes the part of it that a page of its own size would hold.

**What it cannot see.** A page of one item cannot overlap its predecessor and a server order
that is not newest first cannot be placed: both are counted in :attr:`WalkStats.possible_gaps`
(and raise :class:`~kernel_async.ContinuityError` in strict mode), never silent. Ties served
in another order at each request leave no position to go by: counted too, and the page's
new ties taken by id, once a page shows it (:func:`~kernel_async._anchor_pages.ties_out_of_order`),
which for a small tie walked with small pages may never happen (docs/pagination.md).
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import TYPE_CHECKING

from kernel_async._anchor import Anchor
from kernel_async._guard import ServerGuard
from kernel_async._models import Page
from kernel_async._params import MAX_OFFSET
from kernel_async._protocol import page_step
from kernel_async._resume_search import AnchorSearch
from kernel_async._walk_churn import CHURN_LIMIT, CHURN_WINDOW, ChurnWindow
from kernel_async._walk_placement import PagePlacement, RecentIds
from kernel_async._walk_records import Accepted, Request, WalkStats

if TYPE_CHECKING:
    from collections.abc import Container

__all__ = ["CHURN_LIMIT", "CHURN_WINDOW", "WalkPlan"]


class WalkPlan(PagePlacement, ChurnWindow):
    """Which pages a walk requests, and what it delivers from each.

    Args:
        start: The offset of the first request (with ``anchor``: the anchor's position).
        max_items: Deliver at most this many invocations.
        anchor: Resume after this invocation: the first page is placed like any other.
        window: The most pages in flight; the plan lowers it under churn.
        strict: Raise :class:`ContinuityError` instead of counting a possible gap.
        search: With ``anchor``: how to look for its place while pages do not hold it
            (:mod:`kernel_async._resume_search`); ``None``: the first page places the walk.
    """

    def __init__(
        self,
        *,
        start: int,
        max_items: int | None = None,
        anchor: Anchor | None = None,
        window: int = 1,
        strict: bool = False,
        search: AnchorSearch | None = None,
    ) -> None:
        self._next = start  # where the next page starts: the cursor's position once known
        self._cursor = anchor
        self._search = search
        # The ids of the last invocations delivered: never delivered again, and they place
        # a page whose cursor is gone. A resumed walk starts from those its token names.
        self._recent = RecentIds()
        if anchor is not None:
            self._recent.add({anchor.id, *anchor.recent_ids})
        self._max_items = max_items
        self._strict = strict
        self._delivered = 0
        self._done = max_items == 0
        self._complete = False  # the last page was placed: nothing after it
        self._scheduled: deque[Request] = deque()  # made, not yet taken, in walk order
        self._held: set[int] = set()  # floating pages kept while a bridge is fetched
        self._to_launch: list[Request] = []
        self._keys = itertools.count()
        self._step: int | None = None
        self._max_window = max(window, 1)
        self._window = float(self._max_window)
        self._bridge_attempts = 0
        self._floats: deque[bool] = deque(maxlen=CHURN_WINDOW)
        self._unchecked = False  # churn beyond what bridging can keep up with
        self._moved = False  # a page floated once: the data changes under this walk
        self._ties_unstable = False  # a page showed ties in another order than delivered
        self._guard = ServerGuard(strict=strict)
        self.stats = WalkStats(window=self._max_window, peak_window=self._max_window)

    # -- what the I/O layer reads ----------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether the walk has ended (last page placed, ``max_items`` reached, or failed)."""
        return self._done

    @property
    def complete(self) -> bool:
        """Whether the walk reached the end of the list."""
        return self._complete

    @property
    def cursor(self) -> Anchor | None:
        """The last invocation the plan delivered, or the anchor it started from."""
        return self._cursor

    @property
    def resume_offset(self) -> int | None:
        """The position after the last item delivered; ``None`` once the walk is complete."""
        if self._complete:
            return None
        if self._cursor is not None:
            return self._cursor.position + 1
        return self._next

    @property
    def head(self) -> Request | None:
        """The request whose page is delivered next."""
        return self._scheduled[0] if self._scheduled else None

    @property
    def scheduled(self) -> tuple[Request, ...]:
        """The requests made and not yet taken, in walk order."""
        return tuple(self._scheduled)

    # -- planning ----------------------------------------------------------------------------

    def plan(self, capacity: int) -> list[Request]:
        """Requests to make now so that at most ``capacity`` (and the window) are outstanding.

        Before the first page the step is unknown, so only that page is requested. With
        ``max_items`` set, speculation stops where it would be satisfied.
        """
        # Bridges made while accepting a page, unless that page's successor already went.
        new = [request for request in self._to_launch if request in self._scheduled]
        self._to_launch = []
        if self._done:
            return new
        capacity = min(capacity, self.window)
        if not self._scheduled and capacity > 0:
            search = self._search  # while it looks for a resumed walk's place: one at a time
            offset, limit = (self._next, None) if search is None else (search.offset, search.limit)
            new.append(self._schedule(offset, limit=limit))
        if self._step is None:
            return new
        stride = self._step - self._overlap
        horizon = None
        if self._max_items is not None:
            position = self._cursor.position + 1 if self._cursor is not None else self._next
            horizon = position + self._max_items - self._delivered
        while self._scheduled and len(self._scheduled) < capacity:
            offset = self._scheduled[-1].offset + stride
            if horizon is not None and offset + self._overlap >= horizon:
                break
            if offset > MAX_OFFSET:
                break  # past the server's int64: no page is there (review r12, F7)
            new.append(self._schedule(offset))
        return new

    def accept(self, key: int, page: Page) -> Accepted:
        """Take the page of the head request; say what to deliver and what to drop.

        Raises:
            PaginationError: the server contradicts itself in a way the walk cannot go past
                (empty pages that say there is more, the first page served again, pages with
                nothing new, forever), or in strict mode any anomaly.
            ContinuityError: in strict mode, a boundary the walk cannot check.
        """
        head = self._scheduled[0] if self._scheduled else None
        if head is None or head.key != key:
            raise ValueError(f"request {key} is not the head of the walk")
        self._scheduled.popleft()
        was_held = key in self._held
        self._held.discard(key)
        self.stats.anomalies += self._guard.check(
            page, self._cursor.id if self._cursor is not None else None
        )
        if self._search is not None:
            found = self._search.take(page)
            if found is None:
                self.stats.searched += 1
                return Accepted((), page.offset)
            # The place is in this page: the part a page of the walk's own size requested
            # there would have held, delivered from where the search placed it (the plan,
            # without the search's knowledge of where a long tie starts, might not place it).
            self._search = None
            page, self._step = found.page, found.step
            self._next = page.offset  # bridges reach back from here, not from the token's
            if found.doubtful:
                self._possible_gap(page, found.why)
            if found.first_new is None:
                accepted = self._place(head, page, was_held)
            else:
                accepted = self._deliver(page, found.first_new, head)
            return Accepted(accepted.items, accepted.start, accepted.discard, page=page)
        step = page_step(page)
        if step is not None:
            self._step = step
        return self._place(head, page, was_held)

    def holds(self, key: int) -> bool:
        """Whether the page of this request is kept for later (it floated)."""
        return key in self._held

    def close(self) -> tuple[int, ...]:
        """End the walk early; returns the keys of every outstanding request to cancel."""
        self._done = True
        return self._discard_all()

    # -- internals ---------------------------------------------------------------------------

    def _place(self, head: Request, page: Page, was_held: bool) -> Accepted:
        """Deliver what is new in the head request's page, or bridge to it if it floats."""
        first_new = self._first_new(page)
        if first_new is None:
            if not head.bridge and self._overlap:  # a boundary counts once, however bridged
                self._note_churn(churned=True)
                self._moved = True
            if was_held:
                # Fetched before the data moved again: the bridge's chain covers its range.
                self.stats.wasted += 1
                return Accepted((), page.offset, self._discard_all())
            if self._overlap and not head.unchecked:
                # Pages requested together are always bridged, even once the walk goes one
                # page at a time: one answered before later changes could skip invocations
                # that a sequential walk would see.
                return self._bridge(head, page)
            # One item per page cannot overlap; a page requested alone under heavy churn is
            # taken as a sequential walk would take it.
            why = "heavy churn" if self._overlap else "a page of one item cannot overlap"
            self._possible_gap(page, f"the page does not reach back to the walk ({why})")
            first_new = self._first_not_behind(page)
        return self._deliver(page, first_new, head)

    def _schedule(
        self, offset: int, *, bridge: bool = False, first: bool = False, limit: int | None = None
    ) -> Request:
        request = Request(next(self._keys), offset, bridge, self._unchecked, limit)
        if first:
            self._scheduled.appendleft(request)
        else:
            self._scheduled.append(request)
        self.stats.requests += 1
        return request

    def _discard_all(self) -> tuple[int, ...]:
        discarded = tuple(request.key for request in self._scheduled)
        self.stats.wasted += len(discarded)
        self._scheduled.clear()
        self._held.clear()
        return discarded

    def _bridge(self, head: Request, page: Page) -> Accepted:
        """The page floats: hold it and request a bridge from before the cursor.

        Each bridge that floats too reaches twice as far back as the one before; at offset 0
        a page is always placed (nothing can be missing before the head of the list), so a
        boundary costs at most about log2(offset) bridges.
        """
        self._bridge_attempts += 1
        self.stats.bridges += 1
        self._window = max(1.0, self._window / 2)
        self._track_window()
        discard: list[int] = []
        if not head.bridge and self._max_window >= 2:
            self._scheduled.appendleft(head)  # placed again once the bridge has moved the cursor
            self._held.add(head.key)
        else:
            self.stats.wasted += 1
        offset = max(0, self._next - (1 << (self._bridge_attempts - 1)))
        self._to_launch.append(self._schedule(offset, bridge=True, first=True))
        # Requests already made stay (each page is checked when its turn comes); only the
        # bound on pages in flight may cost the last one its place.
        while len(self._scheduled) > max(self._max_window, 1 + len(self._held)):
            discard.append(self._scheduled.pop().key)
        self.stats.wasted += len(discard)
        return Accepted((), page.offset, tuple(discard))

    def _deliver(self, page: Page, first_new: int, request: Request) -> Accepted:
        """The page of ``request`` is placed: deliver what is new from ``first_new`` on."""
        items = page.items
        cursor_id = self._cursor.id if self._cursor is not None else None
        indexes: range | list[int]
        new_ids: set[str] | None = None  # the ids of ``new``, when built
        if first_new and items[first_new - 1].id == cursor_id:
            # The cursor is in the page: what follows it is new (the common case), unless the
            # server repeated one of them or the cursor itself (delivered already).
            indexes, new = range(first_new, len(items)), items[first_new:]
            cursor = self._cursor
            assert cursor is not None  # the cursor's id matched
            if new and new[0].started_at == cursor.started_at and cursor.has_recent_ids():
                # Ties of the cursor, in a server order the walk cannot derive, may follow it
                # here though delivered before it: the cursor moved back to a tie it had not
                # seen (a stale page's, or one that started at that very instant). Never twice.
                indexes, new = self._unrepeated(items, first_new, self._recent_ids())
            else:
                # New by position, on every server whose order is stable, whatever it is.
                # One that is not may show after the cursor one the walk delivered, and a
                # page may list one twice, maybe the cursor or one before it: never again.
                new_ids = {item.id for item in new}
                delivered_again = not self._recent.isdisjoint(new_ids)
                if (
                    delivered_again
                    or len(new_ids) < len(new)
                    or any(item.id in new_ids for item in items[:first_new])
                ):
                    indexes, new = self._unrepeated(items, first_new, self._recent_ids())
                    new_ids = None
                if delivered_again:
                    # What it hid before the cursor, then, is not known either.
                    self._possible_gap(
                        page,
                        "the page shows after the cursor one delivered before it (the "
                        "server's order changed between requests, or it lists one twice)",
                    )
        else:
            recent: Container[str] = self._recent_ids() if self._cursor is not None else set()
            indexes, new = self._unrepeated(items, first_new, recent)
        cut_short = False
        if self._max_items is not None and len(new) >= self._max_items - self._delivered:
            wanted = self._max_items - self._delivered
            cut_short = wanted < len(new)
            indexes, new = indexes[:wanted], new[:wanted]
            new_ids = None
            self._done = True
        # Positions by index, never by equality: a page may hold the same invocation twice.
        start = page.offset + (indexes[0] if new else first_new)
        self.stats.pages += 1
        if self.window < self._max_window:
            self.stats.reduced_window_pages += 1
        # A page that moved nothing forward was pushed back by churn as surely as one that
        # floated: both tell the walk the data changes faster than it can check.
        if self._overlap:
            # Only a page that holds the cursor and nothing after it was pushed back: pages
            # entirely behind the walk (catching up after a long bridge) are not churn.
            pushed_back = not new and 0 < first_new <= len(items)
            self._note_churn(churned=pushed_back and items[first_new - 1].id == cursor_id)
        if request.unchecked:  # as it was requested: this page may have just ended the run
            self.stats.unchecked_pages += 1
        self._bridge_attempts = 0  # placed: the walk knows where it is again
        if new:
            self._delivered += len(new)
            self._recent.add({item.id for item in new} if new_ids is None else new_ids)
            self._cursor = Anchor.after(new, page.offset + indexes[-1], self._cursor, shown=items)
        if self._done or not page.has_more or page.next_offset is None:
            self._complete = not page.has_more and not cut_short
            self._done = True
            return Accepted(new, start, self._discard_all())
        overlap = self._overlap
        if not self._unchecked:
            self._window = min(float(self._max_window), self._window + 1 / self._window)
            self._track_window()
        elif not new:
            # Pushed back by churn as far as the overlap lets the walk move: take a whole
            # page's step, as a sequential walk would, so that it ends when that one does.
            overlap = 0
        self._next = page.next_offset - overlap
        if self._cursor is None and not items:
            # An empty page before anything was delivered (a lagging replica, a lost body)
            # proves nothing about the offsets it would skip: ask for the same one again.
            # The guard ends a run of empty pages (PaginationError).
            self._next = page.offset
            return Accepted(new, start, self._discard_all())
        # A request made before the overlap widened still overlaps by one and is checked like
        # any page; one that would leave a gap, or overlap more than the overlap does, was
        # speculated with a step the server does not use. (A held page is placed anyway.)
        # Pages of one item do not overlap: the next starts where this one said.
        following = self._scheduled[0] if self._scheduled else None
        stale = (
            following is not None
            and following.key not in self._held
            and not self._next <= following.offset <= max(self._next, page.next_offset - 1)
        )
        return Accepted(new, start, self._discard_all() if stale else ())
