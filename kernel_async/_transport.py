"""The thin I/O layer: one HTTP GET through aiohttp, with exceptions translated at the seam.

Everything above this module works on :class:`RawResponse` values; everything aiohttp raises
is turned into :class:`~kernel_async.APIConnectionError` or
:class:`~kernel_async.APITimeoutError` here, so no aiohttp exception escapes the library.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Protocol

import aiohttp
import attrs
from yarl import URL

from kernel_async._config import Timeout
from kernel_async._errors import APIConnectionError, APIResponseTooLargeError, APITimeoutError

__all__ = ["AiohttpTransport", "RawRequest", "RawResponse", "Transport"]

_CHUNK = 1 << 16


@attrs.frozen(kw_only=True)
class RawRequest:
    """One GET: the full URL with its query, the headers, and the per-attempt time limits."""

    url: URL
    headers: Mapping[str, str] = attrs.field(repr=False)  # holds the Authorization header
    timeout: Timeout
    max_response_bytes: int
    proxy: URL | None = attrs.field(default=None, repr=False)  # may hold proxy credentials


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

    @property
    def connection_limit(self) -> int:
        """How many requests can have a connection at once."""
        ...

    async def send(self, request: RawRequest) -> RawResponse:
        """Send one GET and return the whole response, or raise APIConnectionError."""
        ...

    async def aclose(self) -> None:
        """Release what the transport owns."""
        ...


def _safe_cause(exc: BaseException) -> BaseException | None:
    # aiohttp's ClientResponseError carries request_info, whose repr includes the request's
    # headers, bearer token included: never chain it.
    return None if isinstance(exc, aiohttp.ClientResponseError) else exc


@functools.cache
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:  # once per Timeout, not per call
    return aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )


def _timeout_limit(exc: BaseException) -> str:
    # aiohttp >= 3.10 says which socket limit fired; a bare TimeoutError is the total.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "connect"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return "read"
    return "total"


async def _read_capped(response: aiohttp.ClientResponse, cap: int, url: str) -> bytes:
    def too_large(size: str) -> APIResponseTooLargeError:
        return APIResponseTooLargeError(
            f"GET {url}: the response body is {size}, over the {cap}-byte limit "
            "(AsyncKernel(max_response_bytes=...))",
            max_bytes=cap,
            request_id=response.headers.get("X-Request-Id"),
            url=url,
        )

    declared = response.content_length
    if declared is not None and declared > cap:
        response.close()  # do not read it, and do not reuse the connection
        raise too_large(f"{declared} bytes")
    if declared is not None:
        return await response.read()  # bounded by the check above
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > cap:
            response.close()
            raise too_large("larger")
        chunks.append(chunk)
    return b"".join(chunks)


class AiohttpTransport:
    """Sends requests through an :class:`aiohttp.ClientSession`.

    A session passed in is used but never closed; otherwise one is created lazily, inside the
    running loop (aiohttp requires that), and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        max_connections: int = 32,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._trace_configs = list(trace_configs)

    @property
    def connection_limit(self) -> int:
        """How many requests can have a connection at once (the pool's size for one host)."""
        limits = [self._max_connections]
        connector = self._session.connector if self._session is not None else None
        if connector is not None and not self._owns_session:
            limits += [n for n in (connector.limit, connector.limit_per_host) if n]
        return min(limits)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, limit_per_host=self._max_connections
                ),
                # Cookies are not part of the API; a jar would only carry state between calls.
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=self._trace_configs or None,
            )
        return self._session

    async def send(self, request: RawRequest) -> RawResponse:
        """Send one GET and read the whole body (up to ``max_response_bytes``)."""
        url = str(request.url)
        try:
            async with self._get_session().get(
                request.url,
                headers=request.headers,
                timeout=_client_timeout(request.timeout),
                # Redirects are answered, never followed: aiohttp would forward custom headers
                # cross-origin and follow https -> http.
                allow_redirects=False,
                proxy=request.proxy,
            ) as response:
                body = await _read_capped(response, request.max_response_bytes, url)
                return RawResponse(
                    status=response.status,
                    reason=response.reason,
                    headers=response.headers,
                    body=body,
                    url=url,
                )
        except TimeoutError as exc:
            # A stalled read can surface as a plain TimeoutError, not an aiohttp error.
            limit = _timeout_limit(exc)
            raise APITimeoutError(
                f"GET {url} timed out ({limit} limit)", limit=limit, url=url
            ) from _safe_cause(exc)
        except (aiohttp.ClientError, OSError) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise APIConnectionError(f"GET {url} failed: {detail}", url=url) from _safe_cause(exc)

    async def aclose(self) -> None:
        """Close the session if this transport created it."""
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
