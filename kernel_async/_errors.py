"""Exceptions raised by kernel-async.

Every exception the library raises about the API derives from :class:`KernelError`, and the
names below ``APIError`` are the official ``kernel`` SDK's, so ``except`` clauses keep working
after a migration::

    KernelError
    ├── MissingAPIKeyError              no api_key given and KERNEL_API_KEY unset
    ├── ClientClosedError               the client was used after aclose()
    ├── WrongEventLoopError             the client was used from a second event loop
    └── APIError                        talking to the API went wrong
        ├── APIConnectionError          no usable response: refused, reset, body cut short
        │   └── APITimeoutError         a timeout fired before the response was complete
        ├── APIResponseValidationError  a 2xx body that is not what the spec promises
        ├── APIResponseTooLargeError    a body over max_response_bytes (never buffered)
        ├── PaginationError             pages that contradict each other
        │   └── ContinuityError         a walk that cannot prove it missed nothing (strict)
        └── APIStatusError              the server answered with a non-2xx status
            ├── BadRequestError           400
            ├── AuthenticationError       401
            ├── PermissionDeniedError     403
            ├── NotFoundError             404
            ├── ConflictError             409
            ├── UnprocessableEntityError  422
            ├── RateLimitError            429
            └── InternalServerError       500 and above

Invalid arguments are programming errors, not API errors: they raise :class:`ValueError` or
:class:`TypeError` naming the parameter, before any request is sent.

No exception carries the API key: messages are built from the response, never from the
request's headers, and transport exceptions whose text could hold request headers are not
chained (aiohttp's ``ClientResponseError`` repr includes them). A response that echoes the key
back is masked by the client before an error is built from it, and every error is masked
again before it is logged or raised (``kernel_async._redact``).

This module imports nothing else of the package but the header helper and the models an
error carries (``_error_models``): every other module may import it. Those models load with
it, not when an error is first built, so that ``typing.get_type_hints()`` resolves the
annotations below at run time (runtime type checkers call it).
"""

from __future__ import annotations

from collections.abc import Mapping

from kernel_async._error_models import ErrorBody, ErrorDetail, ErrorResponse
from kernel_async._headers import case_insensitive

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseTooLargeError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "ContinuityError",
    "InternalServerError",
    "KernelError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "WrongEventLoopError",
]


class KernelError(Exception):
    """Base class of every exception kernel-async raises on purpose."""


class MissingAPIKeyError(KernelError):
    """No API key: none was given and ``KERNEL_API_KEY`` is unset, or the key is empty."""


class ClientClosedError(KernelError):
    """The client (or a listing) was used after it was closed, or closed during a call."""


class WrongEventLoopError(KernelError, RuntimeError):
    """The client was used from an event loop other than the one it belongs to.

    A client belongs to the loop of its first request (its aiohttp session cannot move
    between loops). Nothing was sent. Create one client per loop: one per ``asyncio.run()``
    or thread, and in pytest a fixture with the same loop scope as the tests that use it.
    """


class APIError(KernelError):
    """Something went wrong while talking to the Kernel API.

    Attributes:
        message: What went wrong, in one line.
        request_id: The server's ``X-Request-Id`` for the response, when there was one.
        url: The URL that was requested (it never holds credentials).
    """

    message: str
    request_id: str | None
    url: str | None

    def __init__(self, message: str, *, request_id: str | None = None, url: str | None = None):
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.url = url

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message


class APIConnectionError(APIError):
    """No usable response arrived: the connection failed, was reset or the body was cut short.

    Attributes:
        retryable: Whether another attempt may fare better: true, except for a TLS failure
            that no retry fixes: the server's certificate fails verification, the server
            does not speak TLS at all (``https://`` for a plain-http URL), or it requires a
            client certificate it accepts. Those are not retried, and end a watch.
    """

    retryable: bool

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        url: str | None = None,
        retryable: bool = True,
    ):
        super().__init__(message, request_id=request_id, url=url)
        self.retryable = retryable


class APITimeoutError(APIConnectionError):
    """A time limit fired before the response was complete.

    Attributes:
        limit: Which one: ``"connect"``, ``"read"`` (no data for too long), ``"total"`` (one
            attempt took too long), ``"deadline"`` (the call's or the walk's overall deadline;
            never retried), or ``None`` when aiohttp did not say.
    """

    limit: str | None

    def __init__(
        self,
        message: str,
        *,
        limit: str | None = None,
        request_id: str | None = None,
        url: str | None = None,
    ):
        # The call's own deadline has passed: no attempt after it can succeed.
        super().__init__(message, request_id=request_id, url=url, retryable=limit != "deadline")
        self.limit = limit


class APIResponseValidationError(APIError):
    """A successful response whose body does not match the API's schema.

    Attributes:
        path: A JSON path to the offending value, such as ``$[3].started_at`` (``$`` for the
            whole body).
        status: The HTTP status of the response (``status_code`` is the same).
        retryable: Whether another attempt may fare better: true for a body that is not JSON
            at all (empty, cut short, a proxy's page), false for JSON of the wrong shape.
        response: The response, when the error came from one (not from
            :meth:`Invocation.from_dict`).
    """

    path: str
    status: int | None
    retryable: bool
    response: ErrorResponse | None

    def __init__(
        self,
        message: str,
        *,
        path: str = "$",
        status: int | None = None,
        retryable: bool = False,
        request_id: str | None = None,
        url: str | None = None,
        response: ErrorResponse | None = None,
    ):
        super().__init__(message, request_id=request_id, url=url)
        self.path = path
        self.status = status
        self.retryable = retryable
        self.response = response

    @property
    def status_code(self) -> int | None:
        """The HTTP status, as the official SDK names it (the same as :attr:`status`)."""
        return self.status


class APIResponseTooLargeError(APIError):
    """A response body larger than the client's ``max_response_bytes``; it was not buffered.

    Attributes:
        max_bytes: The limit that was exceeded.
    """

    max_bytes: int

    def __init__(
        self,
        message: str,
        *,
        max_bytes: int,
        request_id: str | None = None,
        url: str | None = None,
    ):
        super().__init__(message, request_id=request_id, url=url)
        self.max_bytes = max_bytes


class PaginationError(APIError):
    """Pages that contradict each other, such as more pages but no next offset.

    Also raised by a walk whose server would keep it going forever: empty pages that say
    there is more, or the first page served again at later offsets (a proxy that ignores
    ``offset``).

    Attributes:
        headers: The pagination headers of the offending response (names case-insensitive).
        offset: The offset that was requested.
    """

    headers: Mapping[str, str]
    offset: int | None

    def __init__(
        self,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        offset: int | None = None,
        request_id: str | None = None,
        url: str | None = None,
    ):
        super().__init__(message, request_id=request_id, url=url)
        self.headers = case_insensitive(headers)
        self.offset = offset


class ContinuityError(PaginationError):
    """A walk could not prove that it missed nothing at a page boundary.

    Raised only by walks with ``strict=True``; other walks count such boundaries in
    ``listing.stats.possible_gaps`` and go on. It happens when a page cannot overlap its
    predecessor (a server that serves one item per page), when the server's order is not
    newest first, or when the data moved so far between two fetches that the walk could not
    find its place again. The listing's ``resume_token`` says where the walk stood.
    """


class APIStatusError(APIError):
    """The server answered with a status that is not a success.

    Attributes:
        status: The HTTP status code, for example ``404`` (``status_code`` is the same).
        response: The response: status, headers, raw body and request id, as the official
            SDK's ``exc.response`` offers them (see :class:`ErrorResponse`).
        code: The machine-readable ``code`` of the Error body, when the body had one.
        details: The Error body's ``details``, typed.
        inner_error: The Error body's ``inner_error``, typed, or ``None``.
        body: The parsed Error body, or ``None`` when the body was not a JSON Error object
            (an HTML page from a proxy, for instance).
        body_excerpt: The start of the raw body, whitespace folded, at most 200 characters.
        headers: The response headers, read-only; names are case-insensitive
            (``headers["retry-after"]`` finds ``Retry-After``).
    """

    status: int
    body: ErrorBody | None
    body_excerpt: str
    response: ErrorResponse

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: ErrorBody | None = None,
        body_excerpt: str = "",
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        url: str | None = None,
        content: bytes = b"",
    ):
        super().__init__(message, request_id=request_id, url=url)
        self.status = status
        self.body = body
        self.body_excerpt = body_excerpt
        self.response = ErrorResponse(status_code=status, headers=headers, content=content, url=url)

    @property
    def status_code(self) -> int:
        """The HTTP status, as the official SDK names it (the same as :attr:`status`)."""
        return self.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers, read-only; lookups ignore case."""
        return self.response.headers

    @property
    def code(self) -> str | None:
        """The Error body's machine-readable code, such as ``bad_request``."""
        return self.body.code if self.body is not None else None

    @property
    def details(self) -> tuple[ErrorDetail, ...]:
        """The Error body's details (empty when there were none)."""
        return self.body.details if self.body is not None else ()

    @property
    def inner_error(self) -> ErrorDetail | None:
        """The Error body's inner error, when it had one."""
        return self.body.inner_error if self.body is not None else None


class BadRequestError(APIStatusError):
    """400: the server rejected the request's parameters."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the API key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such resource."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: too many requests; slow down (see ``Retry-After`` in :attr:`headers`)."""


class InternalServerError(APIStatusError):
    """500 and above: the server (or a proxy in front of it) failed."""
