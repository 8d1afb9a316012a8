"""Response headers read as HTTP reads them: names case-insensitive."""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["case_insensitive"]


def case_insensitive(headers: Mapping[str, str] | None) -> CIMultiDictProxy[str]:
    """``headers`` read-only, with lookups that ignore case, as HTTP field names do.

    RFC 9110 section 5.1: field names are case-insensitive. Go writes ``Retry-After-Ms``,
    proxies may write ``retry-after``; a plain dict would see neither under the other spelling.
    Every repeated field is kept; ``get`` returns the first. A ``CIMultiDictProxy`` (aiohttp's
    response headers) is one already and comes back as it is; anything else is copied.
    """
    if isinstance(headers, CIMultiDictProxy):
        return headers
    return CIMultiDictProxy(CIMultiDict(headers or {}))
