"""Header values, reason phrases and error bodies with text that is not UTF-8 become valid text.

aiohttp decodes them with ``surrogateescape``: the bytes become lone surrogates, which no UTF-8
writer accepts. Copied into a request id, a message or a log line, they broke logging
("--- Logging error ---") and ``str(exc).encode("utf-8")`` (audit r12). They are read as
U+FFFD, as ``bytes.decode(errors="replace")`` reads them. So is a JSON escape of a lone
surrogate (``"\\ud800"``) in an error body, which the standard JSON decoder keeps as it is.
"""

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from kernel_async import (
    APIResponseTooLargeError,
    AsyncKernel,
    BadRequestError,
    ErrorBody,
    ErrorDetail,
    InternalServerError,
    PaginationError,
    RetryPolicy,
)
from kernel_async._convert import decode_error_body, make_loads
from kernel_async._headers import case_insensitive, readable, request_id
from kernel_async._protocol import interpret_page_response, status_error

FAST = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.002)
UNDECODABLE = "r\udcff\udcfe1"  # what aiohttp makes of the bytes r, 0xFF, 0xFE, 1
SHOWN = "r\ufffd\ufffd1"
LAST_PAGE = {"X-Has-More": "false"}


def encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- as plain values -----------------------------------------------------------------------------


def test_readable_replaces_each_lone_surrogate_and_keeps_the_rest() -> None:
    assert readable(UNDECODABLE) == SHOWN
    assert readable("caf\u00e9 \U0001f511 \ud800") == "caf\u00e9 \U0001f511 \ufffd"
    for text in ("req-1", "caf\u00e9", ""):
        assert readable(text) is text


def test_headers_read_case_insensitively_are_valid_text() -> None:
    raw = CIMultiDictProxy(CIMultiDict({"X-Request-Id": UNDECODABLE, "X-Other": "ok"}))
    headers = case_insensitive(raw)
    assert headers["x-request-id"] == SHOWN
    assert headers["X-Other"] == "ok"
    clean = CIMultiDictProxy(CIMultiDict({"X-Request-Id": "r1"}))
    assert case_insensitive(clean) is clean  # nothing to replace: not copied
    assert request_id({"x-request-id": UNDECODABLE}) == SHOWN
    assert request_id({}) is None


def test_errors_and_pages_built_from_such_a_response_are_valid_text() -> None:
    headers = {"X-Request-Id": UNDECODABLE, **LAST_PAGE}
    error = status_error(500, headers, b"", reason="Oops\udcff")
    assert (error.request_id, error.message) == (SHOWN, "500 Oops\ufffd")
    assert error.headers["X-Request-Id"] == error.response.request_id == SHOWN
    assert encodes(str(error))
    # A JSON escape of a lone surrogate is the same text once decoded.
    escaped = status_error(400, {}, b'{"code": "c", "message": "a\\ud800b"}')
    assert encodes(str(escaped))
    page = interpret_page_response(200, headers, b"[]", offset=0)
    assert page.request_id == SHOWN
    with pytest.raises(PaginationError) as caught:
        interpret_page_response(
            200, {"X-Request-Id": UNDECODABLE, "X-Has-More": "x"}, b"[]", offset=0
        )
    assert encodes(str(caught.value))


# An Error body whose every text holds an escaped lone surrogate, as a server may write one.
SURROGATE_BODY = (
    b'{"code": "c\\ud800", "message": "a\\udc00b \\ud83d\\ude00",'
    b' "details": [{"code": "\\udfff", "message": "d\\ud800"}],'
    b' "inner_error": {"code": "i", "message": "\\udbff!"}}'
)
SURROGATE_BODY_SHOWN = ErrorBody(
    code="c\ufffd",
    message="a\ufffdb \U0001f600",  # a valid pair is one character, kept
    details=(ErrorDetail(code="\ufffd", message="d\ufffd"),),
    inner_error=ErrorDetail(code="i", message="\ufffd!"),
)


def test_an_error_body_with_escaped_lone_surrogates_decodes_to_valid_text() -> None:
    # Decoded by the standard library, the escapes are lone surrogates; orjson refuses them, and
    # so leaves them to it too.
    data = make_loads(None)(SURROGATE_BODY)
    assert data["code"] == "c\ud800"
    assert decode_error_body(data) == SURROGATE_BODY_SHOWN
    # A body that is only partly an Error body keeps its code and message: valid text too.
    assert decode_error_body({"code": "\ud800", "message": "m\udfff", "details": 3}) == ErrorBody(
        code="\ufffd", message="m\ufffd"
    )
    clean = {"code": "c", "message": "caf\u00e9", "details": [{"code": None}]}
    assert decode_error_body(clean) == ErrorBody(
        code="c", message="caf\u00e9", details=(ErrorDetail(),)
    )
    error = status_error(400, {}, SURROGATE_BODY)
    assert error.body == SURROGATE_BODY_SHOWN
    assert (error.code, error.inner_error) == ("c\ufffd", SURROGATE_BODY_SHOWN.inner_error)
    assert encodes(repr(error.body))
    assert encodes(repr(error.details))


# -- over a real connection ----------------------------------------------------------------------


@asynccontextmanager
async def raw_server(head: bytes, body: bytes) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 answering every request with these bytes, as they are."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


class Utf8Handler(logging.StreamHandler[io.TextIOWrapper]):
    """Writes records as UTF-8, as a log file does; counts the records it failed to write."""

    def __init__(self) -> None:
        super().__init__(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
        self.failed = 0
        self.written = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.written += 1
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed += 1


@pytest.fixture
def utf8_log() -> Iterator[Utf8Handler]:
    handler = Utf8Handler()
    logger = logging.getLogger("kernel_async")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
        handler.stream.close()


async def test_an_undecodable_request_id_and_reason_reach_no_error_or_log_line_as_is(
    utf8_log: Utf8Handler,
) -> None:
    head = b"HTTP/1.1 500 Oops\xff\r\nX-Request-Id: r\xff\xfe1\r\n"
    async with (
        raw_server(head, b"[]") as url,
        AsyncKernel("sk-key-of-the-test", base_url=url, retry=FAST) as client,
    ):
        with pytest.raises(InternalServerError) as caught:
            await client.invocations.list_page()
    error = caught.value
    assert error.request_id == error.response.request_id == error.headers["X-Request-Id"] == SHOWN
    assert str(error) == f"500 Oops\ufffd: [] (request id {SHOWN})"
    assert encodes(str(error))
    assert encodes(repr(error))
    assert utf8_log.written >= 3  # each attempt, the retry, the end
    assert utf8_log.failed == 0


async def test_a_page_and_a_refused_body_carry_a_readable_request_id(
    utf8_log: Utf8Handler,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Has-More: false\r\nX-Request-Id: r\xff\xfe1\r\n"
    async with raw_server(head, b"[]") as url:
        async with AsyncKernel("sk-key-of-the-test", base_url=url, retry=FAST) as client:
            page = await client.invocations.list_page()
        assert page.request_id == SHOWN
        small = AsyncKernel("sk-key-of-the-test", base_url=url, max_response_bytes=1)
        async with small:
            with pytest.raises(APIResponseTooLargeError) as caught:  # refused by the transport
                await small.invocations.list_page()
    assert caught.value.request_id == SHOWN
    assert encodes(str(caught.value))
    assert utf8_log.failed == 0


async def test_an_error_body_with_escaped_lone_surrogates_can_be_logged(
    utf8_log: Utf8Handler,
) -> None:
    head = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
    async with (
        raw_server(head, SURROGATE_BODY) as url,
        AsyncKernel("sk-key-of-the-test", base_url=url, retry=FAST) as client,
    ):
        with pytest.raises(BadRequestError) as caught:
            await client.invocations.list_page()
    error = caught.value
    assert error.body == SURROGATE_BODY_SHOWN
    assert str(error) == "400 Bad Request: c\ufffd: a\ufffdb \U0001f600"
    for text in (str(error.body), repr(error.details), str(error.inner_error), str(error)):
        assert encodes(text)
    logging.getLogger("kernel_async").error("failed: %s %s", error.body, error.details)
    assert utf8_log.failed == 0
