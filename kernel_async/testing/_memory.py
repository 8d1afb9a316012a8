"""A transport that hands requests to the emulator in process, with no socket at all.

``KernelEmulator.client(in_memory=True)`` builds a client on it. The client above it is the
real one (retries, deadlines, the walk, errors), so tests exercise everything but aiohttp;
without sockets, the order in which tasks run depends on nothing but the code, so a seeded
live-data walk replays exactly, which deterministic cancellation tests need.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Mapping
from typing import Protocol

from multidict import CIMultiDict, CIMultiDictProxy

from kernel_async._defaults import DEFAULT_MAX_CONNECTIONS
from kernel_async._errors import (
    APIConnectionError,
    APIResponseTooLargeError,
    APITimeoutError,
    ClientClosedError,
)
from kernel_async._transport_protocol import RawRequest, RawResponse
from kernel_async.testing._faults import Answer, FaultKind, http_fault_answer

__all__ = ["EmulatorTransport"]


class _InProcessServer(Protocol):
    async def _answer_in_process(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> Answer: ...


def _reason(status: int) -> str | None:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return None


class EmulatorTransport:
    """Sends each request to an emulator in the same process (see the module docs).

    Args:
        server: The :class:`~kernel_async.testing.KernelEmulator` to ask.
        connection_limit: How many requests the client may have in flight at once.
    """

    def __init__(
        self, server: _InProcessServer, *, connection_limit: int = DEFAULT_MAX_CONNECTIONS
    ) -> None:
        self._server = server
        self._connection_limit = connection_limit
        # Not an asyncio.Event: that binds to the first loop that waits on it, and this
        # transport serves any loop (one test's, then the next's).
        self._closed = False
        self._closing: set[asyncio.Future[None]] = set()

    @property
    def connection_limit(self) -> int:
        """How many requests may be in flight at once."""
        return self._connection_limit

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def bind_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop: nothing here belongs to one, so any will do."""
        return asyncio.get_running_loop()

    async def wait_closed(self) -> None:
        """Return once :meth:`aclose` has been called."""
        if self._closed:
            return
        closing = asyncio.get_running_loop().create_future()
        self._closing.add(closing)
        try:
            await closing
        finally:
            self._closing.discard(closing)

    async def send(self, request: RawRequest) -> RawResponse:
        """Ask the emulator; faults of the connection raise what a socket would."""
        url = str(request.url)
        if self.closed:
            raise ClientClosedError("this client is closed; create a new one")
        answer = await self._server._answer_in_process(
            request.url.path, dict(request.url.query), request.headers
        )
        if self.closed:
            raise ClientClosedError("the client was closed while this request was in flight")
        if answer.fault is not None:
            kind = answer.fault.kind
            if kind in (FaultKind.RESET, FaultKind.TRUNCATED):
                raise APIConnectionError(f"GET {url} failed: the connection was reset", url=url)
            if kind is FaultKind.STALL:
                raise APITimeoutError(f"GET {url} timed out (read limit)", limit="read", url=url)
            answer = http_fault_answer(answer) or answer  # a drip arrives whole, in the end
        if len(answer.body) > request.max_response_bytes:
            raise APIResponseTooLargeError(
                f"GET {url}: the response body is {len(answer.body)} bytes, over the "
                f"{request.max_response_bytes}-byte limit",
                max_bytes=request.max_response_bytes,
                request_id=answer.headers.get("X-Request-Id"),
                url=url,
            )
        return RawResponse(
            status=answer.status,
            reason=_reason(answer.status),
            headers=CIMultiDictProxy(CIMultiDict(answer.headers)),
            body=answer.body,
            url=url,
        )

    async def aclose(self) -> None:
        """Refuse every later request."""
        self._closed = True
        for closing in self._closing:
            if not closing.done() and not closing.get_loop().is_closed():
                closing.set_result(None)
