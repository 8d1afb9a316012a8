"""The official SDK's per-call keywords: ``timeout``, ``extra_headers``, ``extra_query``,
``extra_body``. Checked before anything is sent; carried by every request of the call."""

import asyncio
from typing import Any

import pytest
from aiohttp import web

from kernel_async import APITimeoutError, AsyncKernel, Timeout
from kernel_async._options import NO_OPTIONS, RESERVED_QUERY, call_options
from kernel_async._transport import RawRequest, RawResponse, _client_timeout
from kernel_async.testing import KernelEmulator
from kernel_async.testing._memory import EmulatorTransport

from conftest import CANARY_KEY, NOW, LoopbackServer, ids

# -- checking the options (no loop, no network) ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"extra_body": {"a": 1}}, TypeError, "extra_body must be None"),
        ({"extra_body": b""}, TypeError, "no body"),
        ({"extra_headers": {"Authorization": "Bearer x"}}, ValueError, "api_key"),
        ({"extra_headers": {"authorization": "Bearer x"}}, ValueError, "api_key"),
        ({"extra_headers": {"x-kernel-async-retry-count": "3"}}, ValueError, "retries"),
        ({"extra_headers": {"X-A": "1\r\nX-B: 2"}}, ValueError, "extra header 'X-A'"),
        ({"extra_headers": {"Bad Name": "1"}}, ValueError, "field name"),
        ({"extra_headers": {"X-A": 1}}, TypeError, "must be a str"),
        ({"extra_headers": {"X-A": "1", "x-a": "2"}}, ValueError, "twice"),
        ({"extra_headers": [("X-A", "1")]}, TypeError, "extra_headers must be a mapping"),
        ({"extra_query": {"offset": 5}}, ValueError, "X-Next-Offset"),
        ({"extra_query": {"limit": 5}}, ValueError, "pass limit="),
        ({"extra_query": {"status": "failed"}}, ValueError, "pass status="),
        ({"extra_query": {"": "x"}}, TypeError, "non-empty str"),
        ({"extra_query": {1: "x"}}, TypeError, "non-empty str"),
        ({"extra_query": {"a\n": "x"}}, ValueError, "control characters"),
        ({"extra_query": {"a": "x\ny"}}, ValueError, "control characters"),
        ({"extra_query": {"a": "x\udcff"}}, ValueError, "not valid text"),
        ({"extra_query": {"a\udcff": "x"}}, ValueError, "not valid text"),
        ({"extra_headers": {"X-A": "x\udcff"}}, ValueError, "extra header 'X-A' is not valid"),
        ({"extra_query": {"a": ["x"]}}, TypeError, r"extra_query\['a'\] must be a str"),
        ({"extra_query": {"a": None}}, TypeError, "must be a str"),
        ({"extra_query": {"a": float("nan")}}, ValueError, "finite"),
        ({"extra_query": "a=1"}, TypeError, "extra_query must be a mapping"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "5"}, TypeError, "timeout"),
        ({"timeout": True}, TypeError, "timeout"),
    ],
)
def test_invalid_options_are_refused_by_name(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call_options(**options)


def test_every_parameter_the_sdk_sends_is_reserved() -> None:
    for name in RESERVED_QUERY:
        with pytest.raises(ValueError, match=repr(name)):
            call_options(extra_query={name: "x"})


def test_valid_options_are_normalised() -> None:
    assert call_options() is NO_OPTIONS
    options = call_options(
        timeout=5,
        extra_headers={"X-Kernel-Project-Id": "proj_1"},
        extra_query={"a": "x", "b": 2, "c": True, "d": False, "e": 1.5},
    )
    assert options.timeout == Timeout(total=5.0, connect=5.0, read=5.0)
    assert options.headers == {"X-Kernel-Project-Id": "proj_1"}
    assert options.query == {"a": "x", "b": "2", "c": "true", "d": "false", "e": "1.5"}
    fine = Timeout(total=None, connect=1.0, read=2.0)
    assert call_options(timeout=fine).timeout is fine
    secret = call_options(extra_headers={"X-Token": CANARY_KEY})
    assert CANARY_KEY not in repr(secret)


def test_the_retry_count_header_is_the_clients_own_in_default_headers_too() -> None:
    with pytest.raises(ValueError, match="retries"):
        AsyncKernel("key", default_headers={"X-Kernel-Async-Retry-Count": "0"})


FRAMING_AND_ROUTING = [
    ("Host", "attacker.example"),
    ("Content-Length", "10"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "close"),
    ("Upgrade", "h2c"),
    ("TE", "trailers"),
    ("Trailer", "X-A"),
    ("Expect", "100-continue"),
    ("Keep-Alive", "timeout=5"),
    ("Proxy-Authorization", "Basic eDp5"),
    ("Proxy-Connection", "keep-alive"),
    ("Proxy-Anything", "1"),
]


@pytest.mark.parametrize(("name", "value"), FRAMING_AND_ROUTING)
@pytest.mark.parametrize("spell", [str, str.lower, str.upper])
def test_framing_and_routing_headers_are_refused_by_name(name: str, value: str, spell: Any) -> None:
    # aiohttp writes these itself: a second copy desyncs the connection, names another host
    # or speaks to a proxy that is not there.
    header = {spell(name): value}
    with pytest.raises(ValueError, match=f"extra_headers may not set '{spell(name)}'"):
        call_options(extra_headers=header)
    with pytest.raises(ValueError, match=f"default_headers may not set '{spell(name)}'"):
        AsyncKernel("key", default_headers=header)


def test_headers_that_merely_look_like_framing_ones_are_allowed() -> None:
    look_alike = {"X-Host": "a", "Content-Type": "b", "Hostname": "c", "Proxy": "d", "TEE": "e"}
    assert call_options(extra_headers=look_alike).headers == look_alike
    AsyncKernel("key", default_headers=look_alike)


# -- through the client -------------------------------------------------------------------------


@pytest.mark.parametrize("header", [{"Content-Length": "10"}, {"Transfer-Encoding": "chunked"}])
async def test_a_framing_header_is_refused_before_it_can_desync_the_connection(
    header: dict[str, str],
) -> None:
    # Once sent: the server read the next request on the connection as this one's body
    # (Content-Length) or waited for chunks (Transfer-Encoding), and the next, unrelated
    # call failed with a 400 or a timeout.
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        emulator.client(max_retries=0, timeout=5) as client,
    ):
        with pytest.raises(ValueError, match="extra_headers may not set"):
            await client.invocations.list_page(extra_headers=header, limit=2)
        assert emulator.requests == []
        page = await client.invocations.list_page(limit=2)
        assert len(page) == 2
        assert len(emulator.requests) == 1
        with pytest.raises(ValueError, match="default_headers may not set"):
            emulator.client(default_headers=header)


@pytest.mark.parametrize("call", ["list_page", "list", "await list"])
async def test_invalid_options_send_nothing(
    emulator: KernelEmulator, client: AsyncKernel, call: str
) -> None:
    options: dict[str, Any] = {"extra_query": {"offset": 3}}
    with pytest.raises(ValueError, match="offset"):
        if call == "list_page":
            await client.invocations.list_page(**options)
        elif call == "list":
            client.invocations.list(**options)
        else:
            await client.invocations.list(**options)
    with pytest.raises(TypeError, match="extra_body"):
        await client.invocations.list_page(extra_body={"x": 1})  # type: ignore[arg-type]
    assert emulator.requests == []


async def test_extra_query_reaches_every_request(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    extra = {"include": "output", "verbose": True}
    await client.invocations.list_page(limit=5, extra_query=extra)
    async with client.invocations.list(limit=50, extra_query=extra) as walk:
        walked = [i async for i in walk]
    page = await client.invocations.list(limit=50, extra_query=extra)
    paged = [i async for i in page]
    assert ids(walked) == ids(paged) == ids(emulator.invocations)
    assert len(emulator.requests) > 6
    for request in emulator.requests:
        assert request.query["include"] == "output"
        assert request.query["verbose"] == "true"


async def test_extra_headers_reach_every_request_and_replace_the_clients(
    emulator: KernelEmulator,
) -> None:
    async with emulator.client(default_headers={"X-Kernel-Project-Id": "proj_default"}) as client:
        headers = {"x-kernel-project-id": "proj_call", "X-Trace": "t1"}
        await client.invocations.list_page(extra_headers=headers)
        page = await client.invocations.list(limit=50, extra_headers=headers)
        [i async for i in page]
        async with client.invocations.list(limit=50, extra_headers=headers) as walk:
            [i async for i in walk]
        await client.invocations.list_page()  # the next call is back to the client's
    *calls, plain = ({k.lower(): v for k, v in r.headers.items()} for r in emulator.requests)
    assert len(calls) >= 4
    for sent in calls:
        assert sent["x-kernel-project-id"] == "proj_call"
        assert sent["x-trace"] == "t1"
    assert plain["x-kernel-project-id"] == "proj_default"
    assert "x-trace" not in plain
    assert all(r.authorized for r in emulator.requests)


async def test_a_replaced_header_is_sent_once_whatever_its_case() -> None:
    seen: list[list[str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.getall("User-Agent"))
        return web.json_response([], headers={"X-Has-More": "false"})

    async with (
        LoopbackServer(handler) as server,
        AsyncKernel("key", base_url=server.url) as client,
    ):
        await client.invocations.list_page(extra_headers={"user-agent": "my-tool/1.0"})
    assert seen == [["my-tool/1.0"]]


class RecordingTransport(EmulatorTransport):
    """The in-process transport, keeping every request it was asked to send."""

    def __init__(self, emulator: KernelEmulator) -> None:
        super().__init__(emulator)
        self.sent: list[RawRequest] = []

    async def send(self, request: RawRequest) -> RawResponse:
        self.sent.append(request)
        return await super().send(request)


async def test_the_timeout_of_a_call_is_each_attempts_limit() -> None:
    async with KernelEmulator(count=25, seed=3, now=NOW) as emulator:
        transport = RecordingTransport(emulator)
        client_timeout = Timeout(total=40, connect=4, read=20)
        own = Timeout(total=9, connect=1, read=3)
        async with AsyncKernel(
            emulator.api_key,
            base_url="http://127.0.0.1/",
            transport=transport,
            timeout=client_timeout,
        ) as client:
            await client.invocations.list_page(timeout=2.5)
            await client.invocations.list_page(timeout=own)
            await client.invocations.list_page()
            async with client.invocations.list(limit=10, timeout=own) as walk:
                [i async for i in walk]
            [i async for i in await client.invocations.list(limit=10, timeout=own)]
        first, second, third, *rest = (request.timeout for request in transport.sent)
    assert first == Timeout(total=2.5, connect=2.5, read=2.5)
    assert second is own
    assert third is client_timeout
    assert len(rest) >= 6
    assert all(timeout is own for timeout in rest)


async def test_the_client_hands_the_transport_one_header_per_name() -> None:
    async with KernelEmulator(count=1, now=NOW) as emulator:
        transport = RecordingTransport(emulator)
        async with AsyncKernel(
            emulator.api_key,
            base_url="http://127.0.0.1/",
            transport=transport,
            default_headers={"X-Kernel-Project-Id": "proj_default"},
        ) as client:
            extra = {"user-agent": "my-tool/1.0", "X-KERNEL-PROJECT-ID": "proj_call"}
            await client.invocations.list_page(extra_headers=extra)
    (request,) = transport.sent
    names = [name.lower() for name in request.headers]
    assert len(names) == len(set(names))
    assert {k.lower(): v for k, v in request.headers.items()}["user-agent"] == "my-tool/1.0"
    assert request.headers["X-KERNEL-PROJECT-ID"] == "proj_call"


async def test_calls_with_timeouts_of_their_own_leave_bounded_state(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    # The transport keeps aiohttp's form of each Timeout; a caller passing a fresh
    # timeout to every call (a remaining budget, say) must not grow it without end.
    for n in range(100):
        await client.invocations.list_page(limit=1, timeout=10 + n / 1000)
    assert len(emulator.requests) == 100
    assert _client_timeout.cache_info().currsize <= 64


async def test_a_call_times_out_at_its_own_timeout_not_the_clients() -> None:
    release = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response([])

    async with LoopbackServer(never_answers) as server:
        async with AsyncKernel("key", base_url=server.url, timeout=60, max_retries=0) as client:
            with pytest.raises(APITimeoutError):
                await client.invocations.list_page(timeout=0.2)
            with pytest.raises(APITimeoutError):
                await client.invocations.list(timeout=0.2)
        release.set()
    assert server.received == 2
