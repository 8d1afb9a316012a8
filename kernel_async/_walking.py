"""``client.invocations.list``: a walk's arguments, checked and bound into a plan and a listing.

:class:`InvocationWalking` is mixed into :class:`~kernel_async._invocations.Invocations`. Its
one method checks every argument before anything is sent, settles the walk's page size and
window (fixed, or adaptive), finds where a resumed walk starts (the token's filters and
anchor, and the search for it), and returns the :class:`~kernel_async._listing.InvocationListing`
that runs the :class:`~kernel_async._walk.WalkPlan`; awaited instead, the listing fetches the
official SDK's first page with the arguments as given (``_page_fetcher`` of the resource).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from kernel_async._config import Timeout
from kernel_async._listing import InvocationListing
from kernel_async._models import InvocationStatus, Page
from kernel_async._options import QueryValue, call_options
from kernel_async._pages import AsyncInvocationPage, FetchAt, link_page
from kernel_async._params import (
    DEFAULT_WALK_PAGE_SIZE,
    InvocationFilters,
    Since,
    validate_deadline,
    validate_limit,
    validate_max_items,
    validate_max_retries,
    validate_offset,
    validate_prefetch,
)
from kernel_async._resume import ResumeToken
from kernel_async._resume_search import AnchorSearch
from kernel_async._walk import WalkPlan
from kernel_async._window import DEFAULT_MAX_PREFETCH, AdaptiveWindow

if TYPE_CHECKING:
    from kernel_async._client_protocol import InvocationsClient

__all__ = ["InvocationWalking"]


class InvocationWalking:
    """The ``list`` method of ``client.invocations`` (see :class:`Invocations`)."""

    if TYPE_CHECKING:
        # What the resource provides.
        _client: InvocationsClient
        _page_fetcher: Callable[..., FetchAt]

    def list(
        self,
        *,
        app_name: str | None = None,
        version: str | None = None,
        action_name: str | None = None,
        deployment_id: str | None = None,
        status: InvocationStatus | str | None = None,
        since: Since | None = None,
        query: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        prefetch: int | None = None,
        max_prefetch: int | None = None,
        max_items: int | None = None,
        resume: ResumeToken | str | None = None,
        strict: bool = False,
        dedupe: bool | None = None,
        max_retries: int | None = None,
        deadline: float | None = None,
        timeout: Timeout | float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, QueryValue] | None = None,
        extra_body: None = None,
    ) -> InvocationListing:
        """Walk every matching invocation, newest first, several pages at a time.

        Not a coroutine: it checks the arguments and returns the listing at once; requests
        start when iteration does::

            async with client.invocations.list(status="failed") as invocations:
                async for invocation in invocations:
                    print(invocation.id)

        Each invocation that matches the filters for the whole walk is delivered once, in
        order, even while invocations start, finish or are deleted meanwhile (see the
        pagination guide for how, and what it costs).

        Awaited instead, as code written for the official SDK does, it returns the first
        page, an :class:`AsyncInvocationPage` with the official page methods
        (``has_next_page()``, ``get_next_page()``, ``iter_pages()``, ``async for`` over
        the items of every page), fetched one page at a time::

            page = await client.invocations.list(status="failed", limit=20)

        The filters, ``limit`` (``None``: the server's default, 20), ``offset`` and the
        per-call options apply to each page; ``max_retries`` and ``deadline`` to each fetch.
        ``prefetch`` does not apply, and ``max_items``, ``resume`` and ``strict`` (which
        belong to walks) raise :class:`TypeError` when the listing is awaited.

        Args:
            app_name: Only this application's invocations.
            version: Only this application version.
            action_name: Only this action's invocations.
            deployment_id: Only this deployment's invocations.
            status: ``queued``, ``running``, ``succeeded`` or ``failed``.
            since: Started at or after this (as for :meth:`list_page`).
            query: Free-text search on invocation id, app name or action name.
            limit: Page size from 1 to 100 (default, and ``None``: 100, the API's maximum,
                for a walk); no request asks for more. Each page after the first overlaps
                the one before by one invocation, to check that nothing moved; so a walk
                sends at least 2.
            offset: Where to start, such as a ``resume_offset`` (exact on data that did not
                change; on live data use ``resume``).
            prefetch: A fixed number of pages in flight, buffered or being consumed at once,
                from 1 to the client's ``connection_limit``. 1 is a sequential walk: the next
                page is requested only once the current one is consumed, as the official SDK
                does. ``None`` (the default) adapts the window to what the walk measures:
                enough pages to cover a round trip while the walk works through one, fewer
                when the server pushes back (see the pagination guide). Either way the walk
                lowers it for a while when the data changes under it.
            max_prefetch: The most pages an adaptive window may have in flight (default 32,
                or the client's ``connection_limit`` if lower); only with ``prefetch=None``.
            max_items: Stop after this many invocations (pages shrink to it below
                ``limit``). It bounds what is delivered, not what a resumed walk reads, at
                ``limit``, to find its place.
            resume: Carry on after a walk that stopped: its ``resume_token`` (or the token's
                string). The filters come from the token; passing other filters is an error.
                If the list moved far since, the walk searches for its place in growing
                jumps (about ``2 log2(N / limit)`` requests for ``N`` new invocations).
            strict: Raise :class:`ContinuityError` at a page boundary the walk cannot check
                (instead of counting it in ``listing.possible_gaps``), and
                :class:`PaginationError` for any odd page header it would work around.
            dedupe: Deprecated and ignored: every walk delivers each invocation once.
            max_retries: Retries per page (default: the client's).
            deadline: Seconds the whole walk may take from its first request, every page,
                retry and wait included; past it, the walk raises :class:`APITimeoutError`
                with ``limit="deadline"`` (and ``resume_token`` says where it stopped).
            timeout: Per-attempt limits of each page request: a :class:`Timeout`, or
                seconds for the whole attempt (default, and ``None``: the client's).
            extra_headers: Headers to add to each request (as for :meth:`list_page`).
            extra_query: Query parameters to add to each request (as for
                :meth:`list_page`). They are not part of ``resume_token``: pass them again
                when resuming.
            extra_body: Accepted for the official SDK's signature; only ``None``.

        Raises:
            ValueError, TypeError: an invalid argument (nothing is sent).
        """
        filters = InvocationFilters.create(
            app_name=app_name,
            version=version,
            action_name=action_name,
            deployment_id=deployment_id,
            status=status,
            since=since,
            query=query,
        )
        requested_limit = None if limit is None else validate_limit(limit)
        page_size = DEFAULT_WALK_PAGE_SIZE if requested_limit is None else requested_limit
        start = validate_offset(offset)
        connections = self._client.connection_limit
        adaptive = None
        if prefetch is None:
            maximum = (
                min(DEFAULT_MAX_PREFETCH, connections)
                if max_prefetch is None
                else validate_prefetch(
                    max_prefetch, connection_limit=connections, name="max_prefetch"
                )
            )
            adaptive = AdaptiveWindow(maximum)
            window = maximum
        else:
            window = validate_prefetch(prefetch, connection_limit=connections)
            if max_prefetch is not None:
                raise ValueError(
                    "max_prefetch bounds the adaptive window (prefetch=None); "
                    f"prefetch={prefetch} is a fixed window already"
                )
        wanted = validate_max_items(max_items)
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be a bool, not {type(strict).__name__}")
        if dedupe is not None:
            if not isinstance(dedupe, bool):
                raise TypeError(f"dedupe must be a bool, not {type(dedupe).__name__}")
            warnings.warn(
                "dedupe is deprecated and has no effect: every walk delivers each invocation "
                "once; it will be removed in a future release",
                DeprecationWarning,
                stacklevel=2,
            )
        retries = validate_max_retries(max_retries)
        seconds = validate_deadline(deadline)
        options = call_options(
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )
        # Awaiting the listing: the official SDK's first page, with the arguments as given.
        fetch_at = self._page_fetcher(
            filters, limit=requested_limit, max_retries=retries, deadline=seconds, options=options
        )
        first_offset = start
        walk_only = [
            name
            for name, given in (
                ("max_items", max_items is not None),
                ("resume", resume is not None),
                ("strict", strict),
            )
            if given
        ]

        async def first_page() -> AsyncInvocationPage:
            if walk_only:
                verb = "applies" if len(walk_only) == 1 else "apply"
                raise TypeError(
                    f"{' and '.join(walk_only)} {verb} to walking the listing with async for; "
                    "awaiting list() returns its first page, as in the official SDK"
                )
            return link_page(await fetch_at(first_offset), fetch_at)

        token = None
        anchor = None
        if resume is not None:
            token = resume if isinstance(resume, ResumeToken) else ResumeToken.parse(resume)
            if offset != 0:
                raise ValueError("pass either offset or resume, not both")
            filters = _resumed_filters(token, filters)
            anchor = token.anchor()
            start = anchor.position if anchor is not None else token.offset
        # A resumed walk looks for its place with pages of `limit` (100 unless given): what
        # max_items bounds is what is delivered, not what is read to find where to start. Two
        # at least, as the walk's own pages: a page of one cannot bound a search.
        search_limit = max(page_size, 2)
        if wanted is not None and wanted > 0:
            page_size = min(page_size, wanted)  # no need to fetch 100 to show 5
        if page_size == 1 and (wanted is None or wanted > 1):
            page_size = 2  # room for the overlap and one new invocation
        fetch_page = self._client._fetch_invocations_page
        bound_filters = filters

        def fetch(
            page_offset: int, page_limit: int | None, deadline_at: float | None
        ) -> Coroutine[Any, Any, Page]:
            return fetch_page(
                bound_filters,
                limit=page_size if page_limit is None else page_limit,
                offset=page_offset,
                max_retries=retries,
                deadline_at=deadline_at,
                options=options,
            )

        # An adaptive window starts at one page (the first goes alone) and is steered from there.
        initial = 1 if adaptive is not None else window
        plan = WalkPlan(
            start=start,
            max_items=wanted,
            anchor=anchor,
            window=initial,
            strict=strict,
            search=None
            if anchor is None
            else AnchorSearch(anchor, start=start, page_size=page_size, limit=search_limit),
        )
        return InvocationListing(
            fetch,
            plan=plan,
            prefetch=window,
            adaptive=adaptive,
            pushbacks=lambda: self._client.pushbacks,
            filters=filters.as_query(),
            deadline=seconds,
            resumed_from=token,
            first_page=first_page,
        )


def _resumed_filters(token: ResumeToken, given: InvocationFilters) -> InvocationFilters:
    """The filters of a resumed walk: the token's, which any filters given must equal."""
    try:
        filters = InvocationFilters.create(**dict(token.filters))
    except TypeError:
        raise ValueError("a damaged kernel-async resume token (unknown filter)") from None
    if given.as_query() and given != filters:
        raise ValueError(
            f"the resume token belongs to a walk with filters {dict(token.filters)}, "
            f"not {given.as_query()}; leave the filters out to use the token's"
        )
    return filters
