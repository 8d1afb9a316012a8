"""TLS: a failure no retry can fix is not retried, at the layer that knows it and end to end.

The server's certificate is ``tests/data/loopback-tls-cert.pem``, self-signed for 127.0.0.1
(valid until 2126; its key is a test fixture, trusted by nothing). A client that trusts it
(through a session of its own) walks the list over TLS; one that does not, and one that asks a
plain-http server for ``https://``, fails once, and neither the client nor a watch tries again.
"""

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from kernel_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncKernel,
    RetryPolicy,
    Timeout,
)
from kernel_async._cli_messages import error_line
from kernel_async._retry import decide_retry, worth_retrying
from kernel_async._tls import (
    CERTIFICATE_FAILED,
    CLIENT_CERTIFICATE_REFUSED,
    NOT_TLS,
    lasting_tls_failure,
    may_heal,
)
from kernel_async._transport import AiohttpTransport, RawRequest
from kernel_async.testing import KernelEmulator

DATA = Path(__file__).parent / "data"
CERT, KEY = DATA / "loopback-tls-cert.pem", DATA / "loopback-tls-key.pem"


def ssl_error(reason: str, kind: type[ssl.SSLError] = ssl.SSLError) -> ssl.SSLError:
    # As OpenSSL's are built: the reason is an attribute the ssl module sets.
    error = kind(1, f"[SSL: {reason}] {reason.lower().replace('_', ' ')}")
    error.reason = reason  # type: ignore[misc]
    return error


# -- The verdict: a pure function of the exception and what it reaches ----------------------


@pytest.mark.parametrize("reason", ["WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"])
def test_a_handshake_answered_in_plain_http_is_not_tls(reason: str) -> None:
    assert lasting_tls_failure(ssl_error(reason)) == NOT_TLS


def test_a_certificate_that_fails_verification_is_lasting() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    assert lasting_tls_failure(error) == CERTIFICATE_FAILED


@pytest.mark.parametrize(
    "error",
    [
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),  # cut short: the network's
        ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE"),
        ConnectionResetError(104, "Connection reset by peer"),
        OSError("no route"),
    ],
    ids=["eof", "handshake-alert", "reset", "oserror"],
)
def test_other_failures_may_be_the_networks(error: BaseException) -> None:
    assert lasting_tls_failure(error) is None


def test_the_ssl_error_is_found_where_aiohttp_and_the_transport_keep_it() -> None:
    # aiohttp holds the OSError as an attribute; the transport chains its error to aiohttp's.
    holder = SimpleNamespace(os_error=ssl_error("WRONG_VERSION_NUMBER"))
    held = aiohttp.ClientConnectorSSLError(holder, holder.os_error)  # type: ignore[arg-type]
    ours = APIConnectionError("GET x failed")
    ours.__cause__ = held
    assert lasting_tls_failure(ours) == NOT_TLS
    assert lasting_tls_failure(APIConnectionError("GET x failed")) is None


def test_a_lasting_tls_failure_is_not_retried_whatever_the_budget() -> None:
    lasting = APIConnectionError("GET x failed: certificate", retryable=False)
    decision = decide_retry(
        lasting,
        retries_done=0,
        policy=RetryPolicy(max_retries=5),
        now=0.0,
        time_left=None,
        random=0,
    )
    assert (decision.retry, decision.retryable) == (False, False)
    assert decision.reason == "a TLS failure is not retried"
    assert not worth_retrying(lasting)
    assert worth_retrying(APIConnectionError("reset"))  # the default: the network may heal
    assert APIConnectionError("reset").retryable


def test_a_timeout_is_retryable_unless_it_is_the_deadline() -> None:
    assert APITimeoutError("slow", limit="read").retryable
    assert APITimeoutError("slow", limit=None).retryable
    assert not APITimeoutError("late", limit="deadline").retryable


# -- The transport: it sets the verdict on the error it raises -------------------------------


@asynccontextmanager
async def tls_emulator() -> AsyncIterator[tuple[KernelEmulator, str]]:
    """The emulator's data, served over TLS with the test certificate: (emulator, https URL)."""
    async with KernelEmulator(count=30, seed=4) as emulator:

        async def forward(request: web.Request) -> web.Response:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    URL(emulator.url).join(URL(request.path_qs.lstrip("/"))),
                    headers={"Authorization": request.headers.get("Authorization", "")},
                ) as answer,
            ):
                body = await answer.read()
                headers = {k: v for k, v in answer.headers.items() if k.startswith("X-")}
                return web.Response(
                    body=body,
                    status=answer.status,
                    headers=headers,
                    content_type="application/json",
                )

        app = web.Application()
        app.router.add_get("/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(CERT, KEY)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        try:
            yield emulator, f"https://127.0.0.1:{runner.addresses[0][1]}/"
        finally:
            await runner.cleanup()


def counting_attempts() -> tuple[aiohttp.TraceConfig, list[str]]:
    started: list[str] = []
    config = aiohttp.TraceConfig()

    async def on_request_start(*_: object) -> None:
        started.append("GET")

    config.on_request_start.append(on_request_start)
    return config, started


async def send_once(url: str) -> APIConnectionError:
    transport = AiohttpTransport()
    try:
        request = RawRequest(
            url=URL(url) / "invocations",
            headers={"Authorization": "Bearer k"},
            timeout=Timeout(),
            max_response_bytes=1 << 20,
        )
        with pytest.raises(APIConnectionError) as caught:
            await transport.send(request)
        return caught.value
    finally:
        await transport.aclose()


async def test_the_transport_marks_an_untrusted_certificate_as_lasting() -> None:
    async with tls_emulator() as (_, url):
        error = await send_once(url)
    assert not error.retryable
    assert lasting_tls_failure(error) == CERTIFICATE_FAILED
    assert "certificate verify failed" in str(error)


async def test_the_transport_marks_https_to_plain_http_as_lasting() -> None:
    async with KernelEmulator(count=3) as emulator:
        error = await send_once(emulator.url.replace("http://", "https://"))
    assert not error.retryable
    assert lasting_tls_failure(error) == NOT_TLS


async def test_a_refused_connection_stays_retryable() -> None:
    async with KernelEmulator(count=3) as emulator:
        url = emulator.url
    error = await send_once(url)  # the emulator has stopped: nothing listens there now
    assert error.retryable
    assert lasting_tls_failure(error) is None


# -- End to end: one attempt, where a transient failure gets three ---------------------------


async def test_a_client_that_trusts_the_certificate_walks_over_tls() -> None:
    context = ssl.create_default_context(cafile=CERT)
    async with (
        tls_emulator() as (emulator, url),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        AsyncKernel(emulator.api_key, base_url=url, session=session) as client,
        client.invocations.list(limit=7) as listing,
    ):
        ids = [invocation.id async for invocation in listing]
    assert ids == [invocation["id"] for invocation in emulator.invocations]
    assert len(ids) == 30


@pytest.mark.parametrize("server", ["untrusted-certificate", "plain-http"])
async def test_a_lasting_tls_failure_is_tried_once_by_the_client(server: str) -> None:
    trace, started = counting_attempts()
    async with tls_emulator() as (emulator, tls_url):
        url = (
            tls_url if server == "untrusted-certificate" else emulator.url.replace("http", "https")
        )
        async with AsyncKernel(
            emulator.api_key, base_url=url, max_retries=4, trace_configs=[trace]
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.invocations.list_page()
            with pytest.raises(APIConnectionError):
                async with client.invocations.list() as listing:
                    await anext(listing)
    assert not caught.value.retryable
    assert started == ["GET", "GET"]  # one attempt each, of the 5 a transient failure gets


async def test_a_transient_failure_is_still_retried() -> None:
    # The counterpart: nothing listening is the network's, tried 1 + max_retries times.
    trace, started = counting_attempts()
    async with KernelEmulator(count=3) as emulator:
        url = emulator.url
    retry = RetryPolicy(max_retries=2, initial_delay=0.01)
    async with AsyncKernel("k", base_url=url, retry=retry, trace_configs=[trace]) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.invocations.list_page()
    assert caught.value.retryable
    assert started == ["GET"] * 3


async def test_a_watch_ends_on_a_lasting_tls_failure() -> None:
    async with KernelEmulator(count=3) as emulator:
        url = emulator.url.replace("http://", "https://")
        async with AsyncKernel(emulator.api_key, base_url=url) as client:
            with pytest.raises(APIConnectionError) as caught:
                async with asyncio.timeout(30), client.invocations.watch(since="1h") as watch:
                    await anext(watch)
    assert not caught.value.retryable


# -- Review: the verdict is the handshake's; a record spoilt after it may be the network's ---


@asynccontextmanager
async def tls_then_plain_bytes() -> AsyncIterator[tuple[str, list[str]]]:
    """A server that completes the TLS handshake, reads the request, then answers under the
    TLS layer in plain bytes, as a middlebox spoiling the stream would: (https URL, requests)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    served: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = writer.transport  # the socket's: what is written to it skips TLS
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await writer.start_tls(context)
            await reader.readuntil(b"\r\n\r\n")
            served.append("GET")
            raw.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/", served


async def test_a_record_spoilt_after_the_handshake_is_still_retried() -> None:
    # The server proved it speaks TLS by completing the handshake: a record that is not TLS
    # after it (WRONG_VERSION_NUMBER, as on a plain-http server) is the network's, and was
    # taken for "the server does not speak TLS": tried once, a watch ended, and the CLI told
    # the user to check that the URL starts with http://.
    retry = RetryPolicy(max_retries=2, initial_delay=0.01)
    context = ssl.create_default_context(cafile=CERT)
    trace, started = counting_attempts()
    async with (
        tls_then_plain_bytes() as (url, served),
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context), trace_configs=[trace]
        ) as session,
        AsyncKernel("k", base_url=url, session=session, retry=retry) as client,
    ):
        with pytest.raises(
            APIConnectionError, match=r"WRONG_VERSION_NUMBER|RECORD_LAYER"
        ) as caught:
            await client.invocations.list_page()
    assert caught.value.retryable
    assert started == ["GET"] * 3  # (aiohttp itself sends each again on a new connection)
    assert served
    assert "does not speak TLS" not in error_line(caught.value, base_url_from=url)


@contextlib.contextmanager
def asks_for_a_client_certificate() -> Iterator[tuple[str, list[str]]]:
    """A TLS 1.3 server that requires a client certificate, as OpenSSL serves it (the alert
    sent): (https URL, the handshakes it refused). Blocking sockets, in a thread."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    context.load_verify_locations(CERT)
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    refused: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            tls = context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
            with tls, contextlib.suppress(OSError):
                try:
                    tls.do_handshake()
                    tls.recv(1)
                except ssl.SSLError as error:
                    refused.append(str(error.reason))
                # The alert is out: end without a reset (what the client sent is read
                # first), which could discard the alert before the client reads it.
                tls.shutdown(socket.SHUT_WR)
                while tls.recv(1 << 16):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/", refused
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone would not)
        listener.close()
        thread.join()


async def test_a_server_that_requires_a_client_certificate_is_asked_once() -> None:
    # TLS 1.3 finishes the client's handshake before the server checks for a certificate:
    # its alert (TLSV13_ALERT_CERTIFICATE_REQUIRED) comes with the first read, and was
    # retried like a reset, and a watch waited it out forever. No retry sends one.
    context = ssl.create_default_context(cafile=CERT)
    trace, started = counting_attempts()
    with asks_for_a_client_certificate() as (url, refused):
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context), trace_configs=[trace]
            ) as session,
            AsyncKernel("k", base_url=url, session=session, max_retries=2) as client,
        ):
            with pytest.raises(APIConnectionError, match="CERTIFICATE_REQUIRED") as caught:
                await client.invocations.list_page()
    assert not caught.value.retryable
    assert started == ["GET"]
    assert refused


@pytest.mark.parametrize(
    "reason",
    ["TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE"],
)
def test_an_alert_about_the_clients_certificate_is_lasting_wherever_it_comes(reason: str) -> None:
    assert lasting_tls_failure(ssl_error(reason)) == CLIENT_CERTIFICATE_REFUSED
    assert not may_heal(ssl_error(reason), in_handshake=False)


def test_not_tls_is_the_handshakes_verdict_only() -> None:
    assert not may_heal(ssl_error("WRONG_VERSION_NUMBER"), in_handshake=True)
    assert may_heal(ssl_error("WRONG_VERSION_NUMBER"), in_handshake=False)
    certificate = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert not may_heal(certificate, in_handshake=True)
    assert may_heal(ConnectionResetError(104, "reset"), in_handshake=True)
