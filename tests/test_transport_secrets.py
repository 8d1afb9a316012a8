"""What the transport's errors may show: no API key, no proxy password, wherever one looks.

The transport chains aiohttp's exception to its own, for diagnosis. Two ways it could carry a
secret are checked here, over loopback: the frames of its traceback, whose local variables
hold the request's headers (rendered by ``pytest -l``, Sentry, rich or
``traceback.TracebackException(capture_locals=True)``), and aiohttp's messages, which name the
proxy's URL.
"""

import asyncio
import base64
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from yarl import URL

from kernel_async import APIConnectionError, APITimeoutError, AsyncKernel, KernelError, Timeout
from kernel_async._scrub import chainable, proxy_arguments
from kernel_async._transport import AiohttpTransport, RawRequest
from kernel_async._transport_protocol import RawResponse
from kernel_async.testing import KernelEmulator, ScriptedResponse

from conftest import CANARY_KEY, LoopbackServer, exception_graph

PROXY_PASSWORD = "pr0xy-canary:p@ss/w%rd"
"""A proxy password that must never show; it needs percent-encoding in a URL."""

PROXY_USER = "proxy-user@corp"

ENCODED_USERINFO = "proxy-user%40corp:pr0xy-canary%3Ap%40ss%2Fw%25rd"

SECRETS = (
    CANARY_KEY,
    PROXY_PASSWORD,
    "pr0xy-canary",
    base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode(),
)


def rendered(error: BaseException) -> str:
    """The error as anything may render it: with its locals, its chain, str and repr."""
    parts = [
        "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    ]
    for exc in exception_graph(error):
        parts += [str(exc), repr(exc), repr(exc.args)]
        parts += [f"{name}={value!r}" for name, value in vars(exc).items()]
    return "\n".join(parts)


def assert_no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def request(url: str, *, timeout: Timeout | None = None, proxy: URL | None = None) -> RawRequest:
    return RawRequest(
        url=URL(url) / "invocations",
        headers={"Authorization": f"Bearer {CANARY_KEY}"},
        timeout=timeout or Timeout(),
        max_response_bytes=1 << 20,
        proxy=proxy,
    )


async def sent_through(transport: AiohttpTransport, raw: RawRequest) -> KernelError:
    try:
        await transport.send(raw)
    except KernelError as error:
        return error
    finally:
        await transport.aclose()
    raise AssertionError("the request succeeded")


Respond = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(respond: Respond) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP server on 127.0.0.1 that reads one request head and answers with ``respond``."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            await respond(heads[-1], writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], heads


def answer(data: bytes) -> Respond:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return respond


# -- the pure part, without a loop ----------------------------------------------------------------


def test_a_chained_cause_keeps_its_type_and_message_and_loses_every_traceback() -> None:
    def raised(exc: BaseException) -> BaseException:
        try:
            raise exc
        except BaseException as caught:  # only to give it a traceback
            return caught

    inner = raised(ConnectionRefusedError(111, "refused"))
    held = raised(OSError("held as an attribute, as aiohttp keeps the OSError"))
    outer = raised(ConnectionError("outer"))
    outer.__context__ = inner
    outer.held = held  # type: ignore[attr-defined]
    grouped = raised(BaseExceptionGroup("several", [raised(TimeoutError("member"))]))
    inner.__cause__ = grouped
    assert chainable(outer) is outer
    assert str(outer) == "outer"
    for exc in (outer, inner, held, grouped, *grouped.exceptions):
        assert exc.__traceback__ is None


def test_proxy_credentials_become_a_header_and_leave_the_url() -> None:
    headers = {"Authorization": "Bearer k"}
    proxy = proxy_url(3128)
    expected = "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    tunnelled = proxy_arguments(URL("https://kernel.test/x"), proxy, headers)
    assert tunnelled == {
        "headers": headers,  # the API's, inside the tunnel: not for the proxy
        "proxy": URL("http://127.0.0.1:3128"),
        "proxy_headers": {"Proxy-Authorization": expected},
    }
    plain = proxy_arguments(URL("http://kernel.test/x"), proxy, headers)
    assert plain["headers"] == {**headers, "Proxy-Authorization": expected}
    assert headers == {"Authorization": "Bearer k"}  # the caller's mapping is not changed
    only_user = proxy_arguments(URL("https://kernel.test/"), URL("http://u@p:1"), headers)
    assert only_user["proxy_headers"] == {"Proxy-Authorization": "Basic dTo="}  # "u:"
    for bare in (URL("http://p:1"), None):
        assert proxy_arguments(URL("https://kernel.test/"), bare, headers) == {
            "headers": headers,
            "proxy": bare,
        }


# -- tracebacks rendered with their locals ----------------------------------------------------


async def refused(port: int) -> KernelError:
    return await sent_through(AiohttpTransport(), request(f"http://127.0.0.1:{port}/"))


class Stalled:
    """A handler that sends nothing until ``release()``: a read timeout's server."""

    def __init__(self) -> None:
        self._gate = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.Response:
        await self._gate.wait()
        return web.json_response([])

    def release(self) -> None:
        self._gate.set()


async def read_timeout(port: int) -> KernelError:
    stalled = Stalled()
    async with LoopbackServer(stalled) as server:
        slow = request(server.url, timeout=Timeout(read=0.1))
        error = await sent_through(AiohttpTransport(), slow)
        stalled.release()
    return error


async def cut_short(port: int) -> KernelError:
    async with raw_server(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[]")) as (p, _):
        return await sent_through(AiohttpTransport(), request(f"http://127.0.0.1:{p}/"))


@pytest.mark.parametrize(
    ("provoke", "expected"),
    [
        (refused, APIConnectionError),
        (read_timeout, APITimeoutError),
        (cut_short, APIConnectionError),
    ],
    ids=["refused", "read-timeout", "cut-short"],
)
async def test_no_frame_of_a_chained_cause_shows_the_key(
    provoke: Callable[[int], Awaitable[KernelError]],
    expected: type[KernelError],
    unused_tcp_port: int,
) -> None:
    error = await provoke(unused_tcp_port)
    assert type(error) is expected
    cause = error.__cause__
    assert cause is not None  # aiohttp's exception is kept, for its type and message...
    assert type(cause).__name__ in str(error) or isinstance(error, APITimeoutError)
    assert all(exc.__traceback__ is None for exc in exception_graph(cause))  # ...not its frames
    text = rendered(error)
    assert "Bearer" not in text
    assert_no_secret_in(text)


async def list_page_error(client: AsyncKernel) -> KernelError:
    # Caught here, not in the test: a test's own frame (with its locals) would be rendered too.
    try:
        await client.invocations.list_page()
    except KernelError as error:
        return error
    raise AssertionError("the call succeeded")


@pytest.mark.parametrize("kind", ["refused", "read-timeout"])
async def test_no_frame_shows_the_key_end_to_end(kind: str, unused_tcp_port: int) -> None:
    stalled = Stalled()
    async with LoopbackServer(stalled) as server:
        base_url = server.url if kind == "read-timeout" else f"http://127.0.0.1:{unused_tcp_port}/"
        async with AsyncKernel(
            CANARY_KEY, base_url=base_url, max_retries=0, timeout=Timeout(read=0.1)
        ) as client:
            error = await list_page_error(client)
        stalled.release()
    assert isinstance(error, APITimeoutError if kind == "read-timeout" else APIConnectionError)
    assert error.__cause__ is not None
    assert_no_secret_in(rendered(error))


# -- a server that echoes the key in its reason phrase or its headers ---------------------------

ECHO_HEAD = (
    f"HTTP/1.1 200 Bearer {CANARY_KEY}\r\nX-Echo: Bearer {CANARY_KEY}\r\n"
    "X-Has-More: false\r\nContent-Type: application/json\r\n"
).encode()


def echoing(body_fault: str, released: asyncio.Event) -> Respond:
    """A head that echoes the key, then a body that fails the way ``body_fault`` says.

    A stalled body stalls until ``released``.
    """

    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        if body_fault == "too-large":
            writer.write(ECHO_HEAD + b"Content-Length: 4096\r\n\r\n" + b" " * 4096)
        elif body_fault == "cut-short":
            writer.write(ECHO_HEAD + b"Content-Length: 100\r\n\r\n[{")
        else:  # stalled
            writer.write(ECHO_HEAD + b"Content-Length: 100\r\n\r\n")
            await writer.drain()
            await released.wait()
        await writer.drain()

    return respond


@pytest.mark.parametrize(
    ("body_fault", "expected"),
    [
        ("too-large", "APIResponseTooLargeError"),
        ("cut-short", "APIConnectionError"),
        ("stalled", "APITimeoutError"),
    ],
)
async def test_a_body_that_fails_after_a_head_echoing_the_key_shows_it_nowhere(
    body_fault: str, expected: str
) -> None:
    # aiohttp's response shows its reason phrase and headers in its repr: it must be a local
    # of no frame the error's traceback shows.
    released = asyncio.Event()
    async with raw_server(echoing(body_fault, released)) as (port, _):
        raw = RawRequest(
            url=URL(f"http://127.0.0.1:{port}/invocations"),
            headers={"Authorization": f"Bearer {CANARY_KEY}"},
            timeout=Timeout(read=0.2),
            max_response_bytes=1024,
            proxy=None,
        )
        error = await sent_through(AiohttpTransport(), raw)
        released.set()
    assert type(error).__name__ == expected
    assert_no_secret_in(rendered(error))


def test_a_raw_response_shows_neither_its_reason_nor_its_headers_nor_its_body() -> None:
    response = RawResponse(
        status=401,
        reason=f"Bearer {CANARY_KEY}",
        headers={"X-Echo": CANARY_KEY},
        body=CANARY_KEY.encode(),
        url="http://127.0.0.1:1/invocations",
    )
    assert repr(response) == (
        f"RawResponse(status=401, url='http://127.0.0.1:1/invocations', body=<{len(CANARY_KEY)}"
        " bytes>)"
    )


@pytest.mark.parametrize("status", [200, 401, 503])
@pytest.mark.parametrize("walk", ["list_page", "list"])
async def test_a_reason_phrase_echoing_the_key_shows_it_nowhere_end_to_end(
    status: int, walk: str
) -> None:
    # 200 with a body that is not JSON, an authentication error, a retried server error.
    head = f"HTTP/1.1 {status} Bearer {CANARY_KEY}\r\nX-Echo: {CANARY_KEY}\r\n"
    data = (head + "X-Has-More: false\r\nContent-Length: 5\r\n\r\n{nope").encode()
    async with (
        raw_server(answer(data)) as (port, heads),
        AsyncKernel(CANARY_KEY, base_url=f"http://127.0.0.1:{port}/", max_retries=1) as client,
    ):
        error = await (list_page_error(client) if walk == "list_page" else list_error(client))
    assert len(heads) == (1 if status == 401 else 2)  # retried once, but for the 401
    assert_no_secret_in(rendered(error))


@pytest.mark.parametrize(
    "head",
    [
        f"HTTP/1.1 200 OK\r\nX-Echo Bearer {CANARY_KEY}\r\n\r\n",  # a header with no colon
        f"HTTP/1.1 200 OK\r\nX-Echo: {'x' * 8200} Bearer {CANARY_KEY}\r\n\r\n",  # too long
        f"HTTP/1.1 200 OK\r\nX-Echo: a\x00 Bearer {CANARY_KEY}\r\n\r\n",  # a NUL
        f"HTTP/1.1 200 OK\r\nContent-Length: Bearer {CANARY_KEY}\r\n\r\n",
        f"HTTP/1.1 2x0 Bearer {CANARY_KEY}\r\n\r\n",  # a status that is not a number
        f"HTTP/9.9 200 Bearer {CANARY_KEY}\r\n\r\n",
    ],
    ids=["no-colon", "too-long", "nul", "content-length", "status", "version"],
)
async def test_a_malformed_head_echoing_the_key_shows_it_nowhere(head: str) -> None:
    # aiohttp's error quotes the line it refused: the message is masked, and no local of a
    # frame the traceback shows holds the text unmasked.
    async with (
        raw_server(answer(head.encode("latin-1"))) as (port, _),
        AsyncKernel(CANARY_KEY, base_url=f"http://127.0.0.1:{port}/", max_retries=0) as client,
    ):
        error = await list_page_error(client)
    assert isinstance(error, APIConnectionError)
    assert_no_secret_in(rendered(error))


async def test_an_in_memory_answer_echoing_the_key_shows_it_nowhere() -> None:
    emulator = KernelEmulator(count=3, api_key=CANARY_KEY)
    echo = {"X-Echo": f"Bearer {CANARY_KEY}"}
    emulator.script(ScriptedResponse(body=CANARY_KEY.encode() * 100, headers=echo))
    async with emulator.client(in_memory=True, max_retries=0, max_response_bytes=1024) as client:
        error = await list_page_error(client)
    assert type(error).__name__ == "APIResponseTooLargeError"
    assert_no_secret_in(rendered(error))


async def list_error(client: AsyncKernel) -> KernelError:
    try:
        async with client.invocations.list() as listing:
            async for _ in listing:
                pass
    except KernelError as error:
        return error
    raise AssertionError("the walk succeeded")


# -- a proxy with credentials -------------------------------------------------------------------


def proxy_url(port: int) -> URL:
    return URL(f"http://{ENCODED_USERINFO}@127.0.0.1:{port}")


def expected_proxy_authorization() -> bytes:
    # The credentials percent-decoded, then Basic in UTF-8 (RFC 7617), as curl and httpx send.
    userinfo = f"{PROXY_USER}:{PROXY_PASSWORD}".encode()
    return b"proxy-authorization: basic " + base64.b64encode(userinfo).lower()


@pytest.mark.parametrize(
    "refusal",
    [
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\nnope!",
    ],
    ids=["407", "502"],
)
async def test_a_proxy_refusing_the_tunnel_shows_no_password(
    refusal: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with raw_server(answer(refusal)) as (port, heads):
        tunnelled = request("https://kernel.test/", proxy=proxy_url(port))
        error = await sent_through(AiohttpTransport(), tunnelled)
    assert isinstance(error, APIConnectionError)
    status = refusal.split()[1].decode()
    assert f"ClientHttpProxyError: {status}" in str(error)  # aiohttp's reason, still said
    assert f"http://127.0.0.1:{port}" in str(error)  # and the proxy, without its userinfo
    assert_no_secret_in(rendered(error))
    assert_no_secret_in(caplog.text)
    (head,) = heads
    assert head.startswith(b"CONNECT kernel.test:443 ")
    assert expected_proxy_authorization() in head.lower()
    assert b"bearer" not in head.lower()  # the key is for the API, inside the tunnel


async def test_a_working_proxy_receives_its_credentials() -> None:
    page = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
    async with raw_server(answer(page)) as (port, heads):
        # A plain-http request goes to the proxy itself, in absolute form.
        via_proxy = request("http://kernel.test/", proxy=proxy_url(port))
        transport = AiohttpTransport()
        response = await transport.send(via_proxy)
        await transport.aclose()
    assert (response.status, response.body) == (200, b"[]")
    (head,) = heads
    assert head.startswith(b"GET http://kernel.test/invocations ")
    assert expected_proxy_authorization() in head.lower()
    assert head.lower().count(b"proxy-authorization") == 1


async def test_a_proxy_without_credentials_gets_no_authorization() -> None:
    page = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"
    async with raw_server(answer(page)) as (port, heads):
        transport = AiohttpTransport()
        via_proxy = request("http://kernel.test/", proxy=URL(f"http://127.0.0.1:{port}"))
        assert (await transport.send(via_proxy)).status == 200
        await transport.aclose()
    assert b"proxy-authorization" not in heads[0].lower()


async def test_a_proxy_password_shows_nowhere_end_to_end(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(answer(refusal)) as (port, heads):
        monkeypatch.setenv("HTTPS_PROXY", str(proxy_url(port)))
        async with AsyncKernel(CANARY_KEY, base_url="https://kernel.test/", max_retries=0) as c:
            error = await list_page_error(c)
    assert isinstance(error, APIConnectionError)
    assert "407" in str(error)
    assert_no_secret_in(rendered(error))
    assert_no_secret_in(caplog.text)
    assert expected_proxy_authorization() in heads[0].lower()
