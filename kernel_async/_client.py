"""``AsyncKernel``: the session object users hold."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import aiohttp
from yarl import URL

from kernel_async._config import DEFAULT_TIMEOUT, ClientConfig, Timeout, resolve_config
from kernel_async._errors import ClientClosedError
from kernel_async._invocations import Invocations
from kernel_async._models import Page
from kernel_async._params import InvocationFilters, build_query
from kernel_async._protocol import interpret_page_response
from kernel_async._transport import AiohttpTransport, RawRequest, Transport

__all__ = ["DEFAULT_MAX_CONNECTIONS", "AsyncKernel"]

DEFAULT_MAX_CONNECTIONS = 32
"""The connection pool's size: room for four walks at the default prefetch."""


class AsyncKernel:
    """An asyncio client for the Kernel API.

    Create one per application and share it; close it with ``async with`` or :meth:`aclose`::

        async with AsyncKernel() as client:
            page = await client.invocations.list_page(status="failed")

    Args:
        api_key: The API key; defaults to the ``KERNEL_API_KEY`` environment variable.
        base_url: The API's base URL; defaults to ``KERNEL_BASE_URL``, then
            ``https://api.onkernel.com/``. A path prefix (``https://host/v1/``) is kept.
        timeout: Per-attempt limits: a :class:`Timeout`, or seconds for the whole attempt.
        default_headers: Extra headers for every request (``X-Kernel-Project-Id``, say).
        session: An :class:`aiohttp.ClientSession` to send through. The client uses it but
            never closes it; without one, the client creates its own inside the running loop
            on first use and closes it in :meth:`aclose`.
        max_connections: How many requests may run at once (the connection pool's size).
            Walks never prefetch more pages than this.
        allow_http: Permit plain ``http://`` to a non-loopback host (the key would travel in
            clear text). Loopback hosts, such as the emulator's, never need it.

    Raises:
        MissingAPIKeyError: no key was given and ``KERNEL_API_KEY`` is unset.
        ValueError, TypeError: a malformed key, base URL, timeout or header.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | URL | None = None,
        timeout: Timeout | float = DEFAULT_TIMEOUT,
        default_headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        allow_http: bool = False,
    ) -> None:
        self._config: ClientConfig = resolve_config(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            default_headers=default_headers,
            environ=os.environ,
            allow_http=allow_http,
        )
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(f"session must be an aiohttp.ClientSession, not {session!r}")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError("max_connections must be an int")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        transport = AiohttpTransport(session, max_connections=max_connections)
        self._transport: Transport = transport
        self._connection_limit = transport.connection_limit
        # Requests wait here, outside their timeout, for one of the pool's connections: a
        # request queued inside aiohttp's pool would spend its timeout waiting there
        # (FIELD-NOTES section 3), and several walks share the pool.
        self._request_slots = asyncio.Semaphore(self._connection_limit)
        self._closed = False
        self.invocations = Invocations(self)
        """Listing invocations: :meth:`Invocations.list_page`."""

    @property
    def base_url(self) -> URL:
        """The base URL requests go to (always ending in ``/``)."""
        return self._config.base_url

    @property
    def timeout(self) -> Timeout:
        """The per-attempt time limits."""
        return self._config.timeout

    @property
    def connection_limit(self) -> int:
        """Requests that may run at once: ``max_connections``, or a given session's pool size."""
        return self._connection_limit

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AsyncKernel base_url={str(self._config.base_url)!r} {state}>"

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and the session it created. Safe to call more than once."""
        self._closed = True
        await self._transport.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this AsyncKernel is closed; create a new one")

    async def _fetch_invocations_page(
        self, filters: InvocationFilters, *, limit: int | None, offset: int
    ) -> Page:
        """One ``GET /invocations``: the only place a page request is built and read."""
        self._check_open()
        url = self._config.invocations_url.with_query(
            build_query(filters, limit=limit, offset=offset)
        )
        request = RawRequest(url=url, headers=self._config.headers, timeout=self._config.timeout)
        async with self._request_slots:
            response = await self._transport.send(request)
        return interpret_page_response(
            response.status,
            response.headers,
            response.body,
            offset=offset,
            reason=response.reason,
            url=response.url,
        )
