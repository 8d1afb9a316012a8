"""The transport on its own, against loopback servers: the guarantees it keeps for the client.

Closed means closed; one event loop; a caller's session is the caller's; the connection bound
holds at the server; the size cap counts decoded bytes.
"""

import asyncio
import concurrent.futures
import gzip
import linecache
import logging
import sys
import threading
import tracemalloc
import types
import zlib
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from kernel_async import (
    APIResponseTooLargeError,
    APITimeoutError,
    AsyncKernel,
    ClientClosedError,
    Timeout,
    WrongEventLoopError,
)
from kernel_async._scrub import chainable
from kernel_async._transport import (
    ABANDONED_REQUEST_GRACE,
    AiohttpTransport,
    RawRequest,
)
from kernel_async.testing import KernelEmulator

from conftest import LoopbackServer, exception_graph, until


def request_to(
    server: LoopbackServer, *, cap: int = 1 << 20, timeout: Timeout | None = None
) -> RawRequest:
    return RawRequest(
        url=URL(server.url) / "invocations",
        headers={"Authorization": "Bearer k"},
        timeout=timeout or Timeout(),
        max_response_bytes=cap,
    )


async def empty_page(request: web.Request) -> web.Response:
    return web.json_response([], headers={"X-Request-Id": "req_1"})


def aiohttp_objects(error: BaseException) -> list[object]:
    found: list[object] = []
    for exc in exception_graph(error):
        for value in (exc, *vars(exc).values(), *exc.args):
            if type(value).__module__.partition(".")[0] == "aiohttp":
                found.append(value)
    return found


class Gated:
    """A handler that answers request *n* only once ``release(n)`` was called."""

    def __init__(self) -> None:
        self.gates: list[asyncio.Event] = []

    async def __call__(self, request: web.Request) -> web.Response:
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return web.json_response([])

    def release_all(self) -> None:
        for gate in self.gates:
            gate.set()


# -- closed means closed ------------------------------------------------------------------------


async def test_a_closed_transport_sends_nothing() -> None:
    async with LoopbackServer(empty_page) as server:
        transport = AiohttpTransport()
        assert (await transport.send(request_to(server))).status == 200
        await transport.aclose()
        await transport.aclose()  # idempotent
        with pytest.raises(ClientClosedError):
            await transport.send(request_to(server))
        assert transport.closed
        never_used = AiohttpTransport()
        await never_used.aclose()
        with pytest.raises(ClientClosedError):
            await never_used.send(request_to(server))
    assert server.received == 1


async def test_a_request_in_flight_at_close_ends_with_client_closed_error() -> None:
    handler = Gated()
    async with LoopbackServer(handler) as server:
        transport = AiohttpTransport()
        call = asyncio.create_task(transport.send(request_to(server)))
        await until(lambda: server.received == 1)
        await transport.aclose()  # returns without waiting for the server's answer
        with pytest.raises(ClientClosedError, match="closed during the request") as caught:
            await call
        handler.release_all()
    assert aiohttp_objects(caught.value) == []
    assert server.received == 1


async def test_aclose_finishes_its_cleanup_even_when_cancelled() -> None:
    handler = Gated()
    async with LoopbackServer(handler) as server:
        transport = AiohttpTransport()
        call = asyncio.create_task(transport.send(request_to(server)))
        await until(lambda: server.received == 1)
        closing = asyncio.create_task(transport.aclose())
        await asyncio.sleep(0)  # aclose is now waiting for the request it cancelled
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert call.done()  # the request had ended before the cancellation went on
        with pytest.raises(ClientClosedError):
            await call
        handler.release_all()
    # and the session was closed: the strict loop fixture would report it otherwise


def test_an_exception_holding_request_headers_is_never_chained() -> None:
    info = aiohttp.RequestInfo(
        URL("http://127.0.0.1/"), "GET", CIMultiDictProxy(CIMultiDict(Authorization="Bearer k"))
    )
    holder = aiohttp.ClientResponseError(info, (), status=400, message="bad")
    plain = aiohttp.ServerDisconnectedError()
    assert chainable(plain) is plain
    assert chainable(holder) is None
    wrapped = OSError("wrapped")
    wrapped.__context__ = holder
    assert chainable(wrapped) is None
    grouped = OSError("grouped")
    grouped.__cause__ = BaseExceptionGroup("several", [ValueError(), holder])
    assert chainable(grouped) is None
    looped = OSError("a cycle")
    looped.__context__ = plain
    plain.__context__ = looped
    assert chainable(looped) is looped


async def test_a_callers_session_is_never_closed_replaced_or_forgotten() -> None:
    async with LoopbackServer(empty_page) as server, aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)
        await transport.send(request_to(server))
        await transport.aclose()
        with pytest.raises(ClientClosedError):
            await transport.send(request_to(server))  # not on a session of its own
        assert not session.closed
        async with session.get(f"{server.url}invocations") as response:
            assert response.status == 200  # still the caller's, still working
    assert server.received == 2


async def test_a_callers_session_closed_by_the_caller_is_a_typed_error() -> None:
    async with LoopbackServer(empty_page) as server:
        async with aiohttp.ClientSession() as session:
            transport = AiohttpTransport(session)
        with pytest.raises(ClientClosedError, match="session given to the client was closed"):
            await transport.send(request_to(server))
        await transport.aclose()
    assert server.received == 0


async def test_a_callers_session_closed_as_the_request_starts_is_a_typed_error() -> None:
    # Closed after send() checked it: on Python 3.11 the exchange starts a turn of the loop
    # later and met aiohttp's bare RuntimeError('Session is closed'); on 3.12+ (eager start)
    # the request is already connecting, and met 'Connector is closed'.
    async with LoopbackServer(empty_page) as server:
        session = aiohttp.ClientSession()
        transport = AiohttpTransport(session)
        call = asyncio.create_task(transport.send(request_to(server)))
        await asyncio.sleep(0)  # the call is inside send(), its exchange created
        await session.close()
        with pytest.raises(ClientClosedError, match="session given to the client was closed"):
            await call
        await transport.aclose()
    assert server.received == 0


async def test_a_callers_session_closed_during_the_request_is_a_typed_error() -> None:
    handler = Gated()
    async with LoopbackServer(handler) as server:
        session = aiohttp.ClientSession()
        transport = AiohttpTransport(session)
        call = asyncio.create_task(transport.send(request_to(server)))
        await until(lambda: server.received == 1)
        await session.close()  # its connection goes with it
        with pytest.raises(ClientClosedError, match="session given to the client was closed"):
            await call
        handler.release_all()
        await transport.aclose()
    assert server.received == 1


async def test_a_callers_session_closed_by_the_caller_is_never_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kernel_async")
    async with KernelEmulator(count=3) as emulator:
        session = aiohttp.ClientSession()
        client = AsyncKernel(emulator.api_key, base_url=emulator.url, session=session)
        call = asyncio.create_task(client.invocations.list_page())
        await asyncio.sleep(0)  # the call is inside the transport's send()
        await session.close()
        with pytest.raises(ClientClosedError):
            await call
        await client.aclose()
        assert emulator.requests == []
    assert "retry" not in caplog.text


async def test_a_callers_raise_for_status_does_not_hide_the_answer() -> None:
    async def unauthorized(request: web.Request) -> web.Response:
        return web.json_response(
            {"code": "unauthorized", "message": "no"}, status=401, headers={"X-Request-Id": "r"}
        )

    async with (
        LoopbackServer(unauthorized) as server,
        aiohttp.ClientSession(raise_for_status=True) as session,
    ):
        transport = AiohttpTransport(session)
        response = await transport.send(request_to(server))
        await transport.aclose()
    assert (response.status, response.headers["X-Request-Id"]) == (401, "r")
    assert b"unauthorized" in response.body


# -- one event loop -------------------------------------------------------------------------------


async def test_a_second_event_loop_is_refused_before_anything_is_sent() -> None:
    async with LoopbackServer(empty_page) as server:
        transport = AiohttpTransport()
        await transport.send(request_to(server))  # binds the transport to this loop

        def from_another_thread() -> None:
            with pytest.raises(WrongEventLoopError, match="belongs to another event loop"):
                asyncio.run(transport.send(request_to(server)))
            with pytest.raises(WrongEventLoopError):
                asyncio.run(transport.aclose())  # its session cannot be closed from there

        await asyncio.to_thread(from_another_thread)
        assert not transport.closed
        assert (await transport.send(request_to(server))).status == 200  # still fine here
        await transport.aclose()
    assert server.received == 2


async def test_a_closed_transport_closes_again_from_any_loop() -> None:
    # Audit r12: aclose() is idempotent, but a second one from another loop (a fixture's
    # teardown, an atexit handler's asyncio.run()) raised WrongEventLoopError.
    async with LoopbackServer(empty_page) as server:
        transport = AiohttpTransport()
        await transport.send(request_to(server))  # binds the transport to this loop
        await transport.aclose()

        def from_another_thread() -> None:
            asyncio.run(transport.aclose())
            with pytest.raises(ClientClosedError):
                asyncio.run(transport.send(request_to(server)))

        await asyncio.to_thread(from_another_thread)
        assert transport.closed
        await transport.aclose()  # and again from its own
    assert server.received == 1


async def test_a_callers_session_binds_the_transport_to_its_loop() -> None:
    async with LoopbackServer(empty_page) as server, aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)

        def first_use_from_another_loop() -> None:
            with pytest.raises(WrongEventLoopError, match="belongs to another event loop"):
                asyncio.run(transport.send(request_to(server)))

        await asyncio.to_thread(first_use_from_another_loop)
        assert (await transport.send(request_to(server))).status == 200
        await transport.aclose()
    assert server.received == 1


def test_two_threads_binding_at_once_cannot_both_win() -> None:
    # The race is a few bytecodes wide, so it is forced: thread A is held (by a trace
    # function, no library code is changed) right before it binds, having found the
    # transport unbound, until thread B has got through bind_loop() or is about to wait for
    # the bind lock. Without the lock B binds too, and each goes on to use the session from
    # its own loop; with it, B waits, finds A's loop, and is refused.
    transport = AiohttpTransport()
    code = AiohttpTransport.bind_loop.__code__
    a_is_binding = threading.Event()
    b_went_past = threading.Event()

    def source(frame: types.FrameType) -> str:
        return linecache.getline(code.co_filename, frame.f_lineno)

    def hold_a(frame: types.FrameType, event: str, arg: object) -> object:
        if frame.f_code is not code:
            return None

        def line(frame: types.FrameType, event: str, arg: object) -> object:
            if event == "line" and "self._loop = " in source(frame):
                a_is_binding.set()
                assert b_went_past.wait(10)
            return line

        return line

    def watch_b(frame: types.FrameType, event: str, arg: object) -> object:
        if frame.f_code is not code:
            return None

        def line(frame: types.FrameType, event: str, arg: object) -> object:
            if event == "return" or (event == "line" and "_bind_lock" in source(frame)):
                b_went_past.set()
            return line

        return line

    async def bind() -> None:
        transport.bind_loop()

    def first_use(tracer: Callable[..., object]) -> str:
        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            asyncio.run(bind())
        except WrongEventLoopError:
            return "refused"
        finally:
            sys.settrace(previous)
        return "bound"

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a = pool.submit(first_use, hold_a)
        assert a_is_binding.wait(10)
        b = pool.submit(first_use, watch_b)
        results = [a.result(), b.result()]
    assert results == ["bound", "refused"]


# -- the connection bound, at the server --------------------------------------------------------


async def test_an_abandoned_request_keeps_its_slot_until_it_is_answered() -> None:
    handler = Gated()
    async with LoopbackServer(handler) as server:
        transport = AiohttpTransport(max_connections=1)
        first = asyncio.create_task(transport.send(request_to(server)))
        await until(lambda: server.received == 1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first  # the caller gives up at once
        second = asyncio.create_task(transport.send(request_to(server)))
        for _ in range(20):  # ample time for the second request to arrive, if it were sent
            await asyncio.sleep(0.01)
        assert server.received == 1
        handler.gates[0].set()  # the server answers the abandoned request
        await until(lambda: server.received == 2)
        handler.gates[1].set()
        assert (await second).status == 200
        await transport.aclose()
    assert server.max_in_flight == 1


async def test_an_abandoned_request_gives_its_slot_back_after_the_grace() -> None:
    handler = Gated()
    async with LoopbackServer(handler) as server:
        transport = AiohttpTransport(max_connections=1)
        first = asyncio.create_task(transport.send(request_to(server)))
        await until(lambda: server.received == 1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        second = asyncio.create_task(transport.send(request_to(server)))
        # The first is never answered: after the grace its connection is closed, and the
        # second is sent while the server still works on the first (the documented limit).
        await until(lambda: server.received == 2)
        assert server.in_flight == 2
        await transport.aclose()  # does not wait for the server either
        with pytest.raises(ClientClosedError):
            await second
        handler.release_all()
    assert ABANDONED_REQUEST_GRACE <= 1.0


async def test_a_request_that_times_out_gives_its_slot_back_at_once() -> None:
    # The documented exception to the bound: aiohttp hangs up on a request that reaches its
    # timeout, and the next one is sent while the server may still be working on it.
    handler = Gated()
    async with LoopbackServer(handler) as server:
        transport = AiohttpTransport(max_connections=1)
        with pytest.raises(APITimeoutError, match="read limit"):
            await transport.send(request_to(server, timeout=Timeout(read=0.1)))
        second = asyncio.create_task(transport.send(request_to(server)))
        await until(lambda: server.received == 2)
        assert server.in_flight == 2
        handler.release_all()
        assert (await second).status == 200
        await transport.aclose()
    assert server.max_in_flight == 2


# -- the size cap counts decoded bytes ------------------------------------------------------------

INFLATED = 20 << 20  # 20 MiB of JSON whitespace: a valid, empty page once decoded
WHITESPACE_PAGE = b"[" + b" " * INFLATED + b"]"
COMPRESSED = {"gzip": gzip.compress(WHITESPACE_PAGE), "deflate": zlib.compress(WHITESPACE_PAGE)}
del WHITESPACE_PAGE


def compressed_handler(body: bytes, encoding: str, *, chunked: bool) -> object:
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}

    async def handler(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=body, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, len(body), 4096):
                await response.write(body[start : start + 4096])
        except ConnectionResetError:
            pass  # the client hung up: that is the point
        return response

    return handler


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_cap_counts_decoded_bytes_and_never_buffers_them(
    encoding: str, chunked: bool
) -> None:
    body = COMPRESSED[encoding]
    assert len(body) < 64 << 10  # a small body on the wire...
    handler = compressed_handler(body, encoding, chunked=chunked)
    async with LoopbackServer(handler) as server:  # type: ignore[arg-type]
        transport = AiohttpTransport()
        tracemalloc.start()
        try:
            with pytest.raises(APIResponseTooLargeError, match="over the 1048576-byte") as caught:
                await transport.send(request_to(server, cap=1 << 20))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await transport.aclose()
    assert caught.value.max_bytes == 1 << 20
    assert peak < 8 << 20  # ...that inflates to 20 MiB was stopped near the 1 MiB cap


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_under_the_cap_is_decoded(encoding: str) -> None:
    page = b'[{"id": "x"}]' + b" " * 5000
    body = gzip.compress(page) if encoding == "gzip" else zlib.compress(page)
    handler = compressed_handler(body, encoding, chunked=False)
    async with LoopbackServer(handler) as server:  # type: ignore[arg-type]
        transport = AiohttpTransport()
        response = await transport.send(request_to(server, cap=len(page)))
        await transport.aclose()
    assert response.body == page
