"""RFC 3339 timestamps with nanoseconds, and Go-style durations, as plain functions.

The API writes ``started_at`` / ``finished_at`` with Go's ``time.RFC3339Nano`` layout: up to
nine fractional digits with trailing zeros trimmed, and any offset (docs/api-behaviour.md).
:class:`datetime.datetime` holds microseconds, so parsing keeps the datetime for
everyday use and derives exact epoch nanoseconds from the original text on demand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "DIGITS_TO_ZERO",
    "FROMISOFORMAT_SHAPES",
    "MAX_GO_DURATION_NS",
    "format_go_duration",
    "format_rfc3339",
    "format_rfc3339_nano",
    "is_go_duration",
    "is_go_rfc3339",
    "parse_go_duration",
    "parse_rfc3339",
    "rfc3339_to_epoch_ns",
]

_FRACTION = re.compile(r"\.([0-9]{1,9})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_SECOND = 1_000_000_000

# Go's time.ParseDuration units (https://pkg.go.dev/time#ParseDuration), in nanoseconds.
_GO_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # µs, MICRO SIGN
    "\u03bcs": 1_000,  # μs, GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": _NS_PER_SECOND,
    "m": 60 * _NS_PER_SECOND,
    "h": 3600 * _NS_PER_SECOND,
}
# ASCII digits only: Go compares bytes with '0' and '9', so "\u0665m" (Arabic-Indic five) is
# an unknown unit there, not five minutes. A leading "+" is Go's; a "-" is refused here.
# Patterns, not compiled ones: re compiles them on first use (and caches them), which spares
# start-up the compiling for programs that never pass a duration.
_GO_DURATION_PART = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)"
_GO_DURATION = r"[+-]?(?:(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+|0)"
MAX_GO_DURATION_NS: Final = 2**63 - 1
"""The longest Go ``time.Duration``: an ``int64`` of nanoseconds (about 2562047 hours)."""


_fromisoformat = datetime.fromisoformat

# RFC 3339 section 5.6 date-time, every digit written as 0: with lowercase t and z and a space
# for T allowed (section 5.6, NOTE), and 0 to 9 fractional digits (Go never writes more).
DIGITS_TO_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_TEMPLATES: Final = frozenset(
    f"0000-00-00{sep}00:00:00{fraction}{offset}".encode()
    for sep in "Tt "
    for fraction in ["", *("." + "0" * digits for digits in range(1, 10))]
    for offset in ("Z", "z", "+00:00", "-00:00")
)
FROMISOFORMAT_SHAPES: Final = frozenset(
    shape for shape in _TEMPLATES if shape[10:11] == b"T" and not shape.endswith(b"z")
)
"""The shapes above with an uppercase ``T`` and ``Z``: :meth:`datetime.fromisoformat` reads
a date-time of one of them as :func:`parse_rfc3339` does (or refuses it as it does), so a
hot path that checks the shape (``text.encode().translate(DIGITS_TO_ZERO)``) may call it
directly."""


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 date-time into an aware :class:`~datetime.datetime`.

    Fractions beyond microseconds are truncated, as Python's datetime cannot hold them; use
    :func:`rfc3339_to_epoch_ns` for the exact value.

    This runs twice per invocation, so the grammar is checked by mapping every ASCII digit
    to ``0`` (one ``bytes.translate``) and looking the result up among the 120 shapes the
    grammar allows: several times cheaper than a regular expression. Digits and ranges are
    then :meth:`datetime.fromisoformat`'s, which takes nine fractional digits and ``Z`` since
    Python 3.11 but also forms RFC 3339 does not allow (``20250601T...``, any separator,
    ``,`` for ``.``), hence the check first. A test holds this to the grammar written as a
    regular expression (RFC 3339 section 5.6 "date-time", lowercase ``t`` and ``z`` and a
    space for ``T`` allowed, up to nine fractional digits).

    Raises:
        ValueError: ``text`` is not an RFC 3339 date-time with an offset.
    """
    # Non-ASCII digits encode to several bytes and match no shape.
    if text.encode().translate(DIGITS_TO_ZERO) not in _TEMPLATES:
        raise ValueError(f"not an RFC 3339 date-time with an offset: {text!r}")
    try:
        return _fromisoformat(text)
    except ValueError:
        pass
    try:
        # fromisoformat wants uppercase T and Z; RFC 3339 section 5.6 allows lowercase.
        return _fromisoformat(text.upper())
    except ValueError:
        raise ValueError(f"not a valid date-time: {text!r}") from None


def rfc3339_to_epoch_ns(text: str) -> int:
    """Return the exact instant of an RFC 3339 date-time as integer nanoseconds since the epoch.

    >>> rfc3339_to_epoch_ns("1970-01-01T00:00:01.000000007Z")
    1000000007
    >>> rfc3339_to_epoch_ns("1970-01-01T02:00:00.5+02:00")
    500000000
    """
    delta = parse_rfc3339(text) - _EPOCH  # checks the grammar; its microseconds are not used
    # The grammar puts a fraction, when there is one, right after the seconds (index 19).
    fraction = _FRACTION.match(text, 19)
    nanos = int(fraction.group(1).ljust(9, "0")) if fraction else 0
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_SECOND + nanos


def format_rfc3339_nano(epoch_ns: int) -> str:
    """Format epoch nanoseconds as Go's ``time.RFC3339Nano`` does in UTC (zeros trimmed).

    >>> format_rfc3339_nano(1_000_000_007)
    '1970-01-01T00:00:01.000000007Z'
    >>> format_rfc3339_nano(1_500_000_000)
    '1970-01-01T00:00:01.5Z'
    """
    seconds, nanos = divmod(epoch_ns, _NS_PER_SECOND)
    # isoformat, not strftime: %Y writes year 1 (Go's zero time) as "1" on glibc.
    base = (_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat()
    if nanos:
        return f"{base}.{nanos:09d}".rstrip("0") + "Z"
    return base + "Z"


def format_rfc3339(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC, with microseconds when it has any.

    >>> from datetime import datetime, timezone, timedelta
    >>> format_rfc3339(datetime(2025, 6, 20, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    '2025-06-20T12:00:00Z'

    Raises:
        ValueError: ``value`` is naive.
        OverflowError: ``value`` is out of range in UTC (year 1 at UTC+5, say).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a naive datetime has no offset; attach a tzinfo (e.g. datetime.UTC)")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    # isoformat, not strftime: %Y writes year 5 as "5" on glibc, and RFC 3339 wants "0005".
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def _go_duration_ns(text: str) -> int | None:
    """The nanoseconds of a non-negative Go duration, or ``None`` if Go would refuse it."""
    if re.fullmatch(_GO_DURATION, text) is None:
        return None
    total_ns = 0
    for number, unit in re.findall(_GO_DURATION_PART, text):
        whole, _, fraction = number.partition(".")
        scale = _GO_UNITS_NS[unit]
        if len(whole.lstrip("0")) > 19:
            # Past int64 in any unit; and int() refuses 4300 digits and more.
            return None
        total_ns += int(whole or "0") * scale
        if fraction:
            digits = fraction[:18]  # Go stops reading a fraction where it would overflow
            total_ns += int(digits) * scale // 10 ** len(digits)
    if text.startswith("-") and total_ns:
        return None  # negative: a time in the future (Go reads "-0s", "-0.0s" as 0: taken)
    # time.ParseDuration refuses a total past int64 nanoseconds ("99999999h", "2562048h").
    return total_ns if total_ns <= MAX_GO_DURATION_NS else None


def is_go_duration(text: str) -> bool:
    """Whether ``text`` is a non-negative Go duration such as ``5m``, ``1h30m`` or ``1.5s``.

    A minus sign is taken before a zero only (``-0s``, ``-0.0s``: what ``f"{-0.0}s"``
    writes), which Go reads as 0, as it does ``0s``.

    The grammar and range are Go's ``time.ParseDuration``: ASCII digits, the units ``ns``,
    ``us`` (also written with the micro sign or the Greek mu), ``ms``, ``s``, ``m`` and ``h``,
    and at most 2**63 - 1 nanoseconds.
    """
    return _go_duration_ns(text) is not None


def parse_go_duration(text: str) -> timedelta:
    """Parse a non-negative Go-style duration (``90s``, ``1h30m``, ``250ms``).

    >>> parse_go_duration("1h30m")
    datetime.timedelta(seconds=5400)

    Raises:
        ValueError: ``text`` is not a Go duration, is negative or is past Go's range.
    """
    total_ns = _go_duration_ns(text)
    if total_ns is None:
        raise ValueError(f"not a Go duration such as '5m' or '1h30m': {text!r}")
    return timedelta(microseconds=total_ns // 1_000)


def is_go_rfc3339(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 date-time that Go's ``time.Parse`` also takes.

    Stricter than :func:`parse_rfc3339`, which reads what the server writes: the server reads
    ``since`` with ``time.Parse(time.RFC3339, ...)``, which wants an uppercase ``T`` and
    ``Z`` (RFC 3339 allows lowercase and a space).
    """
    if len(text) < 20 or text[10] != "T" or text[-1] == "z":
        return False
    try:
        parse_rfc3339(text)
    except ValueError:
        return False
    return True


def format_go_duration(value: timedelta) -> str:
    """Format a non-negative timedelta as a Go duration the API accepts.

    >>> format_go_duration(timedelta(hours=1, minutes=30))
    '1h30m'
    >>> format_go_duration(timedelta(milliseconds=1500))
    '1500ms'
    >>> format_go_duration(timedelta(0))
    '0s'
    """
    if value < timedelta(0):
        raise ValueError("a negative duration would point into the future")
    micros = value // timedelta(microseconds=1)
    if micros * 1_000 > MAX_GO_DURATION_NS:
        raise ValueError(f"{value} is longer than the longest Go duration (about 292 years)")
    if micros % 1_000_000:
        if micros % 1_000 == 0:
            return f"{micros // 1_000}ms"
        return f"{micros}us"
    seconds = micros // 1_000_000
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts)
