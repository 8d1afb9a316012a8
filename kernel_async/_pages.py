"""``AsyncInvocationPage``: the official SDK's page API, for code that awaits ``list()``.

``page = await client.invocations.list(...)`` returns the first page, as in the official SDK,
and the page fetches the ones after it: ``has_next_page()``, ``get_next_page()``,
``iter_pages()``, and ``async for`` over every item from this page on. It is the
compatibility path, and it works as the official one does: one page at a time, each next page
at the ``X-Next-Offset`` the server sent (verbatim, never the offset plus the item count),
with plain offset pagination's behaviour on data that changes meanwhile. The concurrent,
exactly-once walk is ``async for`` over the listing itself.

The iterators here are classes, not async generators: nothing is left to finalize when a
consumer breaks out, and a fetch that fails or is cancelled changes nothing, so iterating
again asks for the same page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Self

import attrs

from kernel_async._models import Invocation, Page

__all__ = ["AsyncInvocationPage", "FetchAt", "PageInfo", "link_page"]

FetchAt = Callable[[int], Awaitable[Page]]
"""Fetch the page at an offset: one ``list_page`` call with the filters and options bound."""


@attrs.frozen(kw_only=True)
class PageInfo:
    """Where the next page starts, as :meth:`AsyncInvocationPage.next_page_info` says it.

    Attributes:
        params: The query parameters that differ for the next page: ``{"offset": n}``.
    """

    params: Mapping[str, int]


@attrs.frozen(kw_only=True)
class AsyncInvocationPage(Page):
    """One page of invocations that can fetch the pages after it, as the official SDK's can.

    What ``await client.invocations.list(...)`` returns: a :class:`Page` (``items``,
    ``has_more``, ``next_offset``, ``request_id``, ``page[0]``, ``len(page)``) that also
    has the official SDK's page methods::

        page = await client.invocations.list(status="failed", limit=20)
        for invocation in page.items:  # this page only
            ...
        if page.has_next_page():
            page = await page.get_next_page()

        async for invocation in await client.invocations.list(status="failed"):
            ...  # every item, from this page on, one page at a time

    Plain ``for`` over a page gives its own items; ``async for`` goes on through the pages
    after it. Each next page starts at the ``X-Next-Offset`` the server sent; a page whose
    headers contradict each other raises :class:`PaginationError`. Every fetch is one
    ``list_page`` call with the same filters, page size and options (``max_retries``,
    ``deadline`` and ``timeout`` apply to each call).
    """

    _fetch: FetchAt = attrs.field(alias="fetch", eq=False, repr=False)

    def has_next_page(self) -> bool:
        """Whether the server has more after this page (``X-Has-More``)."""
        return self.has_more and self.next_offset is not None

    def next_page_info(self) -> PageInfo | None:
        """Where the next page starts, ``PageInfo(params={"offset": n})``; ``None`` on the last."""
        if not self.has_next_page() or self.next_offset is None:
            return None
        return PageInfo(params={"offset": self.next_offset})

    async def get_next_page(self) -> AsyncInvocationPage:
        """Fetch the page after this one.

        Raises:
            RuntimeError: this is the last page (check :meth:`has_next_page` first), as in
                the official SDK.
            APIError: the request failed (a subclass says how).
        """
        if not self.has_next_page() or self.next_offset is None:
            raise RuntimeError(
                "no next page expected; check has_next_page() before calling get_next_page()"
            )
        return link_page(await self._fetch(self.next_offset), self._fetch)

    def iter_pages(self) -> AsyncIterator[AsyncInvocationPage]:
        """Iterate this page, then each page after it, fetching each when it is asked for."""
        return _PageIterator(self)

    def __aiter__(self) -> AsyncIterator[Invocation]:
        """Iterate every invocation of this page and of the pages after it."""
        return _ItemIterator(_PageIterator(self))


def link_page(page: Page, fetch: FetchAt) -> AsyncInvocationPage:
    """``page``, able to fetch the pages after it with ``fetch``."""
    fields = {field.alias or field.name: getattr(page, field.name) for field in attrs.fields(Page)}
    return AsyncInvocationPage(**fields, fetch=fetch)


class _PageIterator:
    """The pages from a first one on, each fetched when the consumer asks for it."""

    def __init__(self, first: AsyncInvocationPage) -> None:
        self._first: AsyncInvocationPage | None = first
        self._current: AsyncInvocationPage | None = None
        self._done = False
        self._busy = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AsyncInvocationPage:
        if self._done:
            raise StopAsyncIteration
        if self._first is not None:
            self._current, self._first = self._first, None
            return self._current
        current = self._current
        assert current is not None
        if not current.has_next_page():
            self._done = True
            raise StopAsyncIteration
        if self._busy:
            raise RuntimeError("another task is iterating these pages; one consumer at a time")
        self._busy = True
        try:
            # Nothing changes before the page arrives: after an error or a cancellation,
            # iterating again asks for the same page.
            following = await current.get_next_page()
        finally:
            self._busy = False
        self._current = following
        return following

    async def aclose(self) -> None:
        """Stop: the iteration ends (as ``aclose()`` ends an async generator)."""
        self._done = True


class _ItemIterator:
    """The invocations of a page and of every page after it, one page fetched at a time."""

    def __init__(self, pages: _PageIterator) -> None:
        self._pages = pages
        self._items: tuple[Invocation, ...] = ()
        self._index = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Invocation:
        while self._index >= len(self._items):
            page = await self._pages.__anext__()  # StopAsyncIteration after the last page
            self._items, self._index = page.items, 0
        item = self._items[self._index]
        self._index += 1
        return item

    async def aclose(self) -> None:
        """Stop: the iteration ends (as ``aclose()`` ends an async generator)."""
        self._items, self._index = (), 0
        await self._pages.aclose()
