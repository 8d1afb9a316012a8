r"""Masking the API key in what a response makes us say: error messages, notes and log lines.

A server, proxy or WAF may echo the request's ``Authorization`` header back: in an error
body's message, in the reason phrase, in ``X-Request-Id``. Every message and log line about
that response would then carry the key. The client, which knows the key, builds what it says
about a response from a copy with the key replaced by ``***`` (:func:`masked_response`), and
passes every error through :func:`mask_error` before it is logged or raised, for the text that
came another way (an aiohttp message quoting a malformed response).

The echo need not be the whole key. Servers and WAFs often quote only the start of a bad
token (``invalid token Bearer sk-abc123...``), and aiohttp cuts what it quotes of a malformed
line at about 100 bytes. So what is masked is every *run* of the key: any part of it at least
:data:`MIN_FRAGMENT_LENGTH` characters long, wherever it is (cut off by the end of the text,
an ellipsis or a quote, or in the middle of other text).

Nor need the echo be the key's own bytes. A JSON encoder may write any character of a string
as a ``\u`` escape (RFC 8259 section 7: ``\u0073k-...`` is ``sk-...`` once decoded), and a
URL or form encoder percent-encodes (RFC 3986 section 2.1). So a text is searched as written
and as decoded (:func:`_views`), and what was found is masked in whatever spelling it has,
character by character (:func:`_spelling_pattern`); a body's JSON strings are masked as they
decode (:func:`mask_body`): what ``exc.body``, ``exc.response.json()`` and
``exc.response.content`` show is the same masked answer.

What it costs. A text is cleared by one plain scan per anchor of the key (12 for a key of 60
characters: see _ANCHOR_STEP) and two for a backslash or a percent sign, with no pattern. A
success masks all it says, the page's request id: 0.5-1 us a response, with keys of 30 to
130 characters. An error checks its whole response first (:func:`echoes_key`: a 401's
reason, headers and body in 3-6 us). Before runs were masked (the whole key searched in
every header of every response), a success cost 0.8-1.2 us and an error 1.1-1.5 us (real
emulator responses, December 2026).

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
    "MIN_FRAGMENT_LENGTH",
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

MIN_FRAGMENT_LENGTH: Final = 8
"""The shortest run of the key (a part of it, in a row) that is masked wherever it appears.

Why 8. Eight characters of a random key are a fingerprint of it already (one chance in 62**8,
about 2e14): enough to tie a log line or a paste to the key, so masking starts there. What
may stay visible is at most 7 characters in a row, about 40 bits of a key that has a few
hundred (40 random characters hold 238), too little to use or to recognise it by. Shorter
runs are what ordinary text is made of: the public prefix keys share (``sk-``), and the few
letters or digits a request id, a date or a word holds by chance; masking those would garble
what the client says and reads (as a key of one letter did, audit r4), while a run of 8
characters of a random key turns up in unrelated text about never. A fraction of the key
would not do: it would let a long key show long runs, and a short key mask short ones.
"""

# Every run of MIN_FRAGMENT_LENGTH characters of the key holds one of its anchors: the runs
# of _ANCHOR_LENGTH characters that start every _ANCHOR_STEP characters (any 5 consecutive
# offsets hold a multiple of 5, and 4 + 5 - 1 = 8). So a text that holds none of the anchors,
# a few plain scans, holds no run of the key as written.
_ANCHOR_LENGTH: Final = MIN_FRAGMENT_LENGTH // 2
_ANCHOR_STEP: Final = MIN_FRAGMENT_LENGTH - _ANCHOR_LENGTH + 1

# The escapes JSON has for the characters a key may hold besides \u (RFC 8259 section 7);
# a key has no control characters (check_api_key), so \b, \n and the like never spell it.
_JSON_SHORT_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "/": "\\/"}

# What a text is decoded from to be searched (_views): a JSON \u escape (a surrogate pair as
# one), and the short JSON escapes of the characters the key holds (those of others can spell
# no part of it: see _KeyParts); a sequence of percent-encoded bytes (a character may take
# several).
_JSON_ESCAPES: Final = (
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}"
)
_PERCENT_ESCAPES: Final = r"(?:%[0-9a-fA-F]{2})+"

# A JSON string literal (RFC 8259 section 7), unrolled so that re scans a long body quickly.
_JSON_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class _KeyParts:
    """What the masking looks for, worked out once per key: its runs and its anchors."""

    __slots__ = ("anchors", "decoders", "has_short_escapes", "runs")

    def __init__(self, key: str) -> None:
        length = MIN_FRAGMENT_LENGTH
        self.runs = frozenset(key[i : i + length] for i in range(len(key) - length + 1))
        every = range(0, len(key) - _ANCHOR_LENGTH + 1, _ANCHOR_STEP)
        self.anchors = tuple(dict.fromkeys(key[i : i + _ANCHOR_LENGTH] for i in every))
        # A short escape (\" for ") of a character the key does not hold stands for a
        # character that no run of the key holds: left as it is, it breaks the runs in a text
        # where the character would, and decoding it (a body has many \") costs for nothing.
        shorts = "".join(re.escape(c) for c in sorted(_JSON_SHORT_ESCAPES) if c in key)
        self.has_short_escapes = bool(shorts)
        json_escapes = _JSON_ESCAPES + (rf"|\\[{shorts}]" if shorts else "")
        self.decoders: tuple[re.Pattern[str], ...] = (
            re.compile(f"{json_escapes}|{_PERCENT_ESCAPES}"),
        )
        if "\\" in key or "%" in key:
            # Decoding would change the key's own characters where it is written as it is,
            # or JSON-escaped with its percent signs as they are, or take its backslash for
            # the start of an escape (\\ then \u006b...): such a text is searched as written,
            # and with each kind of escape decoded alone, too.
            alone = dict.fromkeys([json_escapes, _JSON_ESCAPES, _PERCENT_ESCAPES])
            self.decoders += tuple(re.compile(escapes) for escapes in alone)

    def __repr__(self) -> str:
        return "<parts of the API key>"  # never the parts themselves


@functools.lru_cache(maxsize=8)
def _parts(key: str) -> _KeyParts:
    # Cached: a client masks with one key, and every response is checked with it.
    return _KeyParts(key)


def _masks(key: str) -> bool:
    return len(key) >= MIN_MASKED_LENGTH


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
    forms = [json_escape, percent]
    if char in _JSON_SHORT_ESCAPES:
        forms.append(re.escape(_JSON_SHORT_ESCAPES[char]))
    # The character itself last: a backslash or a percent sign of the key would otherwise
    # be taken for the first character of an escape of it, and the rest of the escape kept.
    return "(?:" + "|".join([*forms, re.escape(char)]) + ")"


@functools.lru_cache(maxsize=32)
def _spelling_pattern(runs: frozenset[str]) -> re.Pattern[str]:
    """Each of ``runs`` in any spelling, each character as it is, escaped or percent-encoded.

    The longest first, so that a run is masked whole, not a part of it that is a run too.
    Cached: an echo repeats in every response to the same request.
    """
    ordered = sorted(runs, key=lambda run: (-len(run), run))
    return re.compile("|".join("".join(_char_pattern(char) for char in run) for run in ordered))


def _unescape(escape: re.Match[str]) -> str:
    text = escape.group()
    if text[0] == "%":
        # Bytes that are not UTF-8 become lone surrogates, which no key holds (check_api_key).
        return bytes.fromhex(text.replace("%", "")).decode("utf-8", "surrogateescape")
    if len(text) == 2:
        return text[1]
    if len(text) == 12:  # a surrogate pair
        high, low = int(text[2:6], 16), int(text[8:], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    return chr(int(text[2:], 16))


def _views(text: str, parts: _KeyParts) -> list[str]:
    r"""``text`` as the key may be found in it: with each escape decoded, once.

    For a key that holds a backslash or a percent sign, also as written, and with each kind
    of escape decoded alone (JSON's, its ``\u`` escapes only, percent-encoding).
    """
    decoded = [decoder.sub(_unescape, text) for decoder in parts.decoders]
    return decoded if len(decoded) == 1 else [text, *decoded]


def _runs_in(text: str, parts: _KeyParts) -> list[tuple[int, int]]:
    """Where ``text`` holds runs of the key, as written: maximal spans, in order.

    A span is the union of the windows of MIN_FRAGMENT_LENGTH characters that are runs of the
    key; every such window holds an anchor, so only the windows around an anchor are looked at.
    """
    length = MIN_FRAGMENT_LENGTH
    starts: set[int] = set()
    looked_at: set[int] = set()
    for anchor in parts.anchors:
        found = text.find(anchor)
        while found >= 0:
            for start in range(max(0, found - _ANCHOR_STEP + 1), found + 1):
                if start not in looked_at:
                    looked_at.add(start)
                    if text[start : start + length] in parts.runs:
                        starts.add(start)
            found = text.find(anchor, found + 1)
    spans: list[tuple[int, int]] = []
    for start in sorted(starts):
        if spans and start < spans[-1][1]:  # overlapping: one run (two that touch stay two)
            spans[-1] = (spans[-1][0], start + length)
        else:
            spans.append((start, start + length))
    return spans


def _may_be_escaped(text: str) -> bool:
    # Every spelling but the key's own characters has a backslash or a percent sign.
    return "\\" in text or "%" in text


def _escaped_runs(text: str, parts: _KeyParts) -> frozenset[str]:
    """The runs of the key that ``text`` holds in some spelling, decoded."""
    return frozenset(
        view[start:end] for view in _views(text, parts) for start, end in _runs_in(view, parts)
    )


def _holds_anchor(text: str, parts: _KeyParts) -> bool:
    # The usual case, a text that holds no part of the key, is cleared by these plain scans
    # (a loop: twice as fast as any() over a generator on a request id).
    for anchor in parts.anchors:  # noqa: SIM110 - see above
        if anchor in text:
            return True
    return False


def _shows(text: str, parts: _KeyParts) -> bool:
    if _may_be_escaped(text):
        return bool(_escaped_runs(text, parts))
    return _holds_anchor(text, parts) and bool(_runs_in(text, parts))


def shows_key(text: str, key: str) -> bool:
    """Whether ``text`` holds a run of ``key`` that :func:`mask_text` would mask."""
    return _masks(key) and _shows(text, _parts(key))


def mask_text(text: str, key: str) -> str:
    """``text`` with every run of ``key`` in every spelling replaced by ``***``.

    A run is any part of the key :data:`MIN_FRAGMENT_LENGTH` characters long or longer; runs
    that overlap are masked as one. Unchanged for a key too short to mask.
    """
    if not _masks(key):
        return text
    parts = _parts(key)
    if _may_be_escaped(text):
        runs = _escaped_runs(text, parts)
        return _spelling_pattern(runs).sub(MASK, text) if runs else text
    if not _holds_anchor(text, parts):
        return text
    pieces: list[str] = []
    kept_from = 0
    for start, end in _runs_in(text, parts):
        pieces += [text[kept_from:start], MASK]
        kept_from = end
    return "".join([*pieces, text[kept_from:]]) if pieces else text


def _mask_json_string(literal: re.Match[str], key: str, parts: _KeyParts) -> str:
    """A JSON string literal, re-encoded with the key masked in its decoded value."""
    text = literal.group()
    if "\\" not in text or ("\\u" not in text and not parts.has_short_escapes):
        # It decodes to itself, or its only escapes stand for characters the key does not
        # hold: a run of the key in its value is one in the text, which is masked as a whole.
        return text
    if len(text) - 2 < MIN_FRAGMENT_LENGTH:
        return text  # its value is shorter still, and every spelling is at least as long as a run
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
    and, if its value shows a run of the key, written again with it masked: ``\u0073k-...`` and
    ``\\u0073k-...`` are caught as surely as ``sk-...``. Then every spelling left in the
    text is masked, inside a JSON string or outside one (an HTML page, a body cut short).
    The rest of the body is kept byte for byte, so it decodes as before, but for the key.
    """
    if not _masks(key):
        return data
    text = data.decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 kept as they are
    if not _may_be_escaped(text):
        masked = mask_text(text, key)
    else:
        parts = _parts(key)
        strings_masked = _JSON_STRING.sub(lambda m: _mask_json_string(m, key, parts), text)
        masked = mask_text(strings_masked, key)
    return data if masked == text else masked.encode("utf-8", "surrogateescape")


def echoes_key(response: RawResponse, key: str, *, body: bool) -> bool:
    """Whether a run of the key is in the reason phrase or a header of ``response`` (or body).

    That is, whether an error about the response must be built from :func:`masked_response`.
    """
    if not _masks(key):
        return False
    # No spelling of the key holds a line feed, so none spans two of the texts joined.
    headers = response.headers
    if shows_key("\n".join([response.reason or "", *headers.keys(), *headers.values()]), key):
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
