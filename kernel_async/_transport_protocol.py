"""What the client and a transport exchange: one GET, its whole response, and the protocol.

The client builds a :class:`RawRequest` per attempt and reads the :class:`RawResponse` it
gets back; a :class:`Transport` is anything that turns one into the other and has the
lifecycle the client relies on. :class:`~kernel_async._transport.AiohttpTransport` is the real
one; the emulator's in-process transport (``kernel_async.testing``) and the tests' doubles are
others. Kept apart from the aiohttp transport, so that what only reads these values (the
masking of a response, the in-process transport) does not import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from yarl import URL

from kernel_async._config import Timeout

__all__ = ["RawRequest", "RawResponse", "Transport", "check_transport"]


class RawRequest:
    """One GET: the full URL with its query, the headers, and the per-attempt time limits.

    Read-only by convention. A plain slotted class rather than an attrs one: one is built per
    request, and the package imports faster without generating its methods.
    """

    __slots__ = ("headers", "max_response_bytes", "proxy", "timeout", "url")

    def __init__(
        self,
        *,
        url: URL,
        headers: Mapping[str, str],  # holds the Authorization header: never in the repr
        timeout: Timeout,
        max_response_bytes: int,
        proxy: URL | None = None,  # may hold proxy credentials: never in the repr
    ) -> None:
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.proxy = proxy

    def __repr__(self) -> str:
        return (
            f"RawRequest(url={self.url!r}, timeout={self.timeout!r}, "
            f"max_response_bytes={self.max_response_bytes!r})"
        )


class RawResponse:
    """A complete response: status, headers and the whole body (read-only by convention)."""

    __slots__ = ("body", "headers", "reason", "status", "url")

    def __init__(
        self, *, status: int, reason: str | None, headers: Mapping[str, str], body: bytes, url: str
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.url = url

    def __repr__(self) -> str:
        # Neither the reason phrase nor the headers nor the body: a server may echo the API
        # key in any of them, and a traceback rendered with its locals shows this repr.
        return (
            f"RawResponse(status={self.status!r}, url={self.url!r}, body=<{len(self.body)} bytes>)"
        )


class Transport(Protocol):
    """What the client needs from HTTP; a test double can implement it too."""

    @property
    def connection_limit(self) -> int:
        """How many requests can be on the wire at once."""
        ...

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called; a closed transport sends nothing."""
        ...

    def bind_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, which becomes the transport's on first use.

        Raises WrongEventLoopError when the transport already belongs to another loop.
        """
        ...

    async def wait_closed(self) -> None:
        """Return once :meth:`aclose` has been called."""
        ...

    async def send(self, request: RawRequest) -> RawResponse:
        """Send one GET and return the whole response.

        Raises APIConnectionError (or APITimeoutError), APIResponseTooLargeError, or
        ClientClosedError when the transport is or gets closed.
        """
        ...

    async def aclose(self) -> None:
        """End the requests in flight and release what the transport owns."""
        ...


_TRANSPORT_MEMBERS = ("aclose", "bind_loop", "closed", "connection_limit", "send", "wait_closed")


def check_transport(transport: object) -> Transport:
    """``transport``, if it has what a :class:`Transport` has; checked at construction.

    Raises:
        TypeError: a member is missing (an ``aiohttp.ClientSession`` given as the transport,
            say: that is ``session=``); every call would end in an ``AttributeError``.
    """
    missing = [name for name in _TRANSPORT_MEMBERS if not hasattr(transport, name)]
    if missing:
        raise TypeError(
            f"transport must implement kernel_async's Transport ({', '.join(missing)} "
            f"missing from {type(transport).__name__}); to send through your own aiohttp "
            "session, pass session="
        )
    return transport  # type: ignore[return-value]  # checked above, member by member
