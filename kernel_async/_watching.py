"""``client.invocations.watch``, ``wait`` and ``failures``: the arguments, checked and bound.

:class:`InvocationWatching` is mixed into :class:`~kernel_async._invocations.Invocations`,
whose ``list`` and ``list_page`` make every request a watch sends: a watch is walks and
lookups with the same filters, retries, deadlines and options as any listing.

The watch itself (``_watch``, ``_watch_state``, ``_watch_poll``, ``_watch_params``) is imported
by the methods, the first time one is called: a program that only lists invocations never
loads it (start-up time; tests/test_startup.py checks it).
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from kernel_async._config import Timeout
from kernel_async._defaults import DEFAULT_WATCH_INTERVAL, DEFAULT_WATCH_LOOKBACK
from kernel_async._listing import InvocationListing
from kernel_async._models import Invocation, InvocationStatus, Page
from kernel_async._options import QueryValue
from kernel_async._params import (
    DEFAULT_WALK_PAGE_SIZE,
    InvocationFilters,
    Since,
    validate_deadline,
    validate_limit,
    validate_max_retries,
)
from kernel_async._window import START_AT_MOST

if TYPE_CHECKING:
    from kernel_async._watch import FailureStream, InvocationWatch
    from kernel_async._watch_state import WatchState

__all__ = ["DEFAULT_INTERVAL", "DEFAULT_LOOKBACK", "InvocationWatching"]

DEFAULT_INTERVAL: Final = DEFAULT_WATCH_INTERVAL
"""Seconds between two polls of a watch, by default."""

DEFAULT_LOOKBACK: Final = timedelta(seconds=DEFAULT_WATCH_LOOKBACK)
"""How far before the newest invocation seen a watch's window starts, by default."""


if TYPE_CHECKING:  # a type, nothing to build at run time (start-up time)

    class _WatchClient(Protocol):
        """What a watch needs of the client, beyond the resource's requests."""

        @property
        def connection_limit(self) -> int: ...

        @property
        def pushbacks(self) -> int: ...


class InvocationWatching:
    """The watch methods of ``client.invocations`` (see :class:`Invocations`)."""

    if TYPE_CHECKING:
        # What the resource provides; a method, so that it may return its own client type.
        _watch_client: Callable[[], _WatchClient]
        list: Callable[..., InvocationListing]
        list_page: Callable[..., Awaitable[Page]]

    def watch(
        self,
        *,
        app_name: str | None = None,
        version: str | None = None,
        action_name: str | None = None,
        deployment_id: str | None = None,
        status: InvocationStatus | str | Iterable[InvocationStatus | str] | None = None,
        query: str | None = None,
        since: Since | None = None,
        interval: float = DEFAULT_INTERVAL,
        lookback: timedelta | float = DEFAULT_LOOKBACK,
        final_statuses: Iterable[InvocationStatus | str] | None = None,
        limit: int | None = None,
        max_retries: int | None = None,
        deadline: float | None = None,
        timeout: Timeout | float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, QueryValue] | None = None,
    ) -> InvocationWatch:
        """Follow invocations as they start, change status and go.

        An async iterator of :class:`InvocationEvent`. Not a coroutine: it checks the
        arguments and returns the watch; polling starts when iteration does::

            async with client.invocations.watch(app_name="invoice-bot") as watch:
                async for event in watch:
                    print(event.kind, event.invocation.id, event.status)

        Each poll walks the invocations started since shortly before the newest one seen,
        and follows those still in flight (not in a final status) however long they run.
        Each transition observed is reported once, in the order observed; two moves
        between two polls are one event (``queued`` to ``failed``, say). See the watch
        guide for what a poll costs and what the watch cannot see.

        Args:
            app_name: Only this application's invocations.
            version: Only this application version.
            action_name: Only this action's invocations.
            deployment_id: Only this deployment's invocations.
            status: Report only invocations in these statuses (one, or a list, tuple or
                set of several; a mapping is refused): those first seen in one, and each
                move into or out of one. Filtered here, not by the server, whose filter
                cannot show a move out of it.
            query: Free-text search on invocation id, app name or action name.
            since: Report every invocation started at or after this (as for
                :meth:`list`): the first poll reports each as seen. ``None`` (the default):
                report only what starts or moves once the watch runs; the first poll reports
                nothing, and follows what is in flight then.
            interval: Seconds between the end of a poll and the start of the next (0: poll
                back to back). Longer while the server pushes back: doubled after each
                poll that met a 429 or 503, up to 60 s.
            lookback: How far before the newest invocation seen each poll looks (a
                :class:`~datetime.timedelta` or seconds; default 30 s, at most Go's longest
                duration, 2562047h), for invocations the server lists late. One listed
                later than that is not seen.
            final_statuses: Statuses after which an invocation no longer changes and is no
                longer followed (default ``succeeded`` and ``failed``). A status not among
                them, such as one the API adds later, is followed.
            limit: Page size of the walks (default 100). A smaller one costs more requests
                on every poll (see the watch guide); 1 is sent as 2, as by :meth:`list`.
            max_retries: Retries per request (default: the client's).
            deadline: Seconds one poll may take, every walk, lookup and retry included;
                past it the poll raises :class:`APITimeoutError` with ``limit="deadline"``.
            timeout: Per-attempt limits of each request (as for :meth:`list`).
            extra_headers: Headers to add to each request (as for :meth:`list_page`).
            extra_query: Query parameters to add to each request (as for :meth:`list_page`).

        Raises:
            ValueError, TypeError: an invalid argument (nothing is sent).
        """
        from kernel_async._watch_params import (
            validate_final_statuses,
            validate_lookback,
            validate_since,
            validate_statuses,
        )
        from kernel_async._watch_state import WatchState

        filters = InvocationFilters.create(
            app_name=app_name,
            version=version,
            action_name=action_name,
            deployment_id=deployment_id,
            query=query,
        )
        state = WatchState(
            since=validate_since(since),
            lookback=validate_lookback(lookback),
            final=validate_final_statuses(final_statuses),
            statuses=validate_statuses(status),
        )
        return self._watch(
            state,
            filters,
            interval=interval,
            limit=limit,
            max_retries=max_retries,
            deadline=deadline,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
        )

    def failures(
        self,
        *,
        app_name: str | None = None,
        version: str | None = None,
        action_name: str | None = None,
        deployment_id: str | None = None,
        query: str | None = None,
        since: Since | None = None,
        interval: float = DEFAULT_INTERVAL,
        lookback: timedelta | float = DEFAULT_LOOKBACK,
        max_retries: int | None = None,
        deadline: float | None = None,
        timeout: Timeout | float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, QueryValue] | None = None,
    ) -> FailureStream:
        """The invocations that fail, as they fail, each once.

        An async iterator of :class:`Invocation`, built on :meth:`watch` (whose arguments
        these are)::

            async with client.invocations.failures(app_name="invoice-bot") as failures:
                async for invocation in failures:
                    print(invocation.id, invocation.status_reason)

        ``since=None`` (the default) reports the failures from the moment it starts; with a
        ``since``, those that failed since then come first.
        """
        from kernel_async._watch import FailureStream

        watch = self.watch(
            app_name=app_name,
            version=version,
            action_name=action_name,
            deployment_id=deployment_id,
            status=InvocationStatus.FAILED,
            query=query,
            since=since,
            interval=interval,
            lookback=lookback,
            max_retries=max_retries,
            deadline=deadline,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
        )
        return FailureStream(watch)

    async def wait(
        self,
        invocations: Iterable[Invocation | str],
        *,
        since: Since | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the whole wait, as asyncio.wait_for's
        interval: float = DEFAULT_INTERVAL,
        final_statuses: Iterable[InvocationStatus | str] | None = None,
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> builtins.list[Invocation | None]:
        """Wait until each of these invocations reaches a final status.

        ::

            finished = await client.invocations.wait(runs, timeout=600)
            failed = [run for run in finished if run is not None and run.status == "failed"]

        Args:
            invocations: :class:`Invocation` objects (such as a listing gave), or ids. An
                id not found yet is waited for (it may not be listed yet).
            since: For ids, a time they started at or after (as for :meth:`list`; a
                duration is taken before this machine's clock, less a minute for clocks
                that differ): then two walks of what is in flight find them all, instead of
                one lookup each per poll.
            timeout: Seconds to wait in all; past it, :class:`TimeoutError` names the
                invocations not final yet. ``None``: no limit.
            interval: Seconds between two polls (as for :meth:`watch`).
            final_statuses: Statuses that end the wait for an invocation (default
                ``succeeded`` and ``failed``).
            max_retries: Retries per request (default: the client's).
            deadline: Seconds one poll may take (as for :meth:`watch`).

        Returns:
            Each invocation as it ended, in the order given (a repeated one each time it is
            given); ``None`` for one that was deleted while waited for.

        Raises:
            ValueError, TypeError: an invalid argument (nothing is sent).
            TimeoutError: ``timeout`` passed first.
        """
        from kernel_async._watch_params import (
            validate_final_statuses,
            validate_given,
            validate_seconds,
            validate_since,
        )
        from kernel_async._watch_state import WatchState

        given = validate_given(invocations)
        seconds = None if timeout is None else validate_seconds("timeout", timeout, zero=False)
        since_ns = validate_since(since)
        if isinstance(since_ns, timedelta):
            # This machine's clock, with a minute's margin for one that runs ahead.
            since_ns = (
                time.time_ns()
                - (since_ns + timedelta(minutes=1)) // timedelta(microseconds=1) * 1_000
            )
        state = WatchState(
            invocations=given,
            invocations_since=since_ns,
            final=validate_final_statuses(final_statuses),
        )
        watch = self._watch(
            state,
            InvocationFilters(),
            interval=interval,
            limit=None,
            max_retries=max_retries,
            deadline=deadline,
            timeout=None,
            extra_headers=None,
            extra_query=None,
        )
        ids = [item.id if isinstance(item, Invocation) else item for item in given]
        try:
            async with asyncio.timeout(seconds), watch:
                async for _ in watch:
                    pass
        except TimeoutError:
            pending = state.pending
            shown = ", ".join(pending[:10]) + (", ..." if len(pending) > 10 else "")
            raise TimeoutError(
                f"{len(pending)} of {len(set(ids))} invocations had not reached a final status "
                f"after {timeout} s: {shown}"
            ) from None
        return [state.latest(i) for i in ids]

    def _watch(
        self,
        state: WatchState,
        filters: InvocationFilters,
        *,
        interval: float,
        limit: int | None,
        max_retries: int | None,
        deadline: float | None,
        timeout: Timeout | float | None,
        extra_headers: Mapping[str, str] | None,
        extra_query: Mapping[str, QueryValue] | None,
    ) -> InvocationWatch:
        from kernel_async._watch import InvocationWatch
        from kernel_async._watch_params import validate_interval

        options: dict[str, Any] = {
            "max_retries": validate_max_retries(max_retries),
            "timeout": timeout,
            "extra_headers": extra_headers,
            "extra_query": extra_query,
        }
        page_size = DEFAULT_WALK_PAGE_SIZE if limit is None else validate_limit(limit)
        walks = {**filters.as_query(), **options, "limit": page_size}
        lookups = {k: v for k, v in walks.items() if k != "query"}
        # Checked now, once, with the options they will be sent with: list() raises on
        # anything invalid before a request is sent.
        self.list(**walks)
        requests = _Requests(self, walks, lookups)
        return InvocationWatch(
            state,
            requests,
            interval=validate_interval(interval),
            deadline=validate_deadline(deadline),
        )


class _Requests:
    """The watch's walks and lookups, made by the resource with everything bound."""

    def __init__(
        self, resource: InvocationWatching, walks: dict[str, Any], lookups: dict[str, Any]
    ) -> None:
        self._resource = resource
        self._walks = walks
        self._lookups = lookups

    def walk(
        self, *, since: str | None, status: str | None, deadline: float | None
    ) -> InvocationListing:
        return self._resource.list(**self._walks, since=since, status=status, deadline=deadline)

    def lookup(self, invocation_id: str, *, offset: int, deadline: float | None) -> Awaitable[Page]:
        return self._resource.list_page(
            **self._lookups, query=invocation_id, offset=offset, deadline=deadline
        )

    def pushbacks(self) -> int:
        return int(self._resource._watch_client().pushbacks)

    @property
    def lookups_at_once(self) -> int:
        # Half the connections, so that a poll's lookups leave room for anything else the app
        # sends, and no more than a walk's first window: against a key that is throttled, a
        # burst of lookups is a burst of 429s.
        connections = int(self._resource._watch_client().connection_limit)
        return max(1, min(connections // 2, START_AT_MOST))
