"""The API key is unreachable from any exception, repr, traceback or log line.

Every kind of failure is provoked for real, over loopback, with a canary key; then the whole
exception graph (``__cause__``, ``__context__``, group members), every exception's str, repr,
args, notes and attributes, the formatted traceback, and the DEBUG logs of ``kernel_async`` and
``aiohttp`` are searched for it.
"""

import asyncio
import json
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from yarl import URL

from kernel_async import (
    APIConnectionError,
    APIResponseTooLargeError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncKernel,
    AuthenticationError,
    ClientClosedError,
    InternalServerError,
    KernelError,
    PaginationError,
    RateLimitError,
    RetryPolicy,
    Timeout,
    WrongEventLoopError,
)
from kernel_async._redact import mask_body, mask_error, mask_text, shows_key
from kernel_async._transport import RawRequest, RawResponse
from kernel_async.testing import KernelEmulator, ScriptedResponse, make_invocation

from conftest import CANARY_KEY, LoopbackServer, exception_graph, until

FAST = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.002)
TINY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002, max_retry_after=1)

Respond = Callable[[asyncio.StreamWriter], Awaitable[None]]


def everything_printable(error: BaseException) -> str:
    """All an exception shows, and all it can reach: the text a secret must not be in."""
    parts = ["".join(traceback.format_exception(error))]
    for exc in exception_graph(error):
        parts += [str(exc), repr(exc), repr(exc.args), repr(getattr(exc, "__notes__", None))]
        for name in dir(exc):
            if name.startswith("__") or name == "with_traceback":
                continue
            value = getattr(exc, name, None)
            if not callable(value):
                parts.append(f"{name}={value!r}")
    return "\n".join(parts)


@asynccontextmanager
async def raw_server(respond: Respond) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 that reads one request and answers with ``respond``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await respond(writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def malformed(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n[]")
    await writer.drain()


async def reset(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


async def from_raw_server(respond: Respond) -> KernelError:
    async with (
        raw_server(respond) as url,
        AsyncKernel(CANARY_KEY, base_url=url, retry=FAST) as client,
    ):
        with pytest.raises(KernelError) as caught:
            await client.invocations.list_page()
    return caught.value


async def scripted(response: ScriptedResponse, **client_options: object) -> KernelError:
    async with KernelEmulator(count=3, api_key=CANARY_KEY) as emulator:
        emulator.script(response, response)
        async with emulator.client(retry=FAST, **client_options) as client:
            with pytest.raises(KernelError) as caught:
                await client.invocations.list_page()
    return caught.value


async def unauthorized() -> KernelError:
    async with (
        KernelEmulator(count=3, api_key="the-servers-key") as emulator,
        AsyncKernel(CANARY_KEY, base_url=emulator.url, retry=FAST) as client,
    ):
        with pytest.raises(KernelError) as caught:
            await client.invocations.list_page()
    return caught.value


async def refused(port: int) -> KernelError:
    async with AsyncKernel(CANARY_KEY, base_url=f"http://127.0.0.1:{port}/", retry=FAST) as c:
        with pytest.raises(KernelError) as caught:
            await c.invocations.list_page()
    return caught.value


async def timed_out() -> KernelError:
    async with (
        KernelEmulator(count=1, latency=2.0, api_key=CANARY_KEY) as slow,
        slow.client(timeout=Timeout(total=0.1), retry=FAST) as client,
    ):
        with pytest.raises(KernelError) as caught:
            await client.invocations.list_page()
    return caught.value


async def closed_during_the_request() -> KernelError:
    async with KernelEmulator(count=1, latency=5.0, api_key=CANARY_KEY) as slow:
        client = slow.client(retry=FAST)
        call = asyncio.create_task(client.invocations.list_page())
        await until(lambda: slow.requests)
        await client.aclose()
        with pytest.raises(KernelError) as caught:
            await call
    return caught.value


async def from_another_loop() -> KernelError:
    async with (
        KernelEmulator(count=1, api_key=CANARY_KEY) as emulator,
        emulator.client() as client,
    ):
        await client.invocations.list_page()

        def elsewhere() -> KernelError:
            with pytest.raises(KernelError) as caught:
                asyncio.run(client.invocations.list_page())
            return caught.value

        return await asyncio.to_thread(elsewhere)


KINDS = {
    "malformed-response": (APIConnectionError, lambda port: from_raw_server(malformed)),
    "connection-reset": (APIConnectionError, lambda port: from_raw_server(reset)),
    "connection-refused": (APIConnectionError, refused),
    "401": (AuthenticationError, lambda port: unauthorized()),
    "5xx": (
        InternalServerError,
        lambda port: scripted(ScriptedResponse(status=502, body=b"<html>bad gateway</html>")),
    ),
    "bad-json": (
        APIResponseValidationError,
        lambda port: scripted(ScriptedResponse(body=b"[{]", headers={"X-Has-More": "false"})),
    ),
    "contradictory-headers": (
        PaginationError,
        lambda port: scripted(ScriptedResponse(body=b"[]", headers={"X-Has-More": "true"})),
    ),
    "redirect": (
        APIStatusError,
        lambda port: scripted(
            ScriptedResponse(status=302, headers={"Location": f"http://127.0.0.1:{port}/"})
        ),
    ),
    "too-large": (
        APIResponseTooLargeError,
        lambda port: scripted(ScriptedResponse(body=b"[]" + b" " * 4000), max_response_bytes=100),
    ),
    "timeout": (APITimeoutError, lambda port: timed_out()),
    "closed": (ClientClosedError, lambda port: closed_during_the_request()),
    "wrong-loop": (WrongEventLoopError, lambda port: from_another_loop()),
}


@pytest.mark.parametrize("kind", KINDS)
async def test_no_error_reaches_the_key(
    kind: str, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("kernel_async", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    expected, provoke = KINDS[kind]
    error = await provoke(unused_tcp_port)
    assert isinstance(error, expected), repr(error)
    assert not any(hasattr(exc, "request_info") for exc in exception_graph(error))
    assert CANARY_KEY not in everything_printable(error)
    # As pytest -l, Sentry or rich render it: with the local variables of every frame.
    with_locals = traceback.TracebackException.from_exception(error, capture_locals=True)
    assert CANARY_KEY not in "".join(with_locals.format())
    assert CANARY_KEY not in caplog.text


async def test_no_repr_of_the_client_shows_the_key(emulator: KernelEmulator) -> None:
    client = emulator.client()
    try:
        for text in (repr(client), str(client), repr(client._config), repr(client.invocations)):
            assert CANARY_KEY not in text
    finally:
        await client.aclose()


def test_the_repr_of_a_request_shows_neither_the_key_nor_proxy_credentials() -> None:
    request = RawRequest(
        url=URL("http://127.0.0.1:1/invocations?limit=5"),
        headers={"Authorization": f"Bearer {CANARY_KEY}"},
        timeout=Timeout(),
        max_response_bytes=1 << 20,
        proxy=URL(f"http://user:{CANARY_KEY}@127.0.0.1:3128"),
    )
    text = repr(request)
    assert CANARY_KEY not in text
    assert "limit=5" in text  # the rest is there, for debugging
    response = RawResponse(status=200, reason="OK", headers={}, body=b"[]", url="u")
    assert repr(response) == "RawResponse(status=200, url='u', body=<2 bytes>)"


def test_a_rejected_key_is_not_echoed() -> None:
    bad = CANARY_KEY + "\r\nX-Injected: 1"
    with pytest.raises(ValueError, match="control characters") as caught:
        AsyncKernel(bad)
    assert CANARY_KEY not in everything_printable(caught.value)


def test_a_key_that_is_not_valid_text_is_refused_and_not_echoed() -> None:
    # "k\ud800" would have gone out as "Bearer k": the surrogate is dropped on encoding.
    with pytest.raises(ValueError, match="api_key is not valid text") as caught:
        AsyncKernel(CANARY_KEY + "\ud800")
    assert CANARY_KEY not in everything_printable(caught.value)


def test_a_base_url_password_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="user or password") as caught:
        AsyncKernel("k", base_url=f"https://user:{CANARY_KEY}@api.example.test/")
    assert CANARY_KEY not in everything_printable(caught.value)


# -- a server that echoes the key back -----------------------------------------------------------
#
# A server, proxy or WAF may quote the request's Authorization header in what it answers. The
# client masks the key (as ``***``) in everything it builds from such a response.

BEARER = f"Bearer {CANARY_KEY}"
MASKED = "Bearer ***"


async def echo_the_authorization(request: web.Request) -> web.StreamResponse:
    """Quote the Authorization header in the reason phrase, X-Request-Id and the Error body."""
    auth = request.headers["Authorization"]
    status = int(request.query["answer"])
    return web.json_response(
        {"code": "echo", "message": f"rejected {auth} here"},
        status=status,
        reason=f"Echo {auth}",
        headers={"X-Request-Id": f"req-{auth}", "Retry-After": "0"},
    )


def shown_by(error: BaseException) -> str:
    """What a user or a log handler gets to see of an error: str, repr and notes."""
    notes = getattr(error, "__notes__", [])
    return "\n".join([str(error), repr(error), *notes, "".join(traceback.format_exception(error))])


@pytest.mark.parametrize(
    ("status", "expected", "retries"),
    [(401, AuthenticationError, 0), (429, RateLimitError, 2), (500, InternalServerError, 2)],
)
async def test_a_key_echoed_by_the_server_is_masked_in_errors_and_logs(
    status: int, expected: type[APIStatusError], retries: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("kernel_async", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with (
        LoopbackServer(echo_the_authorization) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=TINY) as client,
    ):
        with pytest.raises(expected) as caught:
            await client.invocations.list_page(extra_query={"answer": status})
    error = caught.value
    assert server.received == retries + 1  # the server did see the key, and echoed it
    # The message keeps its structure; only the key is replaced.
    assert str(error) == (
        f"{status} Echo {MASKED}: echo: rejected {MASKED} here (request id req-{MASKED})"
    )
    assert error.request_id == f"req-{MASKED}"
    assert error.code == "echo"
    assert error.status == status
    # The response's own data is masked too (docs/security.md says so).
    assert error.body is not None
    assert error.body.message == f"rejected {MASKED} here"
    assert error.response.headers["X-Request-Id"] == f"req-{MASKED}"
    assert CANARY_KEY.encode() not in error.response.content
    assert CANARY_KEY not in shown_by(error)
    assert CANARY_KEY not in everything_printable(error)
    records = [r.getMessage() for r in caplog.records]
    assert all(CANARY_KEY not in message for message in records)
    assert CANARY_KEY not in caplog.text
    retried = [m for m in records if "; retry " in m]
    assert len(retried) == retries
    assert all(f"request id req-{MASKED}" in m for m in retried)
    assert sum(f"(request id req-{MASKED}, retry" in m for m in records) == retries + 1


async def test_a_redirect_that_echoes_the_key_in_its_location_is_masked() -> None:
    """A 3xx's message names its Location, which may quote the key (a login page's URL)."""

    async def redirect(request: web.Request) -> web.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return web.Response(status=302, headers={"Location": f"/login?token={token}"})

    async with (
        LoopbackServer(redirect) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=TINY) as client,
    ):
        with pytest.raises(APIStatusError) as caught:
            await client.invocations.list_page()
    error = caught.value
    assert (
        error.message == "302 Found: redirected to '/login?token=***'; redirects are not followed"
    )
    assert CANARY_KEY not in everything_printable(error)


async def test_a_page_keeps_its_data_but_not_an_echoed_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kernel_async")
    item = make_invocation(id="inv_1", output=f"the app printed {CANARY_KEY}")

    async def page(request: web.Request) -> web.Response:
        return web.json_response(
            [item],
            headers={"X-Request-Id": f"req-{request.headers['Authorization']}"},
        )

    async with (
        LoopbackServer(page) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=TINY) as client,
    ):
        got = await client.invocations.list_page()
    assert got.request_id == f"req-{MASKED}"
    assert got[0].output == f"the app printed {CANARY_KEY}"  # data, as the server sent it
    assert CANARY_KEY not in caplog.text


async def test_a_2xx_body_that_echoes_the_key_and_is_no_page_is_masked() -> None:
    async def not_a_page(request: web.Request) -> web.Response:
        return web.Response(text=f"<html>denied: {request.headers['Authorization']}</html>")

    async with (
        LoopbackServer(not_a_page) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=TINY) as client,
    ):
        with pytest.raises(APIResponseValidationError) as caught:
            await client.invocations.list_page()
    error = caught.value
    assert f"<html>denied: {MASKED}</html>" in str(error)
    assert CANARY_KEY not in everything_printable(error)
    # The first error, built from the body as sent, is not linked to the one raised.
    assert [e for e in exception_graph(error) if isinstance(e, KernelError)] == [error]


async def test_a_malformed_response_that_echoes_the_key_is_masked() -> None:
    # aiohttp's parser error quotes the offending line, which the connection error repeats.
    async def bad_status_line(writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 2xx {BEARER}\r\nContent-Length: 2\r\n\r\n[]".encode())
        await writer.drain()

    error = await from_raw_server(bad_status_line)
    assert isinstance(error, APIConnectionError)
    assert f"2xx {MASKED}" in str(error)
    assert CANARY_KEY not in everything_printable(error)


def escaped_echo(auth: str) -> bytes:
    """An Error body quoting ``auth`` as a JSON encoder may: its characters as \\u escapes."""
    first = f"\\u{ord(auth[0]):04x}" + auth[1:]  # "\u0042earer sk-..."
    every = "".join(f"\\u{ord(char):04X}" for char in auth)
    quoted = "%20".join(auth.split(" "))  # as a URL in the body would hold it
    return (
        '{"code": "echo", "message": "rejected ' + first + ' here",\n'
        ' "details": [{"code": "k", "message": "' + every + '"},'
        ' {"code": "plain", "message": "caf\\u00e9 \u00e9"}],\n'
        ' "inner_error": {"code": "u", "message": "see https://x.test/?q=' + quoted + '"},\n'
        ' "echo": {"' + first + '": [1.50, null, "' + every + '"]}}'
    ).encode()


@pytest.mark.parametrize("status", [401, 500])
async def test_a_key_echoed_in_json_escapes_is_masked_in_the_errors_body(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Audit r12: "\u0073k-..." in a JSON string is the key once decoded; exc.body and
    # exc.response.json() showed it although the raw bytes and the message did not.
    caplog.set_level(logging.DEBUG, logger="kernel_async")

    async def echo(request: web.Request) -> web.Response:
        body = escaped_echo(request.headers["Authorization"])
        return web.Response(status=status, body=body, content_type="application/json")

    async with (
        LoopbackServer(echo) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=FAST) as client,
    ):
        with pytest.raises(APIStatusError) as caught:
            await client.invocations.list_page()
    error = caught.value
    assert error.body is not None
    assert error.message.endswith(f"echo: rejected {MASKED} here")
    assert error.body.message == f"rejected {MASKED} here"
    assert [(d.code, d.message) for d in error.details] == [
        ("k", MASKED),
        ("plain", "caf\u00e9 \u00e9"),
    ]
    assert error.inner_error is not None
    assert error.inner_error.message == "see https://x.test/?q=Bearer%20***"
    # The response's body says the same, decoded or not: the rest of it as the server sent it.
    assert error.response.json() == {
        "code": "echo",
        "message": f"rejected {MASKED} here",
        "details": [
            {"code": "k", "message": MASKED},
            {"code": "plain", "message": "caf\u00e9 \u00e9"},
        ],
        "inner_error": {"code": "u", "message": "see https://x.test/?q=Bearer%20***"},
        "echo": {MASKED: [1.5, None, MASKED]},
    }
    assert json.loads(error.response.text) == error.response.json()
    assert b"[1.50, null, " in error.response.content
    for text in (error.response.text, error.body_excerpt, repr(error.body), caplog.text):
        assert not shows_key(text, CANARY_KEY)
    assert CANARY_KEY not in everything_printable(error)


async def test_a_2xx_body_echoing_an_escaped_key_is_masked_in_the_errors_response() -> None:
    async def not_a_page(request: web.Request) -> web.Response:
        return web.Response(body=escaped_echo(request.headers["Authorization"]))

    async with (
        LoopbackServer(not_a_page) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=FAST) as client,
    ):
        with pytest.raises(APIResponseValidationError) as caught:
            await client.invocations.list_page()
    response = caught.value.response
    assert response is not None
    assert response.json()["details"][0] == {"code": "k", "message": MASKED}
    assert CANARY_KEY not in json.dumps(response.json(), ensure_ascii=False)
    assert not shows_key(response.text, CANARY_KEY)
    assert CANARY_KEY not in everything_printable(caught.value)


# -- masking, as plain values ----------------------------------------------------------------------


def test_masking_replaces_the_key_in_every_spelling_and_nothing_else() -> None:
    assert mask_text(f"a {BEARER} b {CANARY_KEY}", CANARY_KEY) == f"a {MASKED} b ***"
    assert mask_text("nothing here", CANARY_KEY) == "nothing here"
    assert mask_text("x", "") == "x"
    assert mask_text("401 Unauthorized: e", "e") == "401 Unauthorized: e"  # too short to mask
    quoted = 'key"with\\quotes'  # as a JSON string holds it: key\"with\\quotes
    assert mask_text(json.dumps({"m": quoted}), quoted) == '{"m": "***"}'
    assert mask_body(json.dumps({"m": quoted}).encode(), quoted) == b'{"m": "***"}'
    assert mask_body(f"\u00e9 {CANARY_KEY}".encode(), CANARY_KEY) == "\u00e9 ***".encode()
    accented = "cl\u00e9-secr\u00e8te"  # JSON may write it escaped (ASCII) or as it is
    assert mask_text(json.dumps({"m": accented}), accented) == '{"m": "***"}'
    assert mask_text(json.dumps({"m": accented}, ensure_ascii=False), accented) == '{"m": "***"}'


def test_a_masked_error_keeps_its_structure_and_drops_a_chain_that_shows_the_key() -> None:
    error = APIConnectionError(f"GET u failed: {BEARER}", request_id=f"id-{CANARY_KEY}")
    error.add_note(f"note {CANARY_KEY}")
    error.__cause__ = OSError(f"reset by {CANARY_KEY}")
    mask_error(error, CANARY_KEY)
    assert str(error) == f"GET u failed: {MASKED} (request id id-***)"
    assert error.args == (f"GET u failed: {MASKED}",)
    assert error.__notes__ == ["note ***"]
    assert error.__cause__ is None
    assert error.__suppress_context__
    kept = APIConnectionError("GET u failed")
    kept.__cause__ = OSError("reset")
    mask_error(kept, CANARY_KEY)
    assert isinstance(kept.__cause__, OSError)


def test_a_refused_construction_renders_with_its_locals_without_the_key() -> None:
    # A traceback rendered with its local variables shows the half-built client (`self`)
    # and the arguments: its repr must not fail there, and the key must not show.
    with pytest.raises(ValueError, match="base_url") as caught:
        AsyncKernel(api_key=CANARY_KEY, base_url="http://127.0.0.1:99999/")
    rendered = "".join(
        traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
    )
    assert "<AsyncKernel (not constructed)>" in rendered


@pytest.mark.parametrize("key", ["e", "1", "0", "true"])
async def test_a_short_key_changes_nothing_the_client_reads_or_says(key: str) -> None:
    # A key shorter than 8 characters is not masked: as a substring it would match ordinary
    # text ("X-Has-More", "true", "401", offsets) and garble what the client reads (audit r4:
    # with key "e", "X-Has-More" became "X-Has-Mor***" and the walk stopped after a page).
    items = [make_invocation(id=f"inv_{n}") for n in range(30)]

    async def pages(request: web.Request) -> web.Response:
        if request.headers["Authorization"] != f"Bearer {key}":
            return web.json_response(
                {"code": "unauthorized", "message": "bad key"},
                status=401,
                headers={"X-Request-Id": "req_401"},
            )
        offset = int(request.query.get("offset", "0"))
        more = offset + 10 < len(items)
        headers = {"X-Has-More": str(more).lower(), "X-Request-Id": f"req_{offset}"}
        if more:
            headers["X-Next-Offset"] = str(offset + 10)
        return web.json_response(items[offset : offset + 10], headers=headers)

    async with LoopbackServer(pages) as server:
        async with AsyncKernel(key, base_url=server.url, retry=TINY) as client:
            got = [i.id async for i in client.invocations.list(limit=10, prefetch=1)]
        async with AsyncKernel("other-key-1234", base_url=server.url, retry=TINY) as other:
            with pytest.raises(AuthenticationError) as caught:
                await other.invocations.list_page()
    assert got == [item["id"] for item in items]
    assert (caught.value.code, caught.value.request_id) == ("unauthorized", "req_401")
    assert str(caught.value).startswith("401 ")


# -- a server that echoes part of the key ----------------------------------------------------------
#
# Servers, proxies and WAFs often quote only the start of a bad token, and aiohttp cuts what it
# quotes of a malformed line at about 100 bytes: every run of 8 characters of the key is masked.


def runs_of_the_key(text: str, key: str = CANARY_KEY) -> list[str]:
    """The runs of 8 characters of ``key`` that ``text`` holds (found without _redact)."""
    return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]


CUT = len("Bearer ") + 16  # a quote of the header's first characters: 16 of the key's
CUT_MASKED = "Bearer ***..."


async def echo_the_authorization_cut(request: web.Request) -> web.StreamResponse:
    """Quote the start of the Authorization header, in the reason, X-Request-Id and the body."""
    quoted = request.headers["Authorization"][:CUT] + "..."
    return web.json_response(
        {"code": "unauthorized", "message": f"invalid token {quoted}"},
        status=int(request.query["answer"]),
        reason=f"Bad {quoted}",
        headers={"X-Request-Id": f"req-{quoted}", "Retry-After": "0"},
    )


@pytest.mark.parametrize(
    ("status", "expected", "retries"),
    [(401, AuthenticationError, 0), (429, RateLimitError, 2), (500, InternalServerError, 2)],
)
async def test_a_key_echoed_in_part_is_masked_in_errors_and_logs(
    status: int, expected: type[APIStatusError], retries: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Review r11: "invalid token Bearer sk-SECRET123-0123456789abcdef0123..." was shown as is.
    caplog.set_level(logging.DEBUG)
    async with (
        LoopbackServer(echo_the_authorization_cut) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=TINY) as client,
    ):
        with pytest.raises(expected) as caught:
            await client.invocations.list_page(extra_query={"answer": status})
    error = caught.value
    assert server.received == retries + 1
    assert str(error) == (
        f"{status} Bad {CUT_MASKED}: unauthorized: invalid token {CUT_MASKED} "
        f"(request id req-{CUT_MASKED})"
    )
    assert error.body is not None
    assert error.body.message == f"invalid token {CUT_MASKED}"
    assert error.request_id == error.response.headers["X-Request-Id"] == f"req-{CUT_MASKED}"
    assert error.response.json()["message"] == f"invalid token {CUT_MASKED}"
    assert runs_of_the_key(everything_printable(error)) == []
    assert runs_of_the_key(error.response.content.decode()) == []
    assert runs_of_the_key(caplog.text) == []
    assert sum(f"request id req-{CUT_MASKED}" in r.getMessage() for r in caplog.records) == (
        2 * retries + 1  # a debug line per response, an info line per retry
    )


async def test_a_page_whose_request_id_echoes_part_of_the_key_is_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kernel_async")
    item = make_invocation(id="inv_1", output=f"the app printed {CANARY_KEY[:12]}")

    async def page(request: web.Request) -> web.Response:
        quoted = request.headers["Authorization"][:CUT]
        return web.json_response([item], headers={"X-Request-Id": f"req-{quoted}..."})

    async with (
        LoopbackServer(page) as server,
        AsyncKernel(CANARY_KEY, base_url=server.url, retry=TINY) as client,
    ):
        got = await client.invocations.list_page()
    assert got.request_id == f"req-{CUT_MASKED}"
    assert got[0].output == f"the app printed {CANARY_KEY[:12]}"  # data, as the server sent it
    assert f"request id req-{CUT_MASKED}" in caplog.text
    assert runs_of_the_key(caplog.text) == []


LONG_KEY = "sk-long-" + "".join(f"{n:03d}q" for n in range(40))  # 168 characters, no repeats
"""A key longer than the 100 bytes aiohttp quotes of a line it refuses."""


async def test_a_request_line_too_long_for_the_server_is_masked_as_aiohttp_quotes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The emulator's aiohttp answers a header over 8190 bytes with a 400 quoting its first
    # 100 (review r11, with a key of 10 KB); this server allows 120, which the key is over.
    caplog.set_level(logging.DEBUG, logger="kernel_async")

    async def page(request: web.Request) -> web.Response:
        return web.json_response([])  # never reached: aiohttp refuses the request first

    app = web.Application()
    app.router.add_get("/invocations", page)
    runner = web.AppRunner(app, access_log=None, max_field_size=120)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        async with AsyncKernel(LONG_KEY, base_url=url, retry=FAST) as client:
            with pytest.raises(APIStatusError) as caught:
                await client.invocations.list_page()
    finally:
        await runner.cleanup()
    error = caught.value
    assert error.status == 400
    assert "Got more than 120 bytes when reading: b'Bearer ***...'" in str(error)
    assert runs_of_the_key(everything_printable(error), LONG_KEY) == []
    assert runs_of_the_key(error.response.content.decode(), LONG_KEY) == []
    # The server logs what it refused, key and all: that is its log, not the client's.
    client_log = [r.getMessage() for r in caplog.records if r.name != "aiohttp.server"]
    assert any("-> 400" in line for line in client_log)
    assert runs_of_the_key("\n".join(client_log), LONG_KEY) == []


async def test_a_response_line_too_long_for_aiohttp_is_masked_as_it_quotes_it() -> None:
    # docs/security.md: "a malformed response that aiohttp's error quotes". aiohttp quotes the
    # first 100 bytes of a header line over its limit: never the whole key.
    async def too_long(writer: asyncio.StreamWriter) -> None:
        echo = f"Bearer {LONG_KEY}" + "x" * 9000
        writer.write(f"HTTP/1.1 200 OK\r\nX-Echo: {echo}\r\nContent-Length: 2\r\n\r\n[]".encode())
        await writer.drain()

    async with (
        raw_server(too_long) as url,
        AsyncKernel(LONG_KEY, base_url=url, retry=FAST) as client,
    ):
        with pytest.raises(APIConnectionError) as caught:
            await client.invocations.list_page()
    assert "b'Bearer ***...'" in str(caught.value)
    assert runs_of_the_key(everything_printable(caught.value), LONG_KEY) == []


async def test_the_cli_masks_a_key_too_long_for_the_server_as_aiohttp_quotes_it() -> None:
    # Review r11: with a key over 8 KB the emulator's aiohttp answers 400 quoting the first 100
    # bytes of the header, and the CLI printed them. Run as a person runs it, on a terminal.
    from terminal import run_in_terminal

    key = "sk-" + "".join(f"{n:04d}q" for n in range(1700))  # 8,503 characters
    async with KernelEmulator(count=3) as emulator:
        env = {"KERNEL_API_KEY": key, "KERNEL_BASE_URL": emulator.url}
        session = await asyncio.to_thread(
            run_in_terminal, "invocations", "list", "--retries", "0", columns=200, env=env
        )
    assert session.status == 1, session.text
    assert "BadRequestError: 400 Bad Request: Got more than 8190 bytes" in session.text
    assert "b'Bearer ***...'" in session.text
    assert runs_of_the_key(session.raw, key) == []
