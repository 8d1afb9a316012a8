"""The client's lifecycle end to end: nothing sent after close, the caller's session left alone,
one event loop, and the connection bound as the server sees it."""

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kernel_async import (
    AsyncKernel,
    AuthenticationError,
    ClientClosedError,
    RetryPolicy,
    WrongEventLoopError,
)
from kernel_async.testing import (
    KernelEmulator,
    RecordedRequest,
    ScriptedResponse,
    generate_invocations,
)

from conftest import CANARY_KEY, NOW, LoopbackServer, exception_graph, until

FAST = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.004)


class AttemptLog:
    """A TraceConfig noting, for every request the client starts, whether it was closed."""

    def __init__(self) -> None:
        self.closed_at_start: list[bool] = []
        self.client: AsyncKernel | None = None
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._on_start)

    async def _on_start(self, *_: Any) -> None:
        assert self.client is not None
        self.closed_at_start.append(self.client.closed)

    def bind(self, client: AsyncKernel) -> AsyncKernel:
        self.client = client
        return client

    @property
    def after_close(self) -> int:
        return self.closed_at_start.count(True)


def has_aiohttp_object(error: BaseException) -> bool:
    return any(
        type(value).__module__.startswith("aiohttp")
        for exc in exception_graph(error)
        for value in (exc, *vars(exc).values(), *exc.args)
    )


# -- nothing is sent after aclose() ---------------------------------------------------------------


async def test_a_call_in_flight_at_close_ends_with_client_closed_error_and_no_retry() -> None:
    log = AttemptLog()
    async with KernelEmulator(count=5, latency=5.0) as emu:
        client = log.bind(emu.client(retry=FAST, trace_configs=[log.trace]))
        call = asyncio.create_task(client.invocations.list_page())
        await until(lambda: emu.requests)
        await client.aclose()
        with pytest.raises(ClientClosedError) as caught:
            await call
    assert log.closed_at_start == [False]
    assert len(emu.requests) == 1
    assert not has_aiohttp_object(caught.value)


@pytest.mark.parametrize("waiting_in", ["backoff", "throttle"])
async def test_a_call_waiting_to_retry_ends_at_close(
    waiting_in: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kernel_async")
    unavailable = ScriptedResponse(
        status=503, body=b'{"code":"unavailable","message":"later"}', headers={"Retry-After": "3"}
    )
    log = AttemptLog()
    async with KernelEmulator(count=5) as emu:
        emu.script(unavailable)
        client = log.bind(emu.client(trace_configs=[log.trace]))
        calls = [asyncio.create_task(client.invocations.list_page())]
        await until(lambda: "retry 1 of 2" in caplog.text)  # now waiting for 3 s
        if waiting_in == "throttle":
            # Another call started now waits for the same 3 s before sending anything.
            calls.append(asyncio.create_task(client.invocations.list_page()))
            await asyncio.sleep(0.01)
        await client.aclose()
        for call in calls:
            with pytest.raises(ClientClosedError, match="waited to be sent"):
                await call
    assert log.closed_at_start == [False]
    assert len(emu.requests) == 1


def library_tasks() -> list[asyncio.Task[Any]]:
    """The package's tasks still running (the page requests of walks, their exchanges)."""
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task is not current and not task.done() and "kernel-async" in task.get_name()
    ]


@pytest.mark.parametrize("keep_the_listing", [True, False], ids=["kept", "dropped"])
async def test_no_call_of_the_client_is_still_running_once_aclose_returns(
    keep_the_listing: bool,
) -> None:
    # A walk left after a bare `break` (listing kept or dropped) while its other pages wait
    # out a 503's Retry-After, and a session of the caller's, which closing does not touch:
    # aclose() wakes those calls, and returns once every one has ended.
    unavailable = ScriptedResponse(
        status=503, body=b'{"code":"unavailable","message":"later"}', headers={"Retry-After": "5"}
    )
    async with KernelEmulator(count=100, now=NOW) as emu, aiohttp.ClientSession() as session:
        client = emu.client(session=session)
        listing = client.invocations.list(limit=10, prefetch=4)
        async for _ in listing:
            emu.script(*[unavailable] * 10)  # every page after the first: wait 5 s
            break
        await until(lambda: len(emu.requests) >= 4)  # the window's pages are in their backoff
        if not keep_the_listing:
            del listing
            gc.collect()
        await client.aclose()
        assert library_tasks() == []
        if keep_the_listing:
            await listing.aclose()


@pytest.mark.parametrize("keep_the_listing", [True, False], ids=["kept", "dropped"])
async def test_after_a_bare_break_leaving_the_client_sends_nothing_more(
    keep_the_listing: bool,
) -> None:
    log = AttemptLog()

    def latency(request: RecordedRequest) -> float:
        return 5.0 if (request.offset or 0) >= 20 else 0.0  # pages 3 on are slow to come

    async with KernelEmulator(count=1000, latency=latency, now=NOW) as emu:
        async with log.bind(emu.client(retry=FAST, trace_configs=[log.trace])) as client:
            listing = client.invocations.list(limit=10)
            taken = 0
            async for _ in listing:
                taken += 1
                if taken == 15:  # into the second page
                    break
            await until(lambda: len(emu.requests) >= 8)  # the rest of the window is in flight
            if not keep_the_listing:
                del listing
        sent_before_close = len(log.closed_at_start)
        if keep_the_listing:
            with pytest.raises(ClientClosedError):
                async for _ in listing:  # the buffered items, then the closed client
                    pass
            await listing.aclose()
        gc.collect()
    assert log.after_close == 0
    assert len(emu.requests) <= sent_before_close


# -- a caller's session is the caller's -----------------------------------------------------------


async def test_a_callers_raise_for_status_session_still_gets_typed_errors(
    emulator: KernelEmulator,
) -> None:
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with emulator.client(session=session, api_key="wrong-key", retry=FAST) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.invocations.list_page()
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")
        assert caught.value.request_id is not None
        assert len(emulator.requests) == 1  # a 401 is not retried
        assert not session.closed


async def test_a_callers_session_works_after_aclose_even_with_a_call_in_flight() -> None:
    async with (
        KernelEmulator(count=5, latency=5.0, api_key=CANARY_KEY) as slow,
        KernelEmulator(count=3, api_key=CANARY_KEY) as fast,
        aiohttp.ClientSession() as session,
    ):
        client = slow.client(session=session, retry=FAST)
        call = asyncio.create_task(client.invocations.list_page())
        await until(lambda: slow.requests)
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await call
        assert not session.closed
        headers = {"Authorization": f"Bearer {CANARY_KEY}"}
        async with session.get(f"{fast.url}invocations", headers=headers) as response:
            assert response.status == 200
            assert len(await response.json()) == 3
    assert len(slow.requests) == 1


# -- one client, one event loop -------------------------------------------------------------------


@contextmanager
def emulator_in_a_thread() -> Iterator[KernelEmulator]:
    """A KernelEmulator serving from its own thread and loop, for tests that run several."""
    emulator = KernelEmulator(count=3, now=NOW, api_key=CANARY_KEY)
    started, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with emulator:
            started.set()
            while not stop.is_set():  # noqa: ASYNC110 - a thread's flag
                await asyncio.sleep(0.01)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert started.wait(10)
        yield emulator
    finally:
        stop.set()
        thread.join()


def test_a_second_event_loop_gets_a_typed_error_before_anything_is_sent() -> None:
    with emulator_in_a_thread() as emu:
        client = AsyncKernel(CANARY_KEY, base_url=emu.url, max_retries=0)  # outside any loop

        async def walk() -> int:
            async with client.invocations.list() as listing:
                return len([i async for i in listing])

        first = asyncio.new_event_loop()
        try:
            assert len(first.run_until_complete(client.invocations.list_page())) == 3
            with pytest.raises(WrongEventLoopError, match="belongs to another event loop") as one:
                asyncio.run(client.invocations.list_page())
            with pytest.raises(WrongEventLoopError):
                asyncio.run(walk())
            assert len(emu.requests) == 1
            assert "asyncio.run()" in str(one.value)
            assert isinstance(one.value, RuntimeError)  # what aiohttp raised before, typed
            assert first.run_until_complete(walk()) == 3  # its own loop still works
            first.run_until_complete(client.aclose())
            # Closed: closing again is a no-op from any loop (audit r12), a call still refused.
            asyncio.run(client.aclose())
            with pytest.raises(ClientClosedError):
                asyncio.run(client.invocations.list_page())
            assert client.closed
        finally:
            first.close()


MODULE_LEVEL_CLIENT = """
import pytest
from kernel_async import AsyncKernel, WrongEventLoopError

client = AsyncKernel({key!r}, base_url={url!r}, max_retries=0)


async def test_first_loop():
    assert len(await client.invocations.list_page()) == 3


async def test_second_loop():
    await client.invocations.list_page()
"""


def test_a_module_level_client_under_function_scoped_loops_says_what_to_do(
    pytester: pytest.Pytester,
) -> None:
    with emulator_in_a_thread() as emu:
        pytester.makepyfile(test_user=MODULE_LEVEL_CLIENT.format(key=CANARY_KEY, url=emu.url))
        pytester.makeini(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
            "asyncio_default_test_loop_scope = function\n"
        )
        result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*WrongEventLoopError: this client belongs to another event loop*pytest a fixture*"]
    )
    assert len(emu.requests) == 1


# -- the connection bound, as the server sees it ------------------------------------------------

WALK_DATA = generate_invocations(95, seed=3, now=NOW)


async def paged(request: web.Request) -> web.Response:
    """Pages of WALK_DATA, slower for some offsets, so that walks end at different times."""
    offset, limit = int(request.query.get("offset", "0")), int(request.query["limit"])
    await asyncio.sleep(0.002 + (offset // limit % 7) * 0.008)
    end = offset + limit
    more = end < len(WALK_DATA)
    headers = {"X-Has-More": "true" if more else "false", "X-Next-Offset": str(end if more else 0)}
    return web.Response(
        body=json.dumps(WALK_DATA[offset:end]), headers=headers, content_type="application/json"
    )


async def test_fifty_walks_never_have_more_requests_at_the_server_than_connections() -> None:
    async with LoopbackServer(paged) as server:
        client = AsyncKernel("k", base_url=server.url, max_connections=8)

        async def walk() -> int:
            async with client.invocations.list(limit=10) as listing:
                return len([i async for i in listing])

        async with client:
            assert await asyncio.gather(*(walk() for _ in range(50))) == [95] * 50
    # The server keeps working on a request after the client hangs up; the client's bound
    # counts such requests until they are answered.
    assert server.max_in_flight <= 8, server.max_in_flight
    assert server.received >= 50 * 10


async def test_a_bug_in_a_trace_callback_is_raised_as_it_is_and_not_retried() -> None:
    # Not a connection failure: retried, it would run the buggy callback three times.
    calls = 0

    async def on_start(*_: Any) -> None:
        nonlocal calls
        calls += 1
        raise NotImplementedError("a bug in the caller's trace callback")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with KernelEmulator(count=5) as emu, emu.client(trace_configs=[trace]) as client:
        with pytest.raises(NotImplementedError, match="trace callback"):
            await client.invocations.list_page()
    assert calls == 1


async def test_closing_the_client_from_inside_its_own_call_returns() -> None:
    # A trace callback of the call's request closes the client: it cannot wait for the
    # call (nor the exchange) it runs in to end.
    holder: dict[str, AsyncKernel] = {}

    async def on_start(*_: Any) -> None:
        await holder["client"].aclose()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with KernelEmulator(count=5) as emu:
        client = holder["client"] = emu.client(trace_configs=[trace])
        async with asyncio.timeout(10):
            with pytest.raises(ClientClosedError):
                await client.invocations.list_page()
        assert client.closed


async def test_a_second_aclose_returns_only_once_the_first_has_closed_the_session() -> None:
    # `async with client:` while another task closes it too: the second aclose() found the
    # client closing and returned at once, while the first was still closing the session,
    # so code after it (a loop shutting down) could run with the package's task unfinished.
    async with KernelEmulator(count=5) as emu:
        client = emu.client()
        await client.invocations.list_page()
        first = asyncio.create_task(client.aclose())
        await asyncio.sleep(0)  # the first is closing the session now
        await client.aclose()
        assert first.done()
        await first


async def test_a_second_aclose_from_inside_a_request_does_not_wait_for_the_first() -> None:
    # The first aclose() waits for the request it cancelled; a trace callback of that request
    # closes the client again as it is cancelled: it must not wait for the first in turn.
    holder: dict[str, AsyncKernel] = {}
    started = asyncio.Event()

    async def on_start(*_: Any) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await holder["client"].aclose()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with KernelEmulator(count=5) as emu:
        client = holder["client"] = emu.client(trace_configs=[trace])
        call = asyncio.create_task(client.invocations.list_page())
        await started.wait()
        async with asyncio.timeout(10):
            await client.aclose()
            with pytest.raises(ClientClosedError):
                await call
        assert client.closed
