"""Masking the API key in what a response makes us say: error messages, notes and log lines.

A server, proxy or WAF may echo the request's ``Authorization`` header back: in an error
body's message, in the reason phrase, in ``X-Request-Id``. Every message and log line about
that response would then carry the key. The client, which knows the key, builds what it says
about a response from a copy with the key replaced by ``***`` (:func:`masked_response`), and
passes every error through :func:`mask_error` before it is logged or raised, for the text that
came another way (an aiohttp message quoting a malformed response).

Plain functions of values: no I/O, tested without a loop.
"""

from __future__ import annotations

import json
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from kernel_async._errors import APIError, APIStatusError
from kernel_async._transport_protocol import RawResponse

__all__ = [
    "MASK",
    "MIN_MASKED_LENGTH",
    "echoes_key",
    "mask_bytes",
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


def _spellings(key: str) -> list[str]:
    """The key as sent, and as a JSON string holds it (quotes and backslashes escaped).

    Longest first, so that a spelling containing another is replaced whole. None for a key
    shorter than :data:`MIN_MASKED_LENGTH`.
    """
    if len(key) < MIN_MASKED_LENGTH:
        return []
    if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
        return [key]  # the usual key: JSON writes it as it is (checked once per response)
    forms = {key, json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1]}
    return sorted(forms, key=len, reverse=True)


def shows_key(text: str, key: str) -> bool:
    """Whether ``text`` holds ``key`` (in any spelling :func:`mask_text` replaces)."""
    return bool(key) and any(spelling in text for spelling in _spellings(key))


def mask_text(text: str, key: str) -> str:
    """``text`` with every occurrence of ``key`` replaced by ``***`` (unchanged for no key)."""
    if not key:
        return text
    for spelling in _spellings(key):
        if spelling in text:
            text = text.replace(spelling, MASK)
    return text


def mask_bytes(data: bytes, key: str) -> bytes:
    """``data`` with every UTF-8 occurrence of ``key`` replaced by ``***``."""
    if not key:
        return data
    for spelling in _spellings(key):
        encoded = spelling.encode()  # the key is valid text (resolve_config checks it)
        if encoded in data:
            data = data.replace(encoded, MASK.encode())
    return data


def echoes_key(response: RawResponse, key: str, *, body: bool) -> bool:
    """Whether the key is in the reason phrase or a header of ``response`` (or its body)."""
    if not key:
        return False
    reason = response.reason or ""
    for spelling in _spellings(key):
        # Every response goes through here: a plain scan, no list of the texts.
        if spelling in reason:
            return True
        for name, value in response.headers.items():
            if spelling in value or spelling in name:
                return True
        if body and spelling.encode() in response.body:
            return True
    return False


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
        body=mask_bytes(response.body, key) if body else response.body,
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
