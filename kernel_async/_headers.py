"""Response headers read as HTTP reads them: names case-insensitive, values valid text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["case_insensitive", "readable", "request_id"]

REPLACEMENT: Final = "\ufffd"
"""What a byte that is not UTF-8 becomes, as ``bytes.decode(errors="replace")`` writes it."""

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _is_readable(text: str) -> bool:
    return text.isascii() or _SURROGATE.search(text) is None


def readable(text: str) -> str:
    """``text`` that encodes as UTF-8: each lone surrogate replaced by U+FFFD.

    aiohttp decodes a header value, and the reason phrase, as UTF-8 with ``surrogateescape``
    (RFC 9110 section 5.5 lets a field hold any byte but controls): a byte that is not UTF-8
    becomes a lone surrogate, which ``str.encode("utf-8")`` refuses. Copied into a message,
    a log line or an attribute, it breaks every handler that writes UTF-8: logging prints
    ``--- Logging error ---`` instead of the line.
    """
    return text if _is_readable(text) else _SURROGATE.sub(REPLACEMENT, text)


def case_insensitive(headers: Mapping[str, str] | None) -> CIMultiDictProxy[str]:
    """``headers`` read-only, with lookups that ignore case, as HTTP field names do.

    RFC 9110 section 5.1: field names are case-insensitive. Go writes ``Retry-After-Ms``,
    proxies may write ``retry-after``; a plain dict would see neither under the other spelling.
    Every repeated field is kept; ``get`` returns the first. Names and values are
    :func:`readable`. A ``CIMultiDictProxy`` (aiohttp's response headers) whose text is
    readable already comes back as it is; anything else is copied.
    """
    if isinstance(headers, CIMultiDictProxy) and all(
        _is_readable(name) and _is_readable(value) for name, value in headers.items()
    ):
        return headers
    pairs = (headers or {}).items()
    return CIMultiDictProxy(CIMultiDict((readable(name), readable(value)) for name, value in pairs))


def request_id(headers: Mapping[str, str]) -> str | None:
    """The response's ``X-Request-Id``, in any case, :func:`readable`; ``None`` without one."""
    return case_insensitive(headers).get("X-Request-Id")
