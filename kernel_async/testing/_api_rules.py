"""The Kernel API's rules for ``GET /invocations``, as the emulator applies them.

How the server reads a query (``limit``, ``offset``, ``status`` and ``since``, parsed as the
Go server parses them, with a 400 for what it refuses) and how it lays out a page (the JSON
array and its pagination headers), as functions of values with no I/O. The emulator
(``_emulator``) applies them to its data; the filters themselves are the store's
(``_store``), the Go parsers ``_gotime``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Final

from kernel_async._models import InvocationStatus
from kernel_async._params import MAX_LIMIT
from kernel_async._timestamps import rfc3339_to_epoch_ns
from kernel_async.testing import _gotime as gotime
from kernel_async.testing._faults import Answer
from kernel_async.testing._store import Record

__all__ = ["DEFAULT_LIMIT", "BadRequest", "page_answer", "page_params", "query_int", "since_ns"]

DEFAULT_LIMIT: Final = 20  # openapi.yaml: limit default
_STATUSES: Final = frozenset(s.value for s in InvocationStatus)


def query_int(value: str | None) -> int | None:
    """``value`` as an int when it is ASCII digits only (so never negative), else ``None``."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


class BadRequest(Exception):
    """A query the API refuses: a 400 whose Error body says ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def since_ns(since: str, now: Callable[[], datetime]) -> int:
    """``since`` in epoch nanoseconds: an RFC 3339 time, or a duration before ``now()``.

    Raises:
        BadRequest: neither, as the Go server parses them.
    """
    # Go's own parsers, not the client's (see _gotime): the emulator must catch a client
    # that sends what the server would refuse.
    try:
        return gotime.parse_rfc3339(since)
    except gotime.GoParseError:
        pass
    try:
        duration_ns = gotime.parse_duration(since)
    except gotime.GoParseError:
        raise BadRequest(
            f"invalid since {since!r}: want an RFC 3339 time or a duration like 5m"
        ) from None
    return rfc3339_to_epoch_ns(now().isoformat()) - duration_ns


def page_params(query: Mapping[str, str], limit_cap: int | None) -> tuple[int, int, int]:
    """The ``limit`` asked, the limit applied (at most ``limit_cap``), and the ``offset``.

    Raises:
        BadRequest: a ``limit``, ``offset`` or ``status`` the API refuses.
    """
    raw_limit, raw_offset = query.get("limit"), query.get("offset")
    limit = DEFAULT_LIMIT if raw_limit in (None, "") else query_int(raw_limit)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer between 1 and {MAX_LIMIT}")
    offset = 0 if raw_offset in (None, "") else query_int(raw_offset)
    if offset is None:
        raise BadRequest("offset must be an integer >= 0")
    status = query.get("status")
    if status and status not in _STATUSES:
        raise BadRequest(f"status must be one of {', '.join(sorted(_STATUSES))}")
    applied = min(limit, limit_cap) if limit_cap is not None else limit
    return limit, applied, offset


def page_answer(matches: Sequence[Record], offset: int, limit: int, request_id: str) -> Answer:
    """The 200 for the page of ``matches`` at ``offset``, ``limit`` long, with its headers."""
    end = offset + limit
    has_more = end < len(matches)
    body = b"[" + b",".join(r.encoded for r in matches[offset:end]) + b"]"
    headers = {
        "Content-Type": "application/json",
        "X-Limit": str(limit),
        "X-Offset": str(offset),
        # The next page's absolute offset; on the last page 0, together with false.
        "X-Next-Offset": str(end if has_more else 0),
        "X-Has-More": "true" if has_more else "false",
        "X-Request-Id": request_id,
    }
    return Answer(200, headers, body)
