"""``InvocationListing``: the async iterator that walks pages concurrently.

What its user calls and reads: ``async for`` over the items or :meth:`~InvocationListing.pages`,
``await`` for the official SDK's first page, ``aclose()``, and where the walk is
(:attr:`~InvocationListing.resume_token`, its stats). The walk itself, which requests pages
and delivers them in order, is its base :class:`~kernel_async._listing_walk.ListingWalk`. It
is a class, not an async generator, on purpose: ``break`` out of ``async for`` does not close
an async generator until garbage collection, and a task group inside a generator that yields
breaks ``aclose()`` on Python 3.11-3.13. Here ``aclose()`` (and ``async with``) cancels and
awaits every request before returning; dropping an unclosed listing cancels them too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any, Self

from kernel_async._anchor import Anchor
from kernel_async._listing_walk import ListingWalk
from kernel_async._models import Invocation, Page
from kernel_async._page_tasks import PageTasks
from kernel_async._pages import AsyncInvocationPage  # for get_type_hints() at run time
from kernel_async._resume import ResumeToken
from kernel_async._walk_records import WalkStats

__all__ = ["InvocationListing"]


class InvocationListing(ListingWalk):
    """Every invocation matching the filters, newest first, fetched several pages at a time.

    Returned by :meth:`Invocations.list`; iterate it with ``async for``, preferably inside
    ``async with`` so that leaving early cancels and awaits the requests still in flight::

        async with client.invocations.list(status="failed") as invocations:
            async for invocation in invocations:
                ...

    At most ``prefetch`` pages are requested, buffered or being consumed at once. Items come
    in the server's order, each once, even while the data changes (see the pagination
    guide); a failing page raises when its turn comes, after every item before it, and
    :attr:`resume_token` says where to start again.
    """

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<InvocationListing {state} prefetch={self._prefetch} "
            f"resume_offset={self.resume_offset} in_flight={len(self._tasks)}>"
        )

    @property
    def resume_offset(self) -> int | None:
        """The position of the next invocation not yet delivered; ``None`` once complete.

        Exact on data that did not change during the walk: pass it as ``offset=`` to a new
        listing with the same filters. On live data, use :attr:`resume_token` instead.
        """
        if self._index < len(self._batch):
            return self._batch_start + self._index  # part of a page is still buffered
        return self._plan.resume_offset

    @property
    def resume_token(self) -> ResumeToken | None:
        """Where to carry on from, even if the data changed meanwhile; ``None`` once complete.

        Pass it as ``resume=`` to :meth:`Invocations.list` (or store ``str(token)`` and pass
        that): the new walk finds its place by the ids of the last invocations delivered and
        yields exactly what this one had not.
        """
        offset = self.resume_offset
        if offset is None:
            return None
        anchor, recent = self._consumed, self._previous
        if self._index > 0:
            taken = self._batch[: self._index]
            anchor = Anchor.after(taken, self._batch_start + self._index - 1, anchor, aside=True)
            recent += taken
        return ResumeToken.at(self._filters, anchor, offset, [item.id for item in recent])

    @property
    def error(self) -> BaseException | None:
        """The exception that ended the walk, if one did."""
        return self._error

    @property
    def in_flight(self) -> int:
        """How many page requests are running or buffered right now."""
        return len(self._tasks)

    @property
    def stats(self) -> WalkStats:
        """What the walk did: requests, bridges, wasted requests, possible gaps, window."""
        return self._plan.stats

    @property
    def possible_gaps(self) -> int:
        """Page boundaries where the walk could not prove it missed nothing (usually 0)."""
        return self._plan.stats.possible_gaps

    @property
    def resyncs(self) -> int:
        """How often the walk had to find its place again because the data moved."""
        return self._plan.stats.bridges

    def __aiter__(self) -> Self:
        self._claim("items")
        return self

    def __await__(self) -> Generator[Any, None, AsyncInvocationPage]:
        """``await client.invocations.list(...)``: the first page, as in the official SDK.

        The page (:class:`AsyncInvocationPage`) fetches the ones after it, one at a time.
        Awaiting starts no walk: the listing itself is left as it was.
        """
        if self._first_page is None:
            raise TypeError("this listing has no first page to await; iterate it instead")
        return self._first_page().__await__()

    async def __anext__(self) -> Invocation:
        index = self._index
        try:
            item = self._batch[index]  # the hot path: an item already buffered
        except IndexError:
            pass
        else:
            if not self._closed:
                self._index = index + 1
                return item
        if await self._advance():
            self._index = 1
            return self._batch[0]
        self._told_end = True
        raise StopAsyncIteration

    def pages(self) -> AsyncIterator[Page]:
        """Iterate page by page instead: each :class:`Page` with its headers.

        A page carries the invocations new to the walk (those a plain item walk yields from
        it; the item that overlaps the previous page is not repeated), and its ``offset`` is
        the position of the first of them. A listing is walked by item or by page, not both.
        As with items, a cancellation while waiting for a page loses nothing: the same
        iterator goes on with that page.
        """
        self._claim("pages")
        return _Pages(self)

    async def aclose(self) -> None:
        """Stop the walk: cancel and await every request still in flight. Idempotent.

        :attr:`resume_token` still says where the walk stopped. A task iterating the listing
        meanwhile sees the iteration end normally.
        """
        self._closed = True
        self._tasks.discard(self._plan.close())
        await self._tasks.reap()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped without aclose() (a bare `break`): nothing can be awaited here, but every
        # request is cancelled, so none outlives the listing. `async with` also waits for
        # them, which is why it is recommended.
        tasks: PageTasks | None = getattr(self, "_tasks", None)  # None: __init__ failed
        if tasks is not None:
            tasks.cancel_all()


class _Pages:
    """What :meth:`InvocationListing.pages` returns.

    A class, not an async generator: a cancellation inside an async generator's ``__anext__``
    finishes it, and the next call would end the iteration as if the walk were complete. Here
    the next call asks the listing again, which goes on exactly where it was.
    """

    __slots__ = ("_ended", "_listing")

    def __init__(self, listing: InvocationListing) -> None:
        self._listing = listing
        self._ended = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Page:
        if self._ended:
            raise StopAsyncIteration
        return await self._listing._next_page()

    async def aclose(self) -> None:
        """End this iteration, as ``aclose()`` ends an async generator.

        The listing stays open: close it with its own ``aclose()`` or ``async with``.
        """
        self._ended = True
