r"""Masking the API key in what a response makes us say: error messages, notes and log lines.

A server, proxy or WAF may echo the request's ``Authorization`` header back: in an error
body's message, in the reason phrase, in ``X-Request-Id``. Every message and log line about
that response would then carry the key. The client, which knows the key, builds what it says
about a response from a copy with the key replaced by ``***`` (:func:`masked_response`), and
passes every error through :func:`mask_error` before it is logged or raised, for the text that
came another way (an aiohttp message quoting a malformed response).

The echo need not be the key's own bytes. A JSON encoder may write any character of a string
as a ``\u`` escape (RFC 8259 section 7: ``\u0073k-...`` is ``sk-...`` once decoded), and a
URL or form encoder percent-encodes (RFC 3986 section 2.1). So the key is looked for in every
such spelling, character by character (:func:`_key_pattern`), and a body's JSON strings are
masked as they decode (:func:`mask_body`): what ``exc.body``, ``exc.response.json()`` and
``exc.response.content`` show is the same masked answer.

Plain functions of values: no I/O, tested without a loop.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from kernel_async._errors import APIError, APIStatusError
from kernel_async._transport_protocol import RawResponse

__all__ = [
    "MASK",
    "MIN_MASKED_LENGTH",
    "echoes_key",
    "mask_body",
    "mask_error",
    "mask_text",
    "masked_response",
    "shows_key",
]

MASK: Final = "***"
"""What the key is replaced with; ``Bearer <key>`` becomes ``Bearer ***``."""


MIN_MASKED_LENGTH: Final = 8
"""Shorter keys are not masked: they are no secret worth the name (the API's are dozens of
characters), and as substrings they would match ordinary text ("401", "e") and garble every
message that holds them."""

# The escapes JSON has for the characters a key may hold besides \u (RFC 8259 section 7);
# a key has no control characters (check_api_key), so \b, \n and the like never spell it.
_JSON_SHORT_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "/": "\\/"}

# A JSON string literal (RFC 8259 section 7), unrolled so that re scans a long body quickly.
_JSON_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def _hex(value: int, digits: int) -> str:
    """``value`` in hexadecimal, as a pattern that takes its letters in either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in format(value, f"0{digits}x"))


def _char_pattern(char: str) -> str:
    """Every spelling of one character of the key: itself, a JSON escape, percent-encoded."""
    code = ord(char)
    if code > 0xFFFF:  # JSON escapes it as a UTF-16 surrogate pair
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        json_escape = f"\\\\u{_hex(high, 4)}\\\\u{_hex(low, 4)}"
    else:
        json_escape = f"\\\\u{_hex(code, 4)}"
    percent = "".join(f"%{_hex(byte, 2)}" for byte in char.encode())
    forms = [re.escape(char), json_escape, percent]
    if char in _JSON_SHORT_ESCAPES:
        forms.append(re.escape(_JSON_SHORT_ESCAPES[char]))
    return "(?:" + "|".join(forms) + ")"


@functools.lru_cache(maxsize=8)
def _key_pattern(key: str) -> re.Pattern[str]:
    """The key in any spelling, each character written as it is, escaped or percent-encoded.

    Every alternative starts with the character itself, a backslash or a percent sign, so re
    scans a text for the key about as fast as for a plain string. Cached: a client masks with
    one key, and compiling takes longer than a search.
    """
    return re.compile("".join(_char_pattern(char) for char in key))


def _masks(key: str) -> bool:
    return len(key) >= MIN_MASKED_LENGTH


def _may_show(text: str, key: str) -> bool:
    # Every spelling but the key itself has a backslash or a percent sign: most texts are
    # cleared by three plain scans, without the pattern.
    return key in text or "\\" in text or "%" in text


def shows_key(text: str, key: str) -> bool:
    """Whether ``text`` holds ``key`` (in any spelling :func:`mask_text` replaces)."""
    if not _masks(key) or not _may_show(text, key):
        return False
    return _key_pattern(key).search(text) is not None


def mask_text(text: str, key: str) -> str:
    """``text`` with every spelling of ``key`` replaced by ``***`` (unchanged for no key)."""
    if not _masks(key) or not _may_show(text, key):
        return text
    return _key_pattern(key).sub(MASK, text)


def _mask_json_string(literal: re.Match[str], key: str) -> str:
    """A JSON string literal, re-encoded with the key masked in its decoded value."""
    text = literal.group()
    if "\\" not in text:
        return text  # it decodes to itself: the masking of the whole text covers it
    if len(text) - 2 < len(key):
        return text  # its value is shorter still, and every spelling is at least the key's length
    try:
        value = json.loads(text, strict=False)
    except ValueError:
        return text  # not JSON after all: left to the masking of the whole text
    masked = mask_text(value, key)
    # ASCII: a lone surrogate that the server escaped stays an escape, encodable as UTF-8.
    return text if masked == value else json.dumps(masked)


def mask_body(data: bytes, key: str) -> bytes:
    r"""``data`` with ``key`` masked in every spelling, and in every JSON string as it decodes.

    Each JSON string literal, an object's keys as well as its values at any depth, is decoded
    and, if its value shows the key, written again with the key masked: ``\u0073k-...`` and
    ``\\u0073k-...`` are caught as surely as ``sk-...``. Then every spelling left in the
    text is masked, inside a JSON string or outside one (an HTML page, a body cut short).
    The rest of the body is kept byte for byte, so it decodes as before, but for the key.
    """
    if not _masks(key):
        return data
    text = data.decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 kept as they are
    if not _may_show(text, key):
        return data
    masked = mask_text(_JSON_STRING.sub(lambda m: _mask_json_string(m, key), text), key)
    return data if masked == text else masked.encode("utf-8", "surrogateescape")


def echoes_key(response: RawResponse, key: str, *, body: bool) -> bool:
    """Whether the key is in the reason phrase or a header of ``response`` (or its body)."""
    # Every response goes through here: one search of all its text, usually a plain one. No
    # spelling of the key holds a line feed, so none spans two of the texts joined.
    headers = response.headers
    text = "\n".join([response.reason or "", *headers.keys(), *headers.values()])
    if shows_key(text, key):
        return True
    return body and mask_body(response.body, key) != response.body


def masked_response(response: RawResponse, key: str, *, body: bool) -> RawResponse:
    """A copy of ``response`` with the key masked in its reason, headers and (``body``) body.

    Only what the client says about a response is built from it; the response itself is read
    as it is. A header name holding the key (which no protocol header does) is masked too.
    """
    headers: CIMultiDict[str] = CIMultiDict(
        (mask_text(name, key), mask_text(value, key)) for name, value in response.headers.items()
    )
    return RawResponse(
        status=response.status,
        reason=None if response.reason is None else mask_text(response.reason, key),
        headers=CIMultiDictProxy(headers),
        body=mask_body(response.body, key) if body else response.body,
        url=response.url,
    )


def _reveals(error: BaseException, key: str) -> bool:
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if shows_key(str(current), key) or shows_key(repr(current), key):
            return True
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return False


def mask_error(error: APIError, key: str) -> None:
    """Mask the key, in place, in what ``error`` says: its message, args, request id, notes.

    An error built from a :func:`masked_response` says nothing of the key already; this is
    for the text that reached it another way. A chained exception that shows the key is
    unlinked: it cannot be masked.
    """
    if not key:
        return
    error.message = mask_text(error.message, key)
    error.args = tuple(mask_text(a, key) if isinstance(a, str) else a for a in error.args)
    if error.request_id is not None:
        error.request_id = mask_text(error.request_id, key)
    if isinstance(error, APIStatusError):
        error.body_excerpt = mask_text(error.body_excerpt, key)
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [mask_text(n, key) if isinstance(n, str) else n for n in notes]
    for linked in (error.__cause__, error.__context__):
        if linked is not None and _reveals(linked, key):
            error.__cause__ = None
            error.__context__ = None
            error.__suppress_context__ = True
            break
