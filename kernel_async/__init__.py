"""kernel-async: an asyncio-first Python SDK for the Kernel API.

>>> import kernel_async
>>> kernel_async.InvocationStatus.FAILED == "failed"
True
"""

from kernel_async._client import DEFAULT_MAX_CONNECTIONS, AsyncKernel
from kernel_async._config import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, Timeout
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
    ErrorResponse,
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
    ErrorBody,
    ErrorDetail,
    Invocation,
    InvocationStatus,
    JSONValue,
    Page,
)
from kernel_async._pages import AsyncInvocationPage, PageInfo
from kernel_async._params import Since
from kernel_async._resume import ResumeToken
from kernel_async._retry import RetryPolicy
from kernel_async._version import __version__
from kernel_async._walk import WalkStats
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
