"""kernel-async: an asyncio-first Python SDK for the Kernel API.

>>> import kernel_async
>>> kernel_async.InvocationStatus.FAILED == "failed"
True
"""

from typing import TYPE_CHECKING

# Always in place, whichever part of the package is imported: every invocation built is
# checked by the converter (see kernel_async._models.install_invocation_decoder). It is light:
# no aiohttp, and cattrs only once a response fails validation.
from kernel_async import _convert as _convert
from kernel_async._lazy import load_on_first_use
from kernel_async._version import __version__

if TYPE_CHECKING:
    from kernel_async._client import DEFAULT_MAX_CONNECTIONS, AsyncKernel
    from kernel_async._config import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, Timeout
    from kernel_async._error_models import ErrorBody, ErrorDetail, ErrorResponse
    from kernel_async._errors import (
        APIConnectionError,
        APIError,
        APIResponseTooLargeError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ClientClosedError,
        ConflictError,
        ContinuityError,
        InternalServerError,
        KernelError,
        MissingAPIKeyError,
        NotFoundError,
        PaginationError,
        PermissionDeniedError,
        RateLimitError,
        UnprocessableEntityError,
        WrongEventLoopError,
    )
    from kernel_async._invocations import DEFAULT_PREFETCH, DEFAULT_WALK_PAGE_SIZE, Invocations
    from kernel_async._listing import InvocationListing
    from kernel_async._models import (
        Invocation,
        InvocationStatus,
        JSONValue,
        Page,
    )
    from kernel_async._pages import AsyncInvocationPage, PageInfo
    from kernel_async._params import Since
    from kernel_async._resume import ResumeToken
    from kernel_async._retry import RetryPolicy
    from kernel_async._walk_records import WalkStats
    from kernel_async._watch import FailureStream, InvocationWatch
    from kernel_async._watch_state import DEFAULT_FINAL_STATUSES, EventKind, InvocationEvent
    from kernel_async._window import DEFAULT_MAX_PREFETCH

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_FINAL_STATUSES",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_PREFETCH",
    "DEFAULT_PREFETCH",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WALK_PAGE_SIZE",
    "APIConnectionError",
    "APIError",
    "APIResponseTooLargeError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncInvocationPage",
    "AsyncKernel",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "ContinuityError",
    "ErrorBody",
    "ErrorDetail",
    "ErrorResponse",
    "EventKind",
    "FailureStream",
    "InternalServerError",
    "Invocation",
    "InvocationEvent",
    "InvocationListing",
    "InvocationStatus",
    "InvocationWatch",
    "Invocations",
    "JSONValue",
    "KernelError",
    "MissingAPIKeyError",
    "NotFoundError",
    "Page",
    "PageInfo",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResumeToken",
    "RetryPolicy",
    "Since",
    "Timeout",
    "UnprocessableEntityError",
    "WalkStats",
    "WrongEventLoopError",
    "__version__",
]


# Where each public name is defined (the modules of the TYPE_CHECKING block above).
_HOMES: dict[str, tuple[str, ...]] = {
    "_client": ("DEFAULT_MAX_CONNECTIONS", "AsyncKernel"),
    "_config": ("DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "Timeout"),
    "_error_models": ("ErrorBody", "ErrorDetail", "ErrorResponse"),
    "_errors": (
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
    ),
    "_invocations": ("DEFAULT_PREFETCH", "DEFAULT_WALK_PAGE_SIZE", "Invocations"),
    "_listing": ("InvocationListing",),
    "_models": ("Invocation", "InvocationStatus", "JSONValue", "Page"),
    "_pages": ("AsyncInvocationPage", "PageInfo"),
    "_params": ("Since",),
    "_resume": ("ResumeToken",),
    "_retry": ("RetryPolicy",),
    "_walk_records": ("WalkStats",),
    "_watch": ("FailureStream", "InvocationWatch"),
    "_watch_state": ("DEFAULT_FINAL_STATUSES", "EventKind", "InvocationEvent"),
    "_window": ("DEFAULT_MAX_PREFETCH",),
}


# Each public name loads the first time it is used, from the module that defines it: the
# command line starts without importing aiohttp and the client (``kernel-async --help``), and
# ``from kernel_async import AsyncKernel`` loads the client and what it needs, not the watch
# (``client.invocations.watch()`` loads it when called).
__getattr__, __dir__ = load_on_first_use(globals(), _HOMES)

del TYPE_CHECKING, load_on_first_use
