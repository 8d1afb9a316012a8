"""``AsyncKernel``: the session object users hold, and the entry of every request it sends.

The client checks its arguments, owns the transport and its lifecycle (``aclose()`` waits for
the calls still running), and counts each call it lets through. The attempts at a page, their
retries and the shared throttle are those of :class:`~kernel_async._attempts.PageAttempts`,
which it mixes in.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import random
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Final, Self

import aiohttp
import attrs
from yarl import URL

from kernel_async._attempts import PageAttempts
from kernel_async._compiled import prepare_page_decoding
from kernel_async._config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    RETRY_COUNT_HEADER,
    ClientConfig,
    Timeout,
    resolve_config,
)
from kernel_async._defaults import DEFAULT_MAX_CONNECTIONS
from kernel_async._errors import ClientClosedError
from kernel_async._invocations import Invocations
from kernel_async._models import Page
from kernel_async._options import NO_OPTIONS, CallOptions
from kernel_async._params import InvocationFilters, build_query
from kernel_async._retry import RetryPolicy
from kernel_async._scrub import without_tracebacks
from kernel_async._throttle import Throttle
from kernel_async._transport import AiohttpTransport, Transport
from kernel_async._transport_protocol import check_transport

__all__ = ["DEFAULT_MAX_CONNECTIONS", "RETRY_COUNT_HEADER", "AsyncKernel"]

# Every page the client reads goes through the page decoder: msgspec's, with the `fast`
# extra, loads with the client as orjson does (about 3 ms), not during the first walk, which
# it delayed by as much (and whose first round trip sets the adaptive window). What only a
# failure needs (cattrs, the error models' converter) still loads when first needed.
prepare_page_decoding()

# Set while a call of a client runs, in its task and in the tasks it starts (a request's
# exchange copies the context): aclose() from there must not wait for the call to end.
_IN_CALL: Final[contextvars.ContextVar[bool]] = contextvars.ContextVar(
    "kernel_async_in_call", default=False
)


class AsyncKernel(PageAttempts):
    """An asyncio client for the Kernel API.

    Create one per application and share it; close it with ``async with`` or :meth:`aclose`::

        async with AsyncKernel() as client:
            page = await client.invocations.list_page(status="failed")

    It may be built outside any event loop, and belongs to the loop of its first request:
    using it from another loop raises :class:`WrongEventLoopError` before anything is sent.

    Args:
        api_key: The API key; defaults to the ``KERNEL_API_KEY`` environment variable.
        base_url: The API's base URL; defaults to ``KERNEL_BASE_URL``, then
            ``https://api.onkernel.com/``. A path prefix (``https://host/v1/``) is kept.
        timeout: Per-attempt limits: a :class:`Timeout`, or seconds for the whole attempt.
        default_headers: Extra headers for every request (``X-Kernel-Project-Id``, say).
        session: An :class:`aiohttp.ClientSession` to send through. The client uses it but
            never closes or replaces it; without one, the client creates its own inside the
            running loop on first use and closes it in :meth:`aclose`. One created with
            ``trust_env=True`` is refused: the client finds the proxy itself (``trust_env``);
            so is one with ``auth=``: the client sends the key itself.
        max_retries: Retries of a failed request (default 2); shorthand for
            ``retry=RetryPolicy(max_retries=...)``. Calls and walks can override it.
        retry: The full :class:`RetryPolicy` (backoff, jitter, cap on server hints).
        max_connections: How many requests may be on the wire at once (the connection
            pool's size), counting requests whose caller gave up but whose answer is still
            coming (for up to a second). Walks never prefetch more pages than this.
        max_response_bytes: The largest response body accepted (32 MiB); a larger one
            raises :class:`APIResponseTooLargeError` without being buffered.
        trace_configs: aiohttp ``TraceConfig`` objects for the session the client creates
            (with your own ``session``, configure tracing on it instead).
        allow_http: Permit plain ``http://`` to a non-loopback host (the key would travel in
            clear text). Loopback hosts, such as the emulator's, never need it.
        trust_env: Use the proxy named by ``HTTPS_PROXY`` (``HTTP_PROXY`` for plain http),
            ``ALL_PROXY`` and ``NO_PROXY``, as the official SDK does; a loopback base URL is
            always reached directly. CA bundles in ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are
            read by OpenSSL itself, whatever this says. ``~/.netrc`` is never read.
        transport: Send requests through this object instead of aiohttp (a test double;
            ``KernelEmulator.client(in_memory=True)`` passes one that needs no socket).

    Raises:
        MissingAPIKeyError: no key was given and ``KERNEL_API_KEY`` is unset, or the key is
            empty (``api_key=""`` and an empty ``KERNEL_API_KEY`` alike).
        ValueError, TypeError: a malformed key, base URL, timeout or header, a switch
            that is not a bool, or a session, trace config or transport of the wrong type.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | URL | None = None,
        timeout: Timeout | float = DEFAULT_TIMEOUT,
        default_headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        allow_http: bool = False,
        trust_env: bool = True,
        transport: Transport | None = None,
    ) -> None:
        config: ClientConfig | None = None
        refused: Exception | None = None
        try:
            config = resolve_config(
                api_key=api_key,
                base_url=base_url,
                timeout=timeout,
                default_headers=default_headers,
                environ=os.environ,
                retry=retry,
                max_retries=max_retries,
                max_response_bytes=max_response_bytes,
                allow_http=allow_http,
                trust_env=trust_env,
            )
        except Exception as exc:  # noqa: BLE001 - raised again below, without its frames
            refused = exc
        # The key, given or read from the environment, is no local variable of this frame
        # from here on, so a traceback rendered with its locals (pytest -l, Sentry) cannot
        # show it; an argument refused above is raised without the frames below this one,
        # which held the key, the headers built from it, os.environ and the proxy URL. Nor
        # are the arguments that may hold it or another secret (an Authorization header, a
        # gateway's key, a password in the URL): the configuration holds them, masked.
        del api_key, base_url, default_headers
        if config is None:
            assert refused is not None  # resolve_config returns a configuration or raises
            raise without_tracebacks(refused)
        self._config: ClientConfig = config
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(f"session must be an aiohttp.ClientSession, not {session!r}")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError("max_connections must be an int")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        if session is not None and trace_configs:
            raise ValueError("pass trace_configs to your own ClientSession, not to AsyncKernel")
        if transport is not None and (session is not None or trace_configs):
            raise ValueError("pass a transport or a session (and trace_configs), not both")
        if session is not None and session.trust_env:
            # aiohttp has no per-request switch: such a session takes a proxy from the
            # environment for every request the client sends direct (a loopback base URL, a
            # NO_PROXY host, trust_env=False), the key with it, and adds ~/.netrc credentials,
            # which aiohttp then refuses beside the Authorization header (a ValueError).
            raise ValueError(
                "session was created with trust_env=True, which makes aiohttp pick proxies "
                "and ~/.netrc credentials from the environment over the client's choice; "
                "create it with aiohttp.ClientSession(trust_env=False) (the default): the "
                "client reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY itself "
                "(AsyncKernel(trust_env=True), the default)"
            )
        if session is not None and session.auth is not None:
            # aiohttp refuses its auth= beside the Authorization header the client sends:
            # every call would end in a bare ValueError, from none of the client's errors.
            raise ValueError(
                "session was created with auth=, which aiohttp cannot combine with the "
                "client's Authorization header; create the session without auth= (the client "
                "sends the API key itself)"
            )
        # The transport keeps the lifecycle (closed, one event loop) and the connection bound;
        # this class decides what to send and whether to try again.
        self._transport: Transport = (
            AiohttpTransport(session, max_connections=max_connections, trace_configs=trace_configs)
            if transport is None
            else check_transport(transport)
        )
        self._first_attempt_headers = {**self._config.headers, RETRY_COUNT_HEADER: "0"}
        # The shared backoff after a 429 or 503, and the requests let out one at a time after.
        self._throttle = Throttle(max(1, self._transport.connection_limit))
        self._random = random.Random()  # noqa: S311 - jitter, not secrets
        # Calls running now: aclose() wakes them and returns once every one has ended.
        self._calls = 0
        self._calls_ended: asyncio.Event | None = None
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
    def retry(self) -> RetryPolicy:
        """The retry policy of this client's calls."""
        return self._config.retry

    @property
    def connection_limit(self) -> int:
        """Requests that may run at once: ``max_connections``, or a given session's pool size."""
        return self._transport.connection_limit

    @property
    def pushbacks(self) -> int:
        """How often the server has asked this client to slow down (429, 503), so far."""
        return self._throttle.pushbacks

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._transport.closed

    def __repr__(self) -> str:
        if not hasattr(self, "_transport"):
            # __init__ refused its arguments: a traceback rendered with its local variables
            # (pytest -l, Sentry) shows `self` before there is anything to show.
            return "<AsyncKernel (not constructed)>"
        state = "closed" if self.closed else "open"
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

    async def close(self) -> None:
        """The same as :meth:`aclose`: the official SDK's name for it."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and the session it created. Safe to call more than once.

        Calls in flight, and retries waiting for their turn, end with
        :class:`ClientClosedError`, and this returns once they have; nothing is sent
        afterwards. A session you passed in is left open, for you to close. Once closed,
        closing again is a no-op, from any loop.

        Raises:
            WrongEventLoopError: called, while the client is open, from a loop other than the
                one it belongs to (its session can only be closed there).
        """
        await self._transport.aclose()
        self._throttle.abort(_closed_while_waiting)
        # Closing wakes every call still running (a request, a backoff, a wait for a slot):
        # each ends with ClientClosedError within a turn or two of the loop. Waiting for them
        # here means no task of the package runs on once this returns, even with a session
        # of the caller's (whose closing would otherwise have given them the turns).
        # Unless this runs inside a call (a trace callback of its request closing the
        # client): that call cannot end before this returns.
        while self._calls and not _IN_CALL.get():
            if self._calls_ended is None:
                self._calls_ended = asyncio.Event()
            self._calls_ended.clear()
            await self._calls_ended.wait()

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError("this AsyncKernel is closed; create a new one")

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
        """One page of ``GET /invocations``, retried as the policy says, within the deadline.

        An attempt is a request and the reading of its page, so a page whose body was cut
        short is retried whole and its items are delivered once. ``options`` (checked by the
        caller) adds headers and query parameters and may replace the per-attempt timeout.

        Counted while it runs, for :meth:`aclose`, once it may run (open, and in the client's
        loop): a call refused here, from another thread's loop say, must not touch the count
        or the loop's event.
        """
        self._check_open()
        loop = self._transport.bind_loop()  # before any wait: the throttle runs on loop time
        # The extra query cannot name a parameter the SDK sets (call_options refuses them).
        query = {**build_query(filters, limit=limit, offset=offset), **options.query}
        url = self._config.invocations_url.with_query(query)
        policy = self._config.retry
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        self._calls += 1
        token = _IN_CALL.set(True)
        try:
            return await self._retried(loop, url, offset, policy, deadline_at, options)
        finally:
            _IN_CALL.reset(token)
            self._calls -= 1
            if not self._calls and self._calls_ended is not None:
                self._calls_ended.set()


def _closed_while_waiting() -> ClientClosedError:
    return ClientClosedError(
        "the client was closed while the request waited for its turn (after the server "
        "asked it to slow down)"
    )
