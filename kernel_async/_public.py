"""The package's public names, imported for real.

``kernel_async/__init__.py`` imports this module the first time one of its names is used (see
its ``__getattr__``), and re-exports them; its ``TYPE_CHECKING`` block names the same.
"""

# ruff: noqa: F401 - every import here is re-exported by kernel_async/__init__.py

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
from kernel_async._walk_records import WalkStats
from kernel_async._watch import FailureStream, InvocationWatch
from kernel_async._watch_state import DEFAULT_FINAL_STATUSES, EventKind, InvocationEvent
from kernel_async._window import DEFAULT_MAX_PREFETCH
