"""The thin I/O layer: one HTTP GET through aiohttp, with exceptions translated at the seam.

Everything above this module works on :class:`RawResponse` values; everything aiohttp raises
is turned into :class:`~kernel_async.APIConnectionError` or
:class:`~kernel_async.APITimeoutError` here, so no aiohttp exception escapes the library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp
import attrs
from yarl import URL

from kernel_async._config import Timeout
from kernel_async._errors import APIConnectionError, APITimeoutError

__all__ = ["AiohttpTransport", "RawRequest", "RawResponse", "Transport"]


@attrs.frozen(kw_only=True)
class RawRequest:
    """One GET: the full URL with its query, the headers, and the per-attempt time limits."""

    url: URL
    headers: Mapping[str, str] = attrs.field(repr=False)  # holds the Authorization header
    timeout: Timeout


@attrs.frozen(kw_only=True)
class RawResponse:
    """A complete response: status, headers and the whole body."""

    status: int
    reason: str | None
    headers: Mapping[str, str]
    body: bytes
    url: str


class Transport(Protocol):
    """What the client needs from HTTP; a test double can implement it too."""

    async def send(self, request: RawRequest) -> RawResponse:
        """Send one GET and return the whole response, or raise APIConnectionError."""
        ...

    async def aclose(self) -> None:
        """Release what the transport owns."""
        ...


def _safe_cause(exc: BaseException) -> BaseException | None:
    # aiohttp's ClientResponseError carries request_info, whose repr includes the request's
    # headers, bearer token included (FIELD-NOTES section 3): never chain it.
    return None if isinstance(exc, aiohttp.ClientResponseError) else exc


def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )


class AiohttpTransport:
    """Sends requests through an :class:`aiohttp.ClientSession`.

    A session passed in is used but never closed; otherwise one is created lazily, inside the
    running loop (aiohttp requires that), and closed by :meth:`aclose`.
    """

    def __init__(
        self, session: aiohttp.ClientSession | None = None, *, max_connections: int = 32
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections

    @property
    def connection_limit(self) -> int:
        """How many requests can have a connection at once (the pool's size for one host)."""
        limits = [self._max_connections]
        connector = self._session.connector if self._session is not None else None
        if connector is not None and not self._owns_session:
            limits += [n for n in (connector.limit, connector.limit_per_host) if n]
        return min(limits)

    @property
    def owns_session(self) -> bool:
        """Whether :meth:`aclose` closes the session."""
        return self._owns_session

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, limit_per_host=self._max_connections
                ),
                # Cookies are not part of the API; a jar would only carry state between calls.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def send(self, request: RawRequest) -> RawResponse:
        """Send one GET and read the whole body."""
        url = str(request.url)
        try:
            async with self._get_session().get(
                request.url,
                headers=dict(request.headers),
                timeout=_client_timeout(request.timeout),
                # Redirects are answered, never followed: aiohttp would forward custom headers
                # cross-origin and follow https -> http (FIELD-NOTES section 3).
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return RawResponse(
                    status=response.status,
                    reason=response.reason,
                    headers=response.headers,
                    body=body,
                    url=url,
                )
        except TimeoutError as exc:
            # A stalled read surfaces as plain TimeoutError, not an aiohttp error.
            detail = str(exc) or type(exc).__name__
            raise APITimeoutError(f"GET {url} timed out ({detail})", url=url) from _safe_cause(exc)
        except (aiohttp.ClientError, OSError) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise APIConnectionError(f"GET {url} failed: {detail}", url=url) from _safe_cause(exc)

    async def aclose(self) -> None:
        """Close the session if this transport created it."""
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
