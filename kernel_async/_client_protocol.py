"""What ``client.invocations`` needs of its client: the :class:`InvocationsClient` protocol.

:class:`~kernel_async._client.AsyncKernel` implements it; the resource
(:mod:`kernel_async._invocations`) and its walks (:mod:`kernel_async._walking`) are written
against it. Kept apart from both, so that each can name it and the client imports the resource,
never the other way round.
"""

from __future__ import annotations

from typing import Protocol

from kernel_async._models import Page
from kernel_async._options import NO_OPTIONS, CallOptions
from kernel_async._params import InvocationFilters

__all__ = ["InvocationsClient"]


class InvocationsClient(Protocol):
    """What the resource needs from its client, ``AsyncKernel``.

    Declared here so that the client imports the resource and never the other way round,
    and defined at run time, not only for type checkers, so that ``typing.get_type_hints()``
    resolves the annotations of :class:`Invocations` that name it.
    """

    @property
    def connection_limit(self) -> int:
        """Requests that may run at once; a walk's prefetch may not exceed it."""
        ...

    @property
    def pushbacks(self) -> int:
        """How often the server has asked the client to slow down (429, 503), so far."""
        ...

    async def _fetch_invocations_page(
        self,
        filters: InvocationFilters,
        *,
        limit: int | None,
        offset: int,
        max_retries: int | None = None,
        deadline_at: float | None = None,
        options: CallOptions = NO_OPTIONS,
    ) -> Page:
        """One page, retried as the client's policy says, within the deadline (loop time)."""
        ...
