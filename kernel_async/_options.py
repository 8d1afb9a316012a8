"""Per-call request options: ``timeout``, ``extra_headers``, ``extra_query``, ``extra_body``.

The official SDK takes these four keywords on every call; code written for it passes them to
``client.invocations.list()``. They are checked here, as plain functions of values, before
anything is sent, and travel with each request of the call (each page of a walk).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, TypeAlias

from kernel_async._config import Timeout
from kernel_async._params import is_unicode_text
from kernel_async._request_headers import check_headers

__all__ = ["NO_OPTIONS", "RESERVED_QUERY", "CallOptions", "QueryValue", "call_options"]

QueryValue: TypeAlias = str | int | float | bool
"""What an ``extra_query`` value may be; numbers and booleans are written as the official SDK
writes them (``True`` as ``true``)."""

RESERVED_QUERY: Final = frozenset(
    {
        "app_name",
        "version",
        "action_name",
        "deployment_id",
        "status",
        "since",
        "query",
        "limit",
        "offset",
    }
)
"""The parameters the SDK sets itself. In ``extra_query`` they would silently replace a filter
(and make a walk's resume token lie) or break pagination, which follows ``X-Next-Offset``."""


class CallOptions:
    """What one call adds to each of its requests, checked; read-only.

    A plain class, not an attrs one: it needs none of the generated methods, and attrs would
    generate them at import (start-up time).

    Attributes:
        timeout: The per-attempt limits for this call; ``None``: the client's.
        headers: Extra request headers; they replace the client's of the same name (in any
            case), as in the official SDK.
        query: Extra query parameters, as strings, sent after the SDK's own.
    """

    __slots__ = ("headers", "query", "timeout")

    def __init__(
        self,
        *,
        timeout: Timeout | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout: Final = timeout
        self.headers: Final[Mapping[str, str]] = {} if headers is None else headers
        self.query: Final[Mapping[str, str]] = {} if query is None else query

    def __repr__(self) -> str:
        # Not the headers: they may hold tokens.
        return f"CallOptions(timeout={self.timeout!r}, query={self.query!r})"


NO_OPTIONS: Final = CallOptions()
"""A call with nothing extra."""


def _query_text(label: str, text: str) -> str:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError(f"{label} must not contain control characters")
    if not is_unicode_text(text):
        # yarl would drop a lone surrogate silently: refused, never altered.
        raise ValueError(f"{label} is not valid text (bytes that are not UTF-8?)")
    return text


def _query_value(name: str, value: object) -> str:
    # The official SDK's query string writes booleans as true/false and numbers with str().
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"extra_query[{name!r}] must be a finite number, got {value!r}")
        return str(value)
    if isinstance(value, str):
        return _query_text(f"extra_query[{name!r}]", value)
    raise TypeError(
        f"extra_query[{name!r}] must be a str, int, float or bool, not {type(value).__name__}"
    )


def _check_query(extra_query: object) -> dict[str, str]:
    if not isinstance(extra_query, Mapping):
        raise TypeError(f"extra_query must be a mapping, not {type(extra_query).__name__}")
    query: dict[str, str] = {}
    for name, value in extra_query.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"extra_query keys must be non-empty str, not {name!r}")
        _query_text(f"extra_query key {name!r}", name)
        if name in RESERVED_QUERY:
            hint = (
                "the next page's offset comes from X-Next-Offset"
                if name == "offset"
                else "so that the walk and its resume token know it"
            )
            raise ValueError(
                f"extra_query may not set {name!r}, which the SDK sends itself: "
                f"pass {name}= instead ({hint})"
            )
        query[name] = _query_value(name, value)
    return query


def call_options(
    *,
    timeout: Timeout | float | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_query: Mapping[str, QueryValue] | None = None,
    extra_body: object = None,
) -> CallOptions:
    """Check the official SDK's per-call keywords.

    Args:
        timeout: A :class:`Timeout` or seconds for the whole attempt, per attempt of every
            request of the call; ``None``: the client's.
        extra_headers: Headers to add (``Authorization`` is set by ``api_key``, never here).
        extra_query: Query parameters to add, other than the ones the SDK sends itself.
        extra_body: Only ``None``: ``GET /invocations`` has no body (the official SDK drops
            one silently).

    Raises:
        TypeError, ValueError: an invalid option, named.
    """
    if extra_body is not None:
        raise TypeError(
            "extra_body must be None: GET /invocations has no body (the official SDK drops "
            "it without a word); send extra parameters with extra_query"
        )
    if timeout is None and extra_headers is None and extra_query is None:
        return NO_OPTIONS
    return CallOptions(
        timeout=None if timeout is None else Timeout.coerce(timeout),
        headers={}
        if extra_headers is None
        else check_headers(extra_headers, argument="extra_headers"),
        query={} if extra_query is None else _check_query(extra_query),
    )
