"""``client.invocations``: the resource, and one page of it (``list_page``).

:class:`Invocations` mixes in its walks (``list``, from :mod:`kernel_async._walking`) and its
watches (``watch``, ``wait`` and ``failures``, from :mod:`kernel_async._watching`). Every
request of theirs is the client's fetch of one page, which the resource reaches through the
:class:`~kernel_async._client_protocol.InvocationsClient` it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Final

from kernel_async._client_protocol import InvocationsClient
from kernel_async._config import Timeout
from kernel_async._models import InvocationStatus, Page
from kernel_async._options import CallOptions, QueryValue, call_options
from kernel_async._pages import FetchAt
from kernel_async._params import (
    DEFAULT_WALK_PAGE_SIZE,
    InvocationFilters,
    Since,
    validate_deadline,
    validate_limit,
    validate_max_retries,
    validate_offset,
)
from kernel_async._walking import InvocationWalking
from kernel_async._watching import InvocationWatching

__all__ = ["DEFAULT_PREFETCH", "DEFAULT_WALK_PAGE_SIZE", "Invocations"]

DEFAULT_PREFETCH: Final = 8
"""The fixed window walks had by default before it adapted (``prefetch=None`` now); kept for
code that passes it explicitly."""


class Invocations(InvocationWalking, InvocationWatching):
    """The ``/invocations`` resource, reached as ``client.invocations``.

    Its methods: :meth:`list_page` (one page), :meth:`list` (a walk of every page), and,
    from :class:`InvocationWatching`, :meth:`watch`, :meth:`failures` and :meth:`wait`.
    """

    _client: InvocationsClient

    def __init__(self, client: InvocationsClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<Invocations of {self._client!r}>"

    def _watch_client(self) -> InvocationsClient:
        return self._client

    async def list_page(
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
        max_retries: int | None = None,
        deadline: float | None = None,
        timeout: Timeout | float | None = None,  # noqa: ASYNC109 - the official SDK's keyword
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, QueryValue] | None = None,
        extra_body: None = None,
    ) -> Page:
        """Fetch one page of ``GET /invocations``, newest first.

        Every argument is checked before the request is sent.

        Args:
            app_name: Only this application's invocations.
            version: Only this application version.
            action_name: Only this action's invocations.
            deployment_id: Only this deployment's invocations.
            status: ``queued``, ``running``, ``succeeded`` or ``failed``.
            since: Started at or after this: an aware datetime, a timedelta before now, or a
                string that is an RFC 3339 timestamp or a Go duration (``5m``, ``1h30m``).
            query: Free-text search on invocation id, app name or action name.
            limit: Page size from 1 to 100; ``None`` leaves it to the server (20).
            offset: Where the page starts; use the previous page's ``next_offset``.
            max_retries: Retries for this call (default: the client's).
            deadline: Seconds the whole call may take, retries and their waits included;
                past it, :class:`APITimeoutError` with ``limit="deadline"``.
            timeout: Per-attempt limits for this call: a :class:`Timeout`, or seconds for
                the whole attempt (default, and ``None``: the client's).
            extra_headers: Headers to add; they replace the client's of the same name. Not
                ``Authorization`` (the key comes from ``api_key``).
            extra_query: Query parameters to add, for what the API takes and this SDK does
                not know yet. Not the ones it sends itself (the filters, ``limit``,
                ``offset``): a :class:`ValueError` says to pass those as arguments.
            extra_body: Accepted for the official SDK's signature; only ``None`` (a GET has
                no body).

        Returns:
            The page, with its items and what its pagination headers said.

        Raises:
            ValueError, TypeError: an invalid argument (nothing was sent).
            APIStatusError: the server answered with an error status (a subclass per status).
            APIConnectionError: no usable response.
            APIResponseValidationError: the body does not match the schema.
            PaginationError: the page headers contradict each other.
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
        fetch = self._page_fetcher(
            filters,
            limit=None if limit is None else validate_limit(limit),
            max_retries=validate_max_retries(max_retries),
            deadline=validate_deadline(deadline),
            options=call_options(
                timeout=timeout,
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
            ),
        )
        return await fetch(validate_offset(offset))

    def _page_fetcher(
        self,
        filters: InvocationFilters,
        *,
        limit: int | None,
        max_retries: int | None,
        deadline: float | None,
        options: CallOptions,
    ) -> FetchAt:
        """One ``list_page`` call per offset, with everything else bound (all checked)."""
        fetch_page = self._client._fetch_invocations_page

        def fetch(offset: int) -> Awaitable[Page]:
            # The deadline is per call: it starts when the call does.
            deadline_at = None
            if deadline is not None:
                deadline_at = asyncio.get_running_loop().time() + deadline
            return fetch_page(
                filters,
                limit=limit,
                offset=offset,
                max_retries=max_retries,
                deadline_at=deadline_at,
                options=options,
            )

        return fetch
