"""Validating and encoding the query of ``GET /invocations``, as plain functions of values.

Everything here runs before a request is sent, so bad input raises :class:`ValueError` or
:class:`TypeError` naming the parameter and nothing reaches the network.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from kernel_async._models import InvocationStatus
from kernel_async._timestamps import (
    format_go_duration,
    format_rfc3339,
    is_go_duration,
    is_go_rfc3339,
)

__all__ = [
    "DEFAULT_WALK_PAGE_SIZE",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "InvocationFilters",
    "Since",
    "build_query",
    "validate_deadline",
    "validate_limit",
    "validate_max_items",
    "validate_max_retries",
    "validate_offset",
    "validate_prefetch",
]

MAX_LIMIT: Final = 100
"""The largest page the API serves (``openapi.yaml``: ``limit`` maximum)."""

DEFAULT_WALK_PAGE_SIZE: Final = MAX_LIMIT
"""The page size of walks (listings and watches): at the server default of 20, a walk makes
five times the requests."""

MAX_OFFSET: Final = 2**63 - 1
"""The largest offset the server can read: it parses ``offset`` into a Go ``int64``."""

Since = datetime | timedelta | str
"""What ``since`` accepts: an aware datetime, a non-negative timedelta, or a string that is an
RFC 3339 timestamp or a Go duration such as ``5m`` or ``1h30m``."""


def is_unicode_text(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8: no lone surrogate in it.

    Python holds bytes that are not UTF-8 in ``sys.argv`` and ``os.environ`` as lone surrogates
    (U+DC80 to U+DCFF, PEP 383). They cannot be sent: yarl's URL encoder drops them silently (a
    filter on such a value would become no filter at all), and a header would go out without
    them. So such a value is refused, never altered.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty; pass None to leave the filter out")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{name} must not contain control characters: {value!r}")
    if not is_unicode_text(value):
        raise ValueError(
            f"{name} is not valid text (bytes that are not UTF-8, from the command line or "
            f"the environment?), so it cannot be sent as given: {value!r}"
        )
    return value


def _check_int(name: str, value: object) -> int:
    # bool is a subclass of int, but limit=True is a bug, not a page size of one.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def validate_limit(limit: object) -> int:
    """Check a page size: an int from 1 to 100 (``openapi.yaml``)."""
    value = _check_int("limit", limit)
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def validate_offset(offset: object) -> int:
    """Check an offset: an int from 0 (``openapi.yaml``) to :data:`MAX_OFFSET`."""
    value = _check_int("offset", offset)
    if not 0 <= value <= MAX_OFFSET:
        raise ValueError(f"offset must be between 0 and {MAX_OFFSET} (2**63 - 1), got {value}")
    return value


def validate_prefetch(prefetch: object, *, connection_limit: int, name: str = "prefetch") -> int:
    """Check a walk's prefetch (or ``max_prefetch``): an int from 1 to the connection limit.

    More pages in flight than connections would only queue inside the pool.
    """
    value = _check_int(name, prefetch)
    if not 1 <= value <= connection_limit:
        raise ValueError(
            f"{name} must be between 1 and the client's connection_limit "
            f"({connection_limit}), got {value}; raise AsyncKernel(max_connections=...) first"
        )
    return value


def validate_max_items(max_items: object) -> int | None:
    """Check a walk's ``max_items``: ``None`` (no limit) or an int >= 0."""
    if max_items is None:
        return None
    value = _check_int("max_items", max_items)
    if value < 0:
        raise ValueError(f"max_items must be >= 0, got {value}")
    return value


def validate_max_retries(max_retries: object) -> int | None:
    """Check a per-call ``max_retries``: ``None`` (the client's) or an int >= 0."""
    if max_retries is None:
        return None
    value = _check_int("max_retries", max_retries)
    if value < 0:
        raise ValueError(f"max_retries must be >= 0, got {value}")
    return value


def validate_deadline(deadline: object) -> float | None:
    """Check a deadline: ``None`` (none) or a number of seconds > 0."""
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, int | float):
        raise TypeError(f"deadline must be a number of seconds, not {type(deadline).__name__}")
    try:
        seconds = float(deadline)
    except OverflowError:  # an int past the largest float, such as 10**400
        seconds = float("inf")
    if not 0 < seconds < float("inf"):
        raise ValueError(f"deadline must be a finite number of seconds > 0, got {deadline!r}")
    return seconds


def _encode_status(status: object) -> str:
    if isinstance(status, InvocationStatus):
        return status.value
    text = _check_text("status", status)
    if text not in InvocationStatus._value2member_map_:
        valid = ", ".join(s.value for s in InvocationStatus)
        raise ValueError(f"status must be one of {valid}; got {text!r}")
    return text


def _encode_since(since: object) -> str:
    # The API takes an RFC 3339 timestamp or a Go-style duration (docs/api-behaviour.md),
    # which the server reads with Go's time.Parse(time.RFC3339, ...) and time.ParseDuration.
    if isinstance(since, datetime):
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError(
                "since must be timezone-aware; a naive datetime is ambiguous "
                "(use datetime.now(UTC) or attach a tzinfo)"
            )
        try:
            return format_rfc3339(since)
        except OverflowError:  # datetime(1, 1, 1) at UTC+5 is before year 1 in UTC
            raise ValueError(f"since is out of range in UTC: {since!r}") from None
    if isinstance(since, timedelta):
        if since < timedelta(0):
            raise ValueError(f"since must not be a negative timedelta, got {since!r}")
        try:
            return format_go_duration(since)
        except ValueError as exc:
            raise ValueError(f"since: {exc}") from None
    text = _check_text("since", since)
    if is_go_duration(text) or is_go_rfc3339(text):
        return text
    if text.startswith("-") and is_go_duration(text[1:]):
        # Go would read it, as a time after now: the list would be empty, and say nothing.
        raise ValueError(
            f"since must not be a negative duration (it would be a time in the future), "
            f"got {text!r}; {text[1:]!r} lists what started in the last {text[1:]}"
        )
    raise ValueError(
        "since must be an RFC 3339 timestamp (2025-06-20T12:00:00Z) or a Go duration "
        f"(5m, 1h30m, 90s) of at most 2562047h; got {text!r}"
    )


_FILTER_NAMES: Final = (
    "app_name",
    "version",
    "action_name",
    "deployment_id",
    "status",
    "since",
    "query",
)
"""The filters' query parameters, in the order of the query string (as build_query sends them)."""


class InvocationFilters:
    """The filters of ``GET /invocations``, validated and encoded for the wire; read-only.

    Build it with :meth:`create`, which checks every value; the fields hold wire strings.
    Equal when the same filters are set. A plain class, not an attrs one: attrs would generate
    its methods at import (start-up time).
    """

    __slots__ = (
        "action_name",
        "app_name",
        "deployment_id",
        "query",
        "since",
        "status",
        "version",
    )

    def __init__(
        self,
        *,
        app_name: str | None = None,
        version: str | None = None,
        action_name: str | None = None,
        deployment_id: str | None = None,
        status: str | None = None,
        since: str | None = None,
        query: str | None = None,
    ) -> None:
        self.app_name: Final = app_name
        self.version: Final = version
        self.action_name: Final = action_name
        self.deployment_id: Final = deployment_id
        self.status: Final = status
        self.since: Final = since
        self.query: Final = query

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InvocationFilters):
            return NotImplemented
        return self.as_query() == other.as_query()

    def __hash__(self) -> int:
        return hash(tuple(self.as_query().items()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.as_query().items())
        return f"InvocationFilters({shown})"

    @classmethod
    def create(
        cls,
        *,
        app_name: str | None = None,
        version: str | None = None,
        action_name: str | None = None,
        deployment_id: str | None = None,
        status: InvocationStatus | str | None = None,
        since: Since | None = None,
        query: str | None = None,
    ) -> InvocationFilters:
        """Validate the filters; ``None`` leaves a filter out.

        Raises:
            TypeError: a filter has the wrong type.
            ValueError: a filter's value is invalid (empty, control characters, text that is
                not valid Unicode, unknown status, naive datetime, negative timedelta,
                malformed or out-of-range ``since``).
        """
        return cls(
            app_name=None if app_name is None else _check_text("app_name", app_name),
            version=None if version is None else _check_text("version", version),
            action_name=None if action_name is None else _check_text("action_name", action_name),
            deployment_id=(
                None if deployment_id is None else _check_text("deployment_id", deployment_id)
            ),
            status=None if status is None else _encode_status(status),
            since=None if since is None else _encode_since(since),
            query=None if query is None else _check_text("query", query),
        )

    def as_query(self) -> dict[str, str]:
        """The filters that are set, by their query parameter names."""
        return {name: value for name in _FILTER_NAMES if (value := getattr(self, name)) is not None}


def build_query(filters: InvocationFilters, *, limit: int | None, offset: int) -> dict[str, str]:
    """The query string of one page request, in a stable order.

    ``limit=None`` leaves the page size to the server (20 by default).
    """
    params = {
        name: value
        for name, value in (
            ("app_name", filters.app_name),
            ("version", filters.version),
            ("action_name", filters.action_name),
            ("deployment_id", filters.deployment_id),
            ("status", filters.status),
            ("since", filters.since),
            ("query", filters.query),
        )
        if value is not None
    }
    if limit is not None:
        params["limit"] = str(limit)
    params["offset"] = str(offset)
    return params
