"""Go's ``time.ParseDuration`` and ``time.Parse(time.RFC3339, ...)``, for the emulator.

The Kernel API is written in Go and reads ``since`` with these two functions (FACTS.md,
"Query parameters"). The emulator answers as they would, so it must not share the client's
parsers: a client that accepted too much would go unnoticed against a server that accepted
the same. These are written from Go's rules (``src/time/format.go`` and
``format_rfc3339.go``), step by step, quirks included:

* a duration is ``[-+]?([0-9]*([.][0-9]*)?unit)+`` or ``[-+]?0``; digits are the ASCII bytes
  ``0`` to ``9`` only; units are ``ns us µs μs ms s m h``; more than 2**63 - 1 nanoseconds
  (2**63 for a negative one) is an error; a fraction past 18 or 19 digits is ignored, and a
  fraction adds ``float64(f) * (float64(unit) / scale)`` nanoseconds, rounding as float64 does;
* ``time.Parse(time.RFC3339, ...)`` falls back from its fast path to the general layout
  parser, which takes a one-digit hour, a comma before the fraction, any number of
  fractional digits (nine are kept), and zone offsets up to ``+24:00`` and ``:60``; it
  wants an uppercase ``T`` and ``Z``, four-digit years (0000 to 9999), real calendar days,
  and seconds below 60.

Both raise :class:`GoParseError` (a :class:`ValueError`) wherever Go returns an error.
"""

from __future__ import annotations

from typing import Final

__all__ = ["GoParseError", "parse_duration", "parse_rfc3339"]

_NANOSECOND: Final = 1
_MICROSECOND: Final = 1_000
_SECOND: Final = 1_000_000_000
_UNITS: Final = {
    "ns": _NANOSECOND,
    "us": _MICROSECOND,
    "\u00b5s": _MICROSECOND,  # U+00B5 MICRO SIGN
    "\u03bcs": _MICROSECOND,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000 * _MICROSECOND,
    "s": _SECOND,
    "m": 60 * _SECOND,
    "h": 3600 * _SECOND,
}
_UINT64_MASK: Final = 2**64 - 1
_TWO_63: Final = 1 << 63


class GoParseError(ValueError):
    """Where Go's parser returns an error."""


def _is_digit(text: str, index: int) -> bool:
    return index < len(text) and "0" <= text[index] <= "9"


def _leading_int(text: str) -> tuple[int, str]:
    """Go's ``leadingInt``: the leading ``[0-9]*`` as a uint64, failing past 2**63."""
    value, index = 0, 0
    while _is_digit(text, index):
        if value > _TWO_63 // 10:
            raise GoParseError("overflow")
        value = value * 10 + ord(text[index]) - ord("0")
        if value > _TWO_63:
            raise GoParseError("overflow")
        index += 1
    return value, text[index:]


def _leading_fraction(text: str) -> tuple[int, float, str]:
    """Go's ``leadingFraction``: digits after the point; precision stops at overflow."""
    value, scale, index, overflow = 0, 1.0, 0, False
    while _is_digit(text, index):
        digit = ord(text[index]) - ord("0")
        index += 1
        if overflow:
            continue
        if value > (_TWO_63 - 1) // 10:
            overflow = True
            continue
        candidate = value * 10 + digit
        if candidate > _TWO_63:
            overflow = True
            continue
        value = candidate
        scale *= 10
    return value, scale, text[index:]


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``: the duration in nanoseconds (negative when signed so).

    Raises:
        GoParseError: where Go returns an error.
    """
    rest, negative = text, False
    if rest and rest[0] in "-+":
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise GoParseError(f"time: invalid duration {text!r}")
    total = 0
    while rest:
        if not (rest[0] == "." or _is_digit(rest, 0)):
            raise GoParseError(f"time: invalid duration {text!r}")
        length = len(rest)
        try:
            whole, rest = _leading_int(rest)
        except GoParseError:
            raise GoParseError(f"time: invalid duration {text!r}") from None
        digits_before = length != len(rest)
        fraction, scale, digits_after = 0, 1.0, False
        if rest and rest[0] == ".":
            rest = rest[1:]
            length = len(rest)
            fraction, scale, rest = _leading_fraction(rest)
            digits_after = length != len(rest)
        if not digits_before and not digits_after:
            raise GoParseError(f"time: invalid duration {text!r}")
        end = 0
        while end < len(rest) and not (rest[end] == "." or _is_digit(rest, end)):
            end += 1
        if end == 0:
            raise GoParseError(f"time: missing unit in duration {text!r}")
        unit = _UNITS.get(rest[:end])
        if unit is None:
            raise GoParseError(f"time: unknown unit {rest[:end]!r} in duration {text!r}")
        rest = rest[end:]
        if whole > _TWO_63 // unit:
            raise GoParseError(f"time: invalid duration {text!r}")
        whole *= unit
        if fraction > 0:
            # float64, as Go: nanosecond-accurate for fractions of hours.
            whole += int(float(fraction) * (float(unit) / scale))
            if whole > _TWO_63:
                raise GoParseError(f"time: invalid duration {text!r}")
        total = (total + whole) & _UINT64_MASK  # a uint64 in Go
        if total > _TWO_63:
            raise GoParseError(f"time: invalid duration {text!r}")
    if negative:
        return -total
    if total > _TWO_63 - 1:
        raise GoParseError(f"time: invalid duration {text!r}")
    return total


def _getnum(text: str, *, fixed: bool) -> tuple[int, str]:
    """Go's ``getnum``: one or two leading digits (exactly two when ``fixed``)."""
    if not _is_digit(text, 0):
        raise GoParseError("bad number")
    if not _is_digit(text, 1):
        if fixed:
            raise GoParseError("bad number")
        return int(text[0]), text[1:]
    return int(text[:2]), text[2:]


def _skip(text: str, literal: str) -> str:
    if not text.startswith(literal):
        raise GoParseError(f"expected {literal!r}")
    return text[len(literal) :]


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(month: int, year: int) -> int:
    return 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 in the proleptic Gregorian calendar (year 0 included)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _parse_fields(text: str) -> tuple[int, int, int, int, int, int, int, int]:
    """The layout ``2006-01-02T15:04:05Z07:00`` as Go's general ``parse`` reads it."""
    if not text.isascii():
        # Every byte Go checks is an ASCII digit or literal: any other byte fails a check.
        raise GoParseError("not ASCII")
    if len(text) < 4 or not _is_digit(text, 0) or not text[:4].isdigit():
        raise GoParseError("bad year")  # stdLongYear: atoi of exactly four bytes
    year, rest = int(text[:4]), _skip(text[4:], "-")
    month, rest = _getnum(rest, fixed=True)
    if not 1 <= month <= 12:
        raise GoParseError("month out of range")
    day, rest = _getnum(_skip(rest, "-"), fixed=True)
    hour, rest = _getnum(_skip(rest, "T"), fixed=False)  # stdHour: one or two digits
    if hour >= 24:
        raise GoParseError("hour out of range")
    minute, rest = _getnum(_skip(rest, ":"), fixed=True)
    if minute >= 60:
        raise GoParseError("minute out of range")
    second, rest = _getnum(_skip(rest, ":"), fixed=True)
    if second >= 60:
        raise GoParseError("second out of range")
    nanos = 0
    if len(rest) >= 2 and rest[0] in ".," and _is_digit(rest, 1):
        end = 2
        while _is_digit(rest, end):
            end += 1
        digits = rest[1:end][:9]  # parseNanoseconds keeps nine digits
        nanos, rest = int(digits) * 10 ** (9 - len(digits)), rest[end:]
    offset = 0
    if rest[:1] == "Z":
        rest = rest[1:]
    else:
        if len(rest) < 6 or rest[3] != ":":
            raise GoParseError("bad zone")
        sign, zone_hours, zone_minutes, rest = rest[0], rest[1:3], rest[4:6], rest[6:]
        hours, _ = _getnum(zone_hours, fixed=True)
        minutes, _ = _getnum(zone_minutes, fixed=True)
        # Go's range test is > rather than >=: "some people do write offsets of 24 hours".
        if hours > 24 or minutes > 60:
            raise GoParseError("time zone offset out of range")
        if sign not in "+-":
            raise GoParseError("bad zone sign")
        offset = (hours * 60 + minutes) * 60 * (-1 if sign == "-" else 1)
    if rest:
        raise GoParseError(f"extra text: {rest!r}")
    if not 1 <= day <= _days_in(month, year):
        raise GoParseError("day out of range")
    return year, month, day, hour, minute, second, nanos, offset


def parse_rfc3339(text: str) -> int:
    """Go's ``time.Parse(time.RFC3339, text)``, as nanoseconds since the Unix epoch.

    Raises:
        GoParseError: where Go returns an error.
    """
    year, month, day, hour, minute, second, nanos, offset = _parse_fields(text)
    days = _days_from_civil(year, month, day)
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset
    return seconds * _SECOND + nanos
