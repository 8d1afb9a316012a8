"""The sans-I/O core: turning a response (status, headers, body) into a Page or an error.

Nothing here touches a socket or an event loop, so all of it is tested with plain values.
The rules for the pagination headers are in docs/api-behaviour.md ("Pagination headers").
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from multidict import CIMultiDictProxy

from kernel_async._compiled import decode_page_compiled
from kernel_async._convert import (
    NonStandardNumber,
    StructureFailure,
    decode_error_body,
    decode_invocations,
    loads,
)
from kernel_async._error_models import ErrorResponse
from kernel_async._errors import (
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from kernel_async._headers import case_insensitive, readable
from kernel_async._models import Invocation, Page
from kernel_async._params import MAX_OFFSET

__all__ = [
    "PageHeaders",
    "body_excerpt",
    "interpret_page_response",
    "page_step",
    "parse_bool_header",
    "read_page_headers",
    "status_error",
]

_T = TypeVar("_T")

_PAGINATION_HEADERS: Final = ("X-Limit", "X-Offset", "X-Next-Offset", "X-Has-More")

# Go's strconv.ParseBool, which the service's own tooling uses. The official Python
# SDK reads "True" as false; we read what Go would.
_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})

_STATUS_ERRORS: Final[Mapping[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_EXCERPT_CHARS: Final = 200
_UTF8_DECODER: Final = codecs.getincrementaldecoder("utf-8")


class PageHeaders:
    """What one response's pagination headers say, after the consistency checks.

    Read-only by convention; a plain slotted class, built once per response.
    """

    __slots__ = ("anomalies", "has_more", "limit", "next_offset", "offset", "request_id")

    def __init__(
        self,
        *,
        has_more: bool,
        next_offset: int | None,
        limit: int | None,
        offset: int,
        request_id: str | None,
        anomalies: tuple[str, ...] = (),
    ) -> None:
        self.has_more = has_more
        self.next_offset = next_offset
        self.limit = limit
        self.offset = offset
        self.request_id = request_id
        self.anomalies = anomalies

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"PageHeaders({fields})"


def parse_bool_header(value: str) -> bool:
    """Parse a boolean header as Go's ``strconv.ParseBool`` does.

    Raises:
        ValueError: not one of Go's spellings of true or false.
    """
    text = value.strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _single(headers: CIMultiDictProxy[str], name: str, read: Callable[[str], _T]) -> _T | None:
    """A header the response may give once, as ``read`` reads it; ``None`` without it.

    The pagination headers are single values: a field repeated as several lines stands for
    its values joined by commas (RFC 9110 section 5.3), which none of them allows. A proxy
    that appends its own copy may disagree with the server; read first-come, the walk could
    end early or run on. The same value repeated says it once, however it is spelled
    (``true`` and ``True``, ``100`` and ``0100``): the values read are compared.

    Raises:
        ValueError: a value ``read`` refuses, or the header given more than once with
            values that read differently.
    """
    values = headers.getall(name, ())
    if not values:
        return None
    first = read(values[0])
    if any(read(other) != first for other in values[1:]):
        raise ValueError(f"{name} is given {len(values)} times, with different values")
    return first


def _read_int(name: str, raw: str) -> int | None:
    """A non-negative integer header's value; ``None`` for an empty one."""
    if raw.isdigit() and raw.isascii():
        return int(raw)  # what servers write: nothing to strip, nothing to refuse
    text = raw.strip()
    if not text:
        return None
    # int() would take "+5", " 5", "5_000" and other spellings no server writes.
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{name} is not a non-negative integer: {raw!r}")
    return int(text)


def _int_header(headers: CIMultiDictProxy[str], name: str) -> int | None:
    return _single(headers, name, lambda raw: _read_int(name, raw))


def _pagination_snapshot(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    # A repeated header shows every value, as RFC 9110 section 5.3 joins them.
    return {
        name: ", ".join(headers.getall(name)) for name in _PAGINATION_HEADERS if name in headers
    }


def read_page_headers(
    headers: Mapping[str, str], *, requested_offset: int, url: str | None = None
) -> PageHeaders:
    """Read and cross-check the pagination headers of a ``GET /invocations`` response.

    * ``X-Next-Offset`` is the absolute offset of the next page; it is used verbatim, never
      recomputed from the item count (the official SDK's skipped-pages bug before 0.67).
    * ``X-Has-More: false`` ends the walk; ``X-Next-Offset`` absent or ``0`` is the end sentinel.
      A missing ``X-Has-More`` with a forward ``X-Next-Offset`` is read as more (an anomaly,
      reported in :attr:`PageHeaders.anomalies`), since the last page carries both headers.
    * Contradictions raise :class:`PaginationError` instead of looking like the end: more pages
      but no next offset, a next offset that does not move forward (the repeat guard) or is
      past ``2**63 - 1`` (the server's int64), a non-integer header, an ``X-Offset`` other
      than the one requested, or a header given twice with different values.

    Header names are matched case-insensitively (RFC 9110 section 5.1), whatever mapping is
    passed in.
    """
    headers = case_insensitive(headers)
    request_id = headers.get("X-Request-Id")

    def fail(reason: str) -> PaginationError:
        return PaginationError(
            f"contradictory pagination headers at offset {requested_offset}: {reason}",
            headers=_pagination_snapshot(headers),
            offset=requested_offset,
            request_id=request_id,
            url=url,
        )

    try:
        said_has_more = _single(headers, "X-Has-More", parse_bool_header)
        # openapi.yaml: X-Has-More defaults to false when absent.
        has_more = bool(said_has_more)
        next_offset = _int_header(headers, "X-Next-Offset")
        limit = _int_header(headers, "X-Limit")
        echoed_offset = _int_header(headers, "X-Offset")
    except ValueError as exc:
        raise fail(str(exc)) from None

    anomalies: tuple[str, ...] = ()
    if said_has_more is None and next_offset:
        # The last page carries both X-Has-More: false and X-Next-Offset: 0, so a non-zero
        # X-Next-Offset without X-Has-More is a middle page whose X-Has-More got lost (a
        # proxy dropped it): follow it rather than end the walk early, and say so. One that
        # does not move forward is a contradiction like any other.
        if next_offset <= requested_offset:
            raise fail(
                f"X-Has-More is missing and X-Next-Offset {next_offset} does not move forward"
            )
        has_more = True
        anomalies = (f"X-Has-More is missing but X-Next-Offset is {next_offset}",)
    if echoed_offset is not None and echoed_offset != requested_offset:
        raise fail(f"X-Offset {echoed_offset} is not the offset requested")
    if limit == 0:
        raise fail("X-Limit is 0, so the walk could never move forward")
    if not has_more:
        # The last page: the service sends X-Next-Offset 0 here; any other value is moot.
        return PageHeaders(
            has_more=False,
            next_offset=None,
            limit=limit,
            offset=requested_offset,
            request_id=request_id,
        )
    if next_offset is None or next_offset == 0:
        raise fail("X-Has-More is true but X-Next-Offset is missing or 0")
    if next_offset <= requested_offset:
        raise fail(f"X-Next-Offset {next_offset} does not move forward")
    if next_offset > MAX_OFFSET:
        # The server reads offset into a Go int64: such a page could never be asked for.
        raise fail(f"X-Next-Offset {next_offset} is past 2**63 - 1, the largest offset")
    return PageHeaders(
        has_more=True,
        next_offset=next_offset,
        limit=limit,
        offset=requested_offset,
        request_id=request_id,
        anomalies=anomalies,
    )


def page_step(page: Page) -> int | None:
    """The page step the server really used: ``next_offset - offset``, else ``X-Limit``.

    Servers cap ``limit`` below what was asked, so the requested limit is no guide;
    ``X-Next-Offset`` is the truth the next page will be checked against, so it comes first.
    ``None`` on a last page that did not say.
    """
    if page.next_offset is not None:
        return page.next_offset - page.offset
    return page.limit


def body_excerpt(body: bytes) -> str:
    """The start of a body as one line of text, for error messages.

    At most 200 characters (not bytes), whitespace folded; an excerpt of a longer body ends
    with an ellipsis. A UTF-8 character is at most four bytes, so 201 characters fit in the
    bytes decoded; a character cut in half at the end of them is left out, not garbled.
    """
    window = body[: (_EXCERPT_CHARS + 1) * 4]
    complete = len(window) == len(body)
    text = " ".join(_UTF8_DECODER("replace").decode(window, final=complete).split())
    if len(text) > _EXCERPT_CHARS or (text and not complete):
        return text[: _EXCERPT_CHARS - 1] + "\u2026"
    return text


def status_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    reason: str | None = None,
    url: str | None = None,
) -> APIStatusError:
    """Build the typed error for a non-2xx response, whatever its body.

    A JSON Error body fills ``code``, ``message``, ``details`` and ``inner_error``; an HTML or
    plain-text body (a proxy's 502) still maps to the right class by status, with an excerpt.
    A 3xx's message says where it points (its ``Location``) instead of what its body says.
    The error keeps the headers with case-insensitive names.
    """
    headers = case_insensitive(headers)
    if status >= 500:
        cls: type[APIStatusError] = InternalServerError
    else:
        cls = _STATUS_ERRORS.get(status, APIStatusError)
    try:
        parsed: object = loads(body) if body else None
    except (ValueError, RecursionError):
        parsed = None
    error_body = decode_error_body(parsed)
    excerpt = body_excerpt(body)
    head = f"{status} {reason}" if reason else f"HTTP {status}"
    if 300 <= status < 400:
        # Deliberately never followed (see kernel_async._transport): where it points is
        # what tells a base URL that lacks a prefix, or uses http for https, from the rest.
        message = f"{head}: {_redirect(headers)}; redirects are not followed"
    elif error_body is not None:
        message = f"{head}: {error_body.code}: {error_body.message}"
    elif excerpt:
        message = f"{head}: {excerpt}"
    else:
        message = head
    return cls(
        # The reason phrase as aiohttp decoded it (bytes that are not UTF-8 left as lone
        # surrogates), and a JSON body's "\ud800" escapes, are text no UTF-8 log handler
        # can write: replaced (see _headers.readable).
        readable(message),
        status=status,
        body=error_body,
        body_excerpt=excerpt,
        headers=headers,
        request_id=headers.get("X-Request-Id"),
        url=url,
        content=body,
    )


def _redirect(headers: Mapping[str, str]) -> str:
    """Where a 3xx points, quoted as a repr (escaped) and cut as an excerpt is."""
    location = headers.get("Location")
    if not location:
        return "a redirect with no Location"
    if len(location) > _EXCERPT_CHARS:
        location = location[: _EXCERPT_CHARS - 1] + "\u2026"
    return f"redirected to {location!r}"


def _error_response(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str | None
) -> ErrorResponse:
    return ErrorResponse(status_code=status, headers=headers, content=body, url=url)


def interpret_page_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    offset: int,
    reason: str | None = None,
    url: str | None = None,
) -> Page:
    """Turn one ``GET /invocations`` response into a :class:`Page`, or raise its typed error.

    Raises:
        APIStatusError: a non-2xx status (the subclass for that status).
        APIResponseValidationError: a 2xx body that is not a JSON array of invocations.
        PaginationError: contradictory pagination headers.
    """
    headers = case_insensitive(headers)
    if not 200 <= status < 300:
        raise status_error(status, headers, body, reason=reason, url=url)
    request_id = headers.get("X-Request-Id")
    page_headers = read_page_headers(headers, requested_offset=offset, url=url)
    items = decode_page_compiled(body)
    if items is None:
        items = _decode_page(status, headers, body, request_id=request_id, url=url)
    return Page(
        items=items,
        offset=offset,
        limit=page_headers.limit,
        has_more=page_headers.has_more,
        next_offset=page_headers.next_offset,
        request_id=request_id,
        anomalies=page_headers.anomalies,
    )


def _decode_page(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    request_id: str | None,
    url: str | None,
) -> tuple[Invocation, ...]:
    """The standard path: JSON into dicts, then the strict structuring; errors typed."""
    try:
        data = loads(body)
    except NonStandardNumber as exc:
        # JSON with NaN or Infinity in it: a server bug that another attempt will not fix, so
        # not retried, whichever JSON decoder is installed.
        raise APIResponseValidationError(
            f"the response body is not JSON: {exc}",
            status=status,
            retryable=False,
            request_id=request_id,
            url=url,
        ) from None
    except (ValueError, RecursionError):
        what = "empty" if not body.strip() else f"not valid JSON: {body_excerpt(body)!r}"
        raise APIResponseValidationError(
            f"the response body is {what}",
            status=status,
            retryable=True,
            request_id=request_id,
            url=url,
            response=_error_response(status, headers, body, url=url),
        ) from None
    try:
        return decode_invocations(data)
    except StructureFailure as exc:
        raise APIResponseValidationError(
            f"invalid invocation list at {exc.path}: {exc.message}",
            path=exc.path,
            status=status,
            request_id=request_id,
            url=url,
            response=_error_response(status, headers, body, url=url),
        ) from None
