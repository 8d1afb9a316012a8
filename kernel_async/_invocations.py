"""``client.invocations``: listing invocations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_async._models import InvocationStatus, Page
from kernel_async._params import InvocationFilters, Since, validate_limit, validate_offset

if TYPE_CHECKING:
    from kernel_async._client import AsyncKernel

__all__ = ["Invocations"]


class Invocations:
    """The ``/invocations`` resource, reached as ``client.invocations``."""

    def __init__(self, client: AsyncKernel) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<Invocations of {self._client!r}>"

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
        checked_limit = None if limit is None else validate_limit(limit)
        checked_offset = validate_offset(offset)
        return await self._client._fetch_invocations_page(
            filters, limit=checked_limit, offset=checked_offset
        )
