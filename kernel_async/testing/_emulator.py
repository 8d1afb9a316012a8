"""A local Kernel API: a real aiohttp server that behaves like ``GET /invocations``.

It follows ``openapi.yaml`` and what the service does (docs/api-behaviour.md): the same
filters, validation, ordering, status codes, Error bodies and pagination headers as the
service, so code tested against it behaves the same against the real API. It also lets a
test change the data while it runs, slow responses down, script odd responses, and read a log
of every request it received.

This module is the server: its lifecycle (a socket, or in process), its data, and how each
request is served (latency, rate limit, scripted responses, faults). The API's rules for a
query and a page are in ``_api_rules``, the records of the log and the script in
``_requests``, the rate limit's count in ``_rate_limit``, and how an answer (or its fault)
is written on the connection in ``_serving``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

import attrs
from aiohttp import web

from kernel_async._client import RETRY_COUNT_HEADER, AsyncKernel
from kernel_async._defaults import DEFAULT_MAX_CONNECTIONS
from kernel_async._params import MAX_LIMIT
from kernel_async.testing._api_rules import (
    BadRequest,
    page_answer,
    page_params,
    query_int,
    since_ns,
)
from kernel_async.testing._data import generate_invocations
from kernel_async.testing._faults import (
    Answer,
    Fault,
    FaultKind,
    FaultSchedule,
    error_answer,
)
from kernel_async.testing._in_thread import call_on_loop
from kernel_async.testing._live import LiveData
from kernel_async.testing._memory import EmulatorTransport
from kernel_async.testing._rate_limit import LastSecond
from kernel_async.testing._requests import RecordedRequest, ScriptedResponse
from kernel_async.testing._serving import write_answer
from kernel_async.testing._store import Change, InvocationStore, Record

__all__ = ["DEFAULT_API_KEY", "KernelEmulator"]

DEFAULT_API_KEY: Final = "kernel-emulator-key"
"""The bearer token the emulator accepts unless told otherwise."""

_IN_MEMORY_URL: Final = "http://127.0.0.1/"  # never dialled: the in-process transport answers


class KernelEmulator:
    """A Kernel API on 127.0.0.1, for tests, demos and benchmarks.

    Use it as an async context manager; :attr:`url` and :attr:`api_key` point a client at it,
    or :meth:`client` builds one::

        async with KernelEmulator(count=250, seed=7) as emulator:
            async with emulator.client() as client:
                page = await client.invocations.list_page(limit=100)

    Args:
        invocations: Invocations in their JSON form; when given, ``count`` and ``seed`` are
            not used.
        count: How many invocations to generate (see :func:`generate_invocations`).
        seed: The generator's seed.
        now: The emulator's clock, fixed (for ``since`` and the generated data); ``None``
            follows the real time.
        api_key: The bearer token it accepts.
        latency: Seconds to wait before answering each request, or a function of the
            :class:`RecordedRequest` returning them.
        limit_cap: Serve at most this many items per page whatever ``limit`` asked, as a
            server that caps page sizes does (``X-Limit`` then says the real size).
        rate_limit: Answer at most this many requests per second (over the last second); the
            rest get ``429`` with ``Retry-After`` (whole seconds until a slot frees).
        host: The address to listen on; loopback only.
        port: The port; 0 picks a free one.
        path_prefix: Serve under this path (``/v1/``), as behind a gateway; :attr:`url`
            includes it.
        faults: A :class:`FaultSchedule` of injected faults (also settable later).
        live: A :class:`LiveData` mode: the data changes while the emulator serves, and
            concurrent requests may be answered out of order (also settable later).
    """

    def __init__(
        self,
        invocations: Iterable[Mapping[str, Any]] | None = None,
        *,
        count: int = 200,
        seed: int = 0,
        now: datetime | None = None,
        api_key: str = DEFAULT_API_KEY,
        latency: float | Callable[[RecordedRequest], float] = 0.0,
        limit_cap: int | None = None,
        rate_limit: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        path_prefix: str = "/",
        faults: FaultSchedule | None = None,
        live: LiveData | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the emulator listens on loopback only (127.0.0.1 or ::1)")
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if limit_cap is not None and not 1 <= limit_cap <= MAX_LIMIT:
            raise ValueError(f"limit_cap must be between 1 and {MAX_LIMIT}")
        self._now = now
        self.api_key = api_key
        self.latency = latency
        self.limit_cap = limit_cap
        if rate_limit is not None and not 0 < rate_limit < math.inf:
            raise ValueError("rate_limit must be a finite number of requests per second > 0")
        self.rate_limit = rate_limit
        self._answered = LastSecond()  # the answers that count against rate_limit
        self._host = host
        self._port = port
        if not (path_prefix.startswith("/") and path_prefix.endswith("/")):
            raise ValueError("path_prefix must start and end with '/'")
        self._path_prefix = path_prefix
        self.faults = faults
        """The fault schedule in force, or ``None``."""
        if invocations is None:
            invocations = generate_invocations(count, seed=seed, now=now)
        self._store = InvocationStore(invocations)
        self.live = live
        """The live-data mode in force (changes while serving, answers out of order), or
        ``None``."""
        self._script: list[ScriptedResponse] = []
        self._request_ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self.in_flight = 0
        """Requests being handled right now."""
        self.max_in_flight = 0
        """The most requests that were in flight at once."""
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        # The loop that serves; a change from another thread runs there (see call_on_loop).
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to give a client, such as ``http://127.0.0.1:41233/``."""
        if self._url is None:
            raise RuntimeError("the emulator is not running; use `async with` or start()")
        return self._url

    async def start(self) -> str:
        """Start serving; returns :attr:`url`."""
        if self._runner is not None:
            return self.url
        app = web.Application()
        app.router.add_get(f"{self._path_prefix}invocations", self._handle_list)
        # handler_cancellation: a client that hangs up (a cancelled speculative request) stops
        # its handler, as a real server would, instead of holding shutdown for its latency.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()  # a busy port: release what setup() took
            raise
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        port = runner.addresses[0][1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._url = f"http://{host}:{port}{self._path_prefix}"
        return self._url

    async def close(self) -> None:
        """Stop serving and close every connection."""
        runner, self._runner = self._runner, None
        self._loop = None
        if self.live is not None:
            self.live.stop()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def client(self, *, in_memory: bool = False, **kwargs: Any) -> AsyncKernel:
        """An :class:`~kernel_async.AsyncKernel` bound to this emulator (close it yourself).

        With ``in_memory=True`` the client talks to the emulator in process, with no socket
        and no need to start the server: faster, and with ``live=`` reproducible to the
        event-loop step (the same seed replays the same walk). Keyword arguments go to
        :class:`~kernel_async.AsyncKernel`.
        """
        if not isinstance(in_memory, bool):  # "false" would be true: a switch is a bool
            raise TypeError(f"in_memory must be a bool, not {type(in_memory).__name__}")
        kwargs.setdefault("api_key", self.api_key)
        if not in_memory:
            return AsyncKernel(base_url=self.url, **kwargs)
        transport = EmulatorTransport(
            self, connection_limit=kwargs.pop("max_connections", DEFAULT_MAX_CONNECTIONS)
        )
        kwargs.setdefault("base_url", _IN_MEMORY_URL)
        return AsyncKernel(transport=transport, **kwargs)

    # -- data ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The emulator's clock."""
        return self._now if self._now is not None else datetime.now(UTC)

    # The data is changed, and read, on the loop that serves, whichever thread asks: a test
    # that is not async talks to an emulator serving from a thread (the pytest plugin's
    # kernel_emulator), and its changes land between two responses, not within one.

    @property
    def invocations(self) -> list[dict[str, Any]]:
        """Every invocation, in the order the API lists them (newest first, then id)."""
        return call_on_loop(self._loop, lambda: [dict(r.wire) for r in self._store.records])

    @property
    def changes(self) -> list[Change]:
        """Every change to the data since the start, in order, with its logical time."""
        return list(self._store.changes)

    @property
    def served(self) -> int:
        """How many responses were computed from the data (the clock of :attr:`changes`)."""
        return self._store.tick

    def add_invocation(self, invocation: Mapping[str, Any]) -> None:
        """Add an invocation (JSON form); it takes its place by ``started_at``."""
        call_on_loop(self._loop, lambda: self._store.add(invocation))

    def remove_invocation(self, invocation_id: str) -> None:
        """Remove the invocation with this id (``KeyError`` if there is none)."""
        call_on_loop(self._loop, lambda: self._store.remove(invocation_id))

    def set_status(self, invocation_id: str, status: str, **fields: Any) -> None:
        """Change an invocation's status, so that it enters or leaves a ``status`` filter.

        Other fields may change with it (``finished_at``, ``status_reason``, ...), but never
        ``id`` or ``started_at``.
        """
        call_on_loop(self._loop, lambda: self._store.set_status(invocation_id, status, **fields))

    def list_invocations(self, **filters: str) -> list[dict[str, Any]]:
        """What a complete walk with these query filters must yield, in order.

        Filters take their wire form (``status="failed"``, ``since="1h"``).
        """
        return call_on_loop(self._loop, lambda: [dict(r.wire) for r in self._filter(filters)])

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue responses to send instead of the real ones (see :class:`ScriptedResponse`)."""
        call_on_loop(self._loop, lambda: self._script.extend(responses))

    # -- the API ---------------------------------------------------------------------------

    def _filter(self, query: Mapping[str, str]) -> list[Record]:
        return self._store.filter(query, self._since_ns)

    def _since_ns(self, since: str) -> int:
        return since_ns(since, self.now)

    def _admit(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> RecordedRequest:
        """Log a request as it arrives and count it in flight (the caller counts it out)."""
        recorded = RecordedRequest(
            path=path,
            query=dict(query),
            authorized=headers.get("Authorization") == f"Bearer {self.api_key}",
            headers={k: v for k, v in headers.items() if k.lower() != "authorization"},
            received_at=time.monotonic(),
        )
        self.requests.append(recorded)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return recorded

    async def _serve(self, recorded: RecordedRequest, *, in_process: bool) -> Answer:
        """What to answer a request: the scripted response, or the API's (maybe faulty)."""
        delay = self.latency(recorded) if callable(self.latency) else self.latency
        if delay > 0:
            await asyncio.sleep(delay)
        request_id = f"req_emu_{next(self._request_ids):06d}"
        throttled = self._throttle(request_id)
        if throttled is not None:
            return throttled
        scripted = self._take_scripted(recorded.offset)
        if scripted is not None:
            headers = {"Content-Type": scripted.content_type, "X-Request-Id": request_id}
            return Answer(scripted.status, {**headers, **scripted.headers}, scripted.body)
        fault = self._fault_for(recorded)
        if fault is not None and fault.kind is FaultKind.LATENCY_SPIKE:
            await asyncio.sleep(fault.seconds)
            fault = None
        if self.live is not None and self.live.reorder:
            # Held with the requests that arrive meanwhile, then answered in a seeded order,
            # each from the data as it is at its turn (computed below, with no await).
            await self.live.turn(in_process=in_process)
        answer = self._respond(recorded.query, recorded.authorized, request_id)
        return answer if fault is None else attrs.evolve(answer, fault=fault)

    async def _answer_in_process(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> Answer:
        """Serve one request that came without a socket (``client(in_memory=True)``)."""
        recorded = self._admit(path, query, headers)
        try:
            return await self._serve(recorded, in_process=True)
        finally:
            self.in_flight -= 1

    async def _handle_list(self, request: web.Request) -> web.StreamResponse:
        recorded = self._admit(request.path, request.query, request.headers)
        try:
            return await write_answer(request, await self._serve(recorded, in_process=False))
        finally:
            self.in_flight -= 1

    def _throttle(self, request_id: str) -> Answer | None:
        """A 429 if this request is over the rate limit, as a rate-limited API answers."""
        if self.rate_limit is None:
            return None
        wait = self._answered.admit(self.rate_limit, time.monotonic())
        if wait is None:
            return None
        answer = error_answer(429, "rate_limited", "too many requests", request_id)
        return attrs.evolve(answer, headers={**answer.headers, "Retry-After": str(wait)})

    def _fault_for(self, recorded: RecordedRequest) -> Fault | None:
        schedule = self.faults
        if schedule is None:
            return None
        # The client's own retry count, when it sends one: aiohttp's silent resend of a GET on
        # a reset pooled connection is then the same attempt, not a new one.
        attempt = query_int(recorded.headers.get(RETRY_COUNT_HEADER))
        if attempt is None:
            attempt = schedule.attempts[tuple(sorted(recorded.query.items()))]
        fault = schedule.decide(recorded.query, attempt)
        schedule.record(recorded.query, fault)
        return fault

    def _take_scripted(self, offset: int | None) -> ScriptedResponse | None:
        for index, scripted in enumerate(self._script):
            if scripted.offset is None or scripted.offset == offset:
                return self._script.pop(index)
        return None

    def _respond(self, query: Mapping[str, str], authorized: bool, request_id: str) -> Answer:
        """What the API answers, from the data as it is now."""
        if not authorized:
            return error_answer(
                401, "unauthorized", "missing or invalid authorization token", request_id
            )
        try:
            _, limit, offset_value = page_params(query, self.limit_cap)
            if self.live is not None:
                self.live.before_response(self, self._store)
            matches = self._filter(query)
            if self.live is not None:
                matches = self.live.served_order(matches, offset_value, limit)
        except BadRequest as exc:
            return error_answer(400, "bad_request", exc.message, request_id)
        self._store.tick += 1
        return page_answer(matches, offset_value, limit, request_id)
