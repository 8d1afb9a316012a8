"""The thin I/O layer: GETs through aiohttp, the connection bound, and the client's lifecycle.

Everything above this module works on :class:`RawResponse` values (defined, with
:class:`RawRequest` and the :class:`Transport` protocol this class implements, in
``_transport_protocol``); everything aiohttp raises (its ``RuntimeError`` included) is turned
into :class:`~kernel_async.APIConnectionError`, :class:`~kernel_async.APITimeoutError` or
:class:`~kernel_async.ClientClosedError` here, so no aiohttp exception escapes the library.

Four guarantees live here because only this layer can keep them:

- **Closed means closed.** After :meth:`AiohttpTransport.aclose` nothing is sent and no
  session is created; requests in flight end with :class:`~kernel_async.ClientClosedError`.
  So do requests starting or in flight when the owner of a session given to the transport
  closes it: never retried, whichever of aiohttp's errors the close caused.
- **One event loop.** An aiohttp session belongs to the loop it was made in; the transport is
  bound to the loop of its first request (under a lock, so that two threads starting at once
  cannot both bind it) and refuses any other with :class:`~kernel_async.WrongEventLoopError`,
  before sending anything.
- **The connection bound holds at the server.** At most ``connection_limit`` requests are on
  the wire. A request whose caller gave up (a page discarded past the end of a walk, a
  cancelled call) keeps its slot until its answer has arrived, or for
  :data:`ABANDONED_REQUEST_GRACE` at most: hanging up at once would leave the server working
  on it while the freed slot opened another connection. The exception: a request that times
  out (its own ``Timeout``) was hung up on by aiohttp and frees its slot at once, so a server
  slower than the timeout, that keeps working after a hang-up, can have more than
  ``connection_limit`` of them in progress (their retries add more: 5 or 6 with a limit of
  2, measured). Holding the slot for the grace after a timeout was measured too: it changes
  little (the server's work outlasts the grace), so it is not done.
- **No secrets in what it raises.** aiohttp's exception is chained to ours for its type and
  message, never when it carries ``request_info`` (the request headers), and stripped of its
  tracebacks: their frames' local variables hold the headers, bearer token included. A
  proxy's user and password are sent as a ``Proxy-Authorization`` header, never in the URL
  aiohttp names in its messages.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Final

import aiohttp

from kernel_async._body_cap import read_capped
from kernel_async._config import Timeout
from kernel_async._defaults import DEFAULT_MAX_CONNECTIONS
from kernel_async._errors import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    KernelError,
    WrongEventLoopError,
)
from kernel_async._scrub import chainable, proxy_arguments
from kernel_async._tasks import cancel_and_wait
from kernel_async._tls import may_heal
from kernel_async._transport_protocol import RawRequest, RawResponse, Transport

# RawRequest, RawResponse and Transport are defined in _transport_protocol; named here too, as
# what this transport takes and returns, so that its users import them with it.
__all__ = [
    "ABANDONED_REQUEST_GRACE",
    "AiohttpTransport",
    "RawRequest",
    "RawResponse",
    "Transport",
]

ABANDONED_REQUEST_GRACE: Final = 1.0
"""Seconds a request may run on after its caller gave up, holding its connection slot (less
when the read timeout is shorter). Past it the connection is closed, and the slot freed."""


# Once per Timeout, not per call; bounded, since a call may bring its own (timeout=).
@functools.lru_cache(maxsize=64)
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
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


# Python 3.12+ starts a task eagerly when asked: the exchange sends its request before the
# caller yields to the loop, one turn of the loop sooner per request.
_EAGER: Final[dict[str, Any]] = {"eager_start": True} if sys.version_info >= (3, 12) else {}


def _grace(timeout: Timeout) -> float:
    limits = (ABANDONED_REQUEST_GRACE, timeout.read, timeout.total)
    return min(limit for limit in limits if limit is not None)


def _describe(exc: BaseException) -> str:
    """``ClientResponseError: 400, message=...``: the exception's type, and its text if any."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _get(session: aiohttp.ClientSession, request: RawRequest, url: str) -> RawResponse:
    """Send the GET and read the whole body; aiohttp's errors are the caller's to map."""
    # The proxy's credentials are passed by proxy_arguments() directly, never held in a
    # local variable of this frame (nor is the bearer token: it is in request.headers).
    async with session.get(
        request.url,
        timeout=_client_timeout(request.timeout),
        # Redirects are answered, never followed: aiohttp would forward custom headers
        # cross-origin and follow https -> http.
        allow_redirects=False,
        # A caller's session may say otherwise; these requests need the status and the body
        # of every answer, and the decoded body to count against the cap.
        raise_for_status=False,
        auto_decompress=True,
        **proxy_arguments(request.url, request.proxy, request.headers),
    ) as response:
        body = await read_capped(response, request.max_response_bytes, url)
        return RawResponse(
            status=response.status,
            reason=response.reason,
            headers=response.headers,
            body=body,
            url=url,
        )


def _check_trace_configs(trace_configs: object) -> list[aiohttp.TraceConfig]:
    """``trace_configs`` as a list, checked now: aiohttp would fail at the first request.

    It calls ``freeze()`` on each when it creates the session, so anything else ended every
    call with a bare ``AttributeError`` and left that session unclosed.
    """
    if isinstance(trace_configs, str | bytes) or not isinstance(trace_configs, Iterable):
        raise TypeError(
            "trace_configs must be a list of aiohttp.TraceConfig, "
            f"not {type(trace_configs).__name__}"
        )
    configs = list(trace_configs)
    for config in configs:
        if not isinstance(config, aiohttp.TraceConfig):
            raise TypeError(
                f"trace_configs must hold aiohttp.TraceConfig objects, not {type(config).__name__}"
            )
    return configs


class AiohttpTransport:
    """Sends requests through an :class:`aiohttp.ClientSession`.

    A session passed in is used but never closed, forgotten or replaced; otherwise one is
    created on first use, inside the running loop (aiohttp requires that), and closed by
    :meth:`aclose`.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._trace_configs = _check_trace_configs(trace_configs)
        limits = [max_connections]
        connector = session.connector if session is not None else None
        if connector is not None:
            limits += [n for n in (connector.limit, connector.limit_per_host) if n]
        self._connection_limit = min(limits)
        # A slot is a request on the wire: taken before the request starts, outside its
        # timeout (a request queued inside aiohttp's pool would spend its timeout there: the
        # pool's wait counts against the connect timeout), and given back when the exchange
        # ends, not when its caller stops waiting for it.
        self._slots = asyncio.Semaphore(self._connection_limit)
        self._exchanges: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bind_lock = threading.Lock()
        self._closing = asyncio.Event()  # aclose() was called
        self._closed = asyncio.Event()  # ...and has finished

    @property
    def connection_limit(self) -> int:
        """How many requests can be on the wire at once (the pool's size for one host)."""
        return self._connection_limit

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closing.is_set()

    def bind_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, which becomes the transport's on first use (see the module doc)."""
        loop = asyncio.get_running_loop()
        bound = self._loop
        if bound is None:
            # First use, perhaps by two threads at once: only one may bind (checked again
            # under the lock). Once bound, no lock is taken.
            with self._bind_lock:
                if self._loop is None:
                    # A caller's session already belongs to the loop it was created in.
                    # aiohttp only exposes it through a deprecated property; the attribute
                    # behind it is stable.
                    owner = getattr(self._session, "_loop", None)
                    self._loop = owner if isinstance(owner, asyncio.AbstractEventLoop) else loop
                bound = self._loop
        if bound is not loop:
            raise WrongEventLoopError(
                f"this client belongs to another event loop, {bound!r} (the loop of its "
                f"first request, or of the session you gave it), not to the running one, "
                f"{loop!r}; aiohttp sessions cannot move between loops, so nothing was sent. "
                "Create the client inside the loop that uses it: "
                "one per asyncio.run() or per thread, and in pytest a fixture with the same "
                "loop scope as the tests that use it"
            )
        return loop

    async def wait_closed(self) -> None:
        """Return once :meth:`aclose` has been called."""
        await self._closing.wait()

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError("the client is closed; create a new one")

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is not None and self._session.closed:
            # Only a caller's session can be closed under us (ours is closed in aclose()).
            raise ClientClosedError("the aiohttp session given to the client was closed")
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
        """Send one GET and read the whole body (up to ``max_response_bytes``).

        If the caller is cancelled meanwhile, it returns at once; the request runs on in the
        background, holding its slot, until answered or for :data:`ABANDONED_REQUEST_GRACE`.
        """
        self._check_open()
        loop = self.bind_loop()
        await self._slots.acquire()
        url = str(request.url)
        # The exchange runs in a task of its own, so that a caller who gives up does not end
        # it, and hands its outcome to the caller through this future as it ends: one turn of
        # the loop sooner than waiting for the task itself (asyncio.wait: two).
        outcome: asyncio.Future[RawResponse] = loop.create_future()
        try:
            self._check_open()  # closed while this request waited for a slot
            exchange = asyncio.Task(
                self._exchange(self._get_session(), request, url, outcome),
                loop=loop,
                name=f"GET {url} (kernel-async transport)",
                **_EAGER,
            )
        except BaseException:
            self._slots.release()
            raise
        self._exchanges.add(exchange)
        exchange.add_done_callback(functools.partial(self._exchange_done, outcome, url))
        try:
            return await outcome
        except asyncio.CancelledError:
            if not exchange.done():
                abandon = loop.call_later(_grace(request.timeout), exchange.cancel)
                exchange.add_done_callback(lambda _: abandon.cancel())
            if outcome.done() and not outcome.cancelled():
                outcome.exception()  # came too late for a caller who gave up: retrieved
            raise

    def _exchange_done(
        self, outcome: asyncio.Future[RawResponse], url: str, exchange: asyncio.Task[None]
    ) -> None:
        self._exchanges.discard(exchange)
        self._slots.release()
        if not outcome.done():
            # Only aclose() cancels an exchange whose caller is still waiting for it.
            outcome.set_exception(
                ClientClosedError(f"GET {url}: the client was closed during the request")
            )

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        request: RawRequest,
        url: str,
        outcome: asyncio.Future[RawResponse],
    ) -> None:
        """Run the request and settle ``outcome``, unless its caller gave up on it."""
        try:
            response = await self._request(session, request, url)
        except Exception as exc:  # noqa: BLE001 - the caller's to raise: handed over whole
            if not outcome.done():
                outcome.set_exception(exc)
        else:
            if not outcome.done():
                outcome.set_result(response)

    def _session_closed(self, url: str) -> ClientClosedError:
        if self._owns_session:  # closed by aclose(), which ends the exchanges first
            return ClientClosedError(f"GET {url}: the client was closed during the request")
        return ClientClosedError(f"GET {url}: the aiohttp session given to the client was closed")

    def _check_session_open(self, session: aiohttp.ClientSession, url: str) -> None:
        if session.closed:
            raise self._session_closed(url)

    async def _request(
        self, session: aiohttp.ClientSession, request: RawRequest, url: str
    ) -> RawResponse:
        # A caller's session may have been closed by its owner since send() checked it: before
        # Python 3.12 the exchange starts a turn of the loop later (aiohttp: a bare
        # RuntimeError), and on 3.12+ the close can land while it connects.
        self._check_session_open(session, url)
        try:
            # aiohttp's response is a local of _get's frame only, never of this one: its repr
            # shows the reason phrase and the headers, which a server may echo the key in,
            # and a traceback rendered with its locals shows this frame (what passes through
            # _get loses its frames below, in chainable()).
            return await _get(session, request, url)
        except TimeoutError as exc:
            # A stalled read can surface as a plain TimeoutError, not an aiohttp error.
            limit = _timeout_limit(exc)
            failure: KernelError = APITimeoutError(
                f"GET {url} timed out ({limit} limit)", limit=limit, url=url
            )
            cause = chainable(exc)  # at once: this frame's locals show in tracebacks
        except (aiohttp.ClientError, OSError) as exc:
            # The message is built in the call, never held in a local of this frame: aiohttp
            # quotes a malformed response line, which may echo the key, and only the error
            # itself is masked once raised (a traceback rendered with locals shows this frame).
            failure = APIConnectionError(
                f"GET {url} failed: {_describe(exc)}",
                url=url,
                # aiohttp's ClientSSLError: the handshake failed (see kernel_async._tls).
                retryable=may_heal(exc, in_handshake=isinstance(exc, aiohttp.ClientSSLError)),
            )
            cause = chainable(exc)
        except Exception as exc:
            # Once the session was closed under the request, aiohttp fails in its own ways (a
            # bare RuntimeError, an AssertionError on its connector): the client is closed.
            # Anything else (a trace callback's bug, NotImplementedError, RecursionError) is
            # a bug to see, not a connection failure to retry: raised as it is, without the
            # frames below this one, whose local variables hold the request's headers.
            if not session.closed:
                chainable(exc)  # strips the tracebacks of all it reaches
                raise exc  # noqa: TRY201 - re-raised from here, without aiohttp's frames
            failure, cause = self._session_closed(url), None
        if session.closed:
            # Whatever aiohttp raised, the session was closed under the request (its
            # connections with it): not a connection failure to retry.
            failure = self._session_closed(url)
        # Raised here, outside the `except` blocks: inside one, Python would set __context__
        # to aiohttp's exception even with `from None`, and a ClientResponseError there holds
        # the request's headers, bearer token included.
        raise failure from cause

    async def aclose(self) -> None:
        """End the requests in flight, then close the session if this transport created it.

        Every later :meth:`send` raises :class:`ClientClosedError`. Idempotent, from any loop:
        once closed, there is nothing left here to close.
        """
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            if self.closed:
                # Closed in its own loop, which ends what it started there (a pytest fixture's
                # teardown in a new loop, an atexit handler's asyncio.run()): nothing to do.
                return
            self.bind_loop()  # raises WrongEventLoopError: the session cannot be closed here
        if self.closed:
            # Closing already, in another task: return once that is done, as the first call
            # does, unless this runs in an exchange (a trace callback closing the client),
            # which that call is waiting for.
            if asyncio.current_task() not in self._exchanges:
                await self._closed.wait()
            return
        self._closing.set()
        try:
            # Not the task running this, if it is an exchange (a trace callback closing the
            # client): it cannot wait for its own end.
            await cancel_and_wait(self._exchanges - {asyncio.current_task()})
        finally:
            try:
                if self._owns_session and self._session is not None:
                    session, self._session = self._session, None
                    await session.close()
            finally:
                self._closed.set()
