"""What goes in the request headers: the API key, and the headers a caller adds.

The key becomes the ``Authorization`` header; ``default_headers`` (of the client) and
``extra_headers`` (of a call) add their own. Each is checked before anything is sent, and
refused with a ValueError or TypeError naming its argument: text that would split a header
or be dropped from it (control characters, lone surrogates), names that are not HTTP field
names, and the fields the client or aiohttp write themselves (a second copy contradicts the
first). The key is never echoed. Plain functions of values, tested without a loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from kernel_async._params import is_unicode_text

__all__ = ["RETRY_COUNT_HEADER", "check_api_key", "check_header", "check_headers"]

RETRY_COUNT_HEADER: Final = "X-Kernel-Async-Retry-Count"
"""Sent with every request: 0 on the first attempt, then the retry's number. Servers ignore
it; it tells retries apart from aiohttp's own silent resend of an idempotent request after a
pooled connection was reset. The client sets it; no header option may."""


def check_api_key(api_key: object) -> str:
    """``api_key``, checked to go in an ``Authorization`` header as it is.

    Raises:
        TypeError: not a str.
        ValueError: surrounding whitespace, a control character, or text that is not valid
            Unicode; the message never quotes the key.
    """
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
    if api_key != api_key.strip() or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in api_key):
        # A CR/LF would split the Authorization header (header injection); say so without
        # echoing the key.
        raise ValueError("api_key contains whitespace or control characters")
    if not is_unicode_text(api_key):
        # A lone surrogate (non-UTF-8 bytes in KERNEL_API_KEY) would be dropped from the
        # header: "k\ud800" would go out as "Bearer k". Refused, and never echoed.
        raise ValueError("api_key is not valid text (bytes that are not UTF-8?)")
    return api_key


# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


# Fields that frame the message or steer the connection (RFC 9112 sections 6 and 9.6, RFC
# 9110 sections 7.6.1, 7.8, 10.1.1): aiohttp writes them for the request it sends. Given again,
# they go out as a second copy that contradicts the first. `Content-Length: 10` on a GET makes
# the server wait for a body, read the next request's first bytes as it, and answer that
# request 400; `Transfer-Encoding: chunked` leaves the server waiting for chunks.
_FRAMING_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "expect",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def _refused_header(lowered: str) -> str | None:
    """Why a header name may not be given (``lowered``: the name in lower case), or None."""
    if lowered == "authorization":
        return "the key is set with api_key"
    if lowered == RETRY_COUNT_HEADER.lower():
        return "it is the client's own, counting the retries"
    if lowered == "host":
        # A second Host goes out beside aiohttp's (RFC 9112 section 3.2: a server answers 400,
        # or routes by either one).
        return "the host comes from base_url"
    if lowered in _FRAMING_HEADERS:
        return (
            "it frames the request or steers the connection, which aiohttp does itself; a "
            "second, contradicting copy corrupts the connection for the requests after it"
        )
    if lowered.startswith("proxy-"):
        # Meant for a proxy, not for the API: sent to the API host when there is no proxy.
        return (
            "proxy headers are the proxy's business: put a proxy's credentials in its URL "
            "(HTTPS_PROXY=http://user:password@host:port)"
        )
    return None


def check_header(name: object, value: object, *, argument: str) -> tuple[str, str]:
    """Check one header of ``default_headers`` or ``extra_headers`` (``argument``).

    Raises:
        TypeError: the name or value is not a str.
        ValueError: an invalid field name, a control character in the value (CR/LF would let
            it inject headers of its own), text that is not valid Unicode, ``Authorization``
            (the key is set by ``api_key``), the client's retry counter, ``Host``, a field
            that frames the request or steers the connection (``Content-Length``,
            ``Transfer-Encoding``, ``Connection``, ``Upgrade``, ``TE``, ``Trailer``,
            ``Expect``, ``Keep-Alive``) or one meant for a proxy (``Proxy-*``); names in any
            case.
    """
    label = argument.removesuffix("s").replace("_", " ")  # "default header", "extra header"
    if not isinstance(name, str) or not name:
        raise TypeError(f"{argument} keys must be non-empty str, not {name!r}")
    if not _TOKEN_CHARS.issuperset(name):
        raise ValueError(f"{label} name {name!r} is not a valid HTTP field name")
    refused = _refused_header(name.lower())
    if refused is not None:
        raise ValueError(f"{argument} may not set {name!r}: {refused}")
    if not isinstance(value, str):
        raise TypeError(f"{label} {name!r} must be a str, not {type(value).__name__}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{label} {name!r} contains control characters")
    if not is_unicode_text(value):
        # A lone surrogate would be dropped: the header would go out empty or cut.
        raise ValueError(f"{label} {name!r} is not valid text (bytes that are not UTF-8?)")
    return name, value


def check_headers(headers: object, *, argument: str) -> dict[str, str]:
    """Check ``default_headers`` or ``extra_headers`` (``argument``): each of them, and the whole.

    Raises:
        TypeError: not a mapping (a list of pairs, a ``"Name: value"`` string), or a name or
            value that is not a str.
        ValueError: a header :func:`check_header` refuses, or a name given twice in different
            cases (both would be sent, and the server would read either).
    """
    if not isinstance(headers, Mapping):
        raise TypeError(
            f"{argument} must be a mapping of header names to values, not {type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    seen: set[str] = set()
    for raw_name, raw_value in headers.items():
        name, value = check_header(raw_name, raw_value, argument=argument)
        if name.lower() in seen:
            raise ValueError(f"{argument} names {name!r} twice (header names ignore case)")
        seen.add(name.lower())
        checked[name] = value
    return checked
