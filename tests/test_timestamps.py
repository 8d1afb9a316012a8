import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_async._timestamps import (
    DIGITS_TO_ZERO,
    FROMISOFORMAT_SHAPES,
    format_go_duration,
    format_rfc3339,
    format_rfc3339_nano,
    is_go_duration,
    is_go_rfc3339,
    parse_go_duration,
    parse_rfc3339,
    rfc3339_to_epoch_ns,
)

BASE_NS = 1_748_781_296 * 1_000_000_000  # 2025-06-01T12:34:56Z
MUTATIONS = "0123456789-:.TtZz +,X\u0663"  # U+0663 is an Arabic-Indic digit: not ASCII


@pytest.mark.parametrize(
    ("text", "microsecond", "nanos"),
    [
        ("2025-06-01T12:34:56Z", 0, 0),
        ("2025-06-01T12:34:56.123Z", 123_000, 123_000_000),
        ("2025-06-01T12:34:56.123456Z", 123_456, 123_456_000),
        ("2025-06-01T12:34:56.1234567Z", 123_456, 123_456_700),
        ("2025-06-01T12:34:56.123456789Z", 123_456, 123_456_789),
        ("2025-06-01T12:34:56.000000001Z", 0, 1),
        ("2025-06-01t12:34:56.5z", 500_000, 500_000_000),
        ("2025-06-01 12:34:56.5Z", 500_000, 500_000_000),
    ],
)
def test_fractional_digits_zero_to_nine(text: str, microsecond: int, nanos: int) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == datetime(2025, 6, 1, 12, 34, 56, microsecond, tzinfo=UTC)
    assert rfc3339_to_epoch_ns(text) == BASE_NS + nanos


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2025-06-01T14:34:56.123456789+02:00", timedelta(hours=2)),
        ("2025-06-01T07:04:56.123456789-05:30", timedelta(hours=-5, minutes=-30)),
        ("2025-06-01T12:34:56.123456789+00:00", timedelta(0)),
    ],
)
def test_non_utc_offsets_keep_the_instant(text: str, offset: timedelta) -> None:
    parsed = parse_rfc3339(text)
    assert parsed.utcoffset() == offset
    assert parsed.tzinfo is not None
    assert rfc3339_to_epoch_ns(text) == BASE_NS + 123_456_789


@pytest.mark.parametrize(
    "text",
    [
        "2025-06-01T12:34:56",  # no offset: naive
        "2025-06-01",
        "20250601T123456Z",  # ISO basic format, not RFC 3339
        "2025-06-01T12:34Z",
        "2025-06-01T12:34:56.Z",
        "2025-06-01T12:34:56.1234567890Z",  # ten digits
        "2024-05-19T15:30:00.000000000Z07:00",  # the spec's malformed example (Go layout)
        "2025-13-01T12:34:56Z",
        "2025-02-30T12:34:56Z",
        "",
    ],
)
def test_rejects_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match="date-time"):
        parse_rfc3339(text)
    with pytest.raises(ValueError, match="date-time"):
        rfc3339_to_epoch_ns(text)


def test_format_nano_round_trips_and_trims_like_go() -> None:
    for nanos in (0, 1, 500_000_000, 123_456_789, 120_000_000):
        text = format_rfc3339_nano(BASE_NS + nanos)
        assert rfc3339_to_epoch_ns(text) == BASE_NS + nanos
        assert not text.removesuffix("Z").endswith("0") or nanos == 0
    assert format_rfc3339_nano(BASE_NS) == "2025-06-01T12:34:56Z"
    assert format_rfc3339_nano(BASE_NS + 120_000_000) == "2025-06-01T12:34:56.12Z"


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.5Z"],
)
def test_format_nano_writes_every_year_with_four_digits(text: str) -> None:
    # Go's zero time.Time is year 1, and glibc's strftime("%Y") writes it as "1".
    assert format_rfc3339_nano(rfc3339_to_epoch_ns(text)) == text


def test_format_rfc3339_converts_to_utc_and_refuses_naive() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    assert format_rfc3339(datetime(2025, 6, 1, 18, 4, 56, tzinfo=ist)) == "2025-06-01T12:34:56Z"
    assert format_rfc3339(datetime(2025, 6, 1, 12, 34, 56, 7, tzinfo=UTC)) == (
        "2025-06-01T12:34:56.000007Z"
    )
    with pytest.raises(ValueError, match="naive"):
        format_rfc3339(datetime(2025, 6, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("10us", timedelta(microseconds=10)),
        ("10\u00b5s", timedelta(microseconds=10)),
        ("1500ns", timedelta(microseconds=1)),
        (".5s", timedelta(milliseconds=500)),
        ("0", timedelta(0)),
        ("1000\u00b5s", timedelta(milliseconds=1)),  # MICRO SIGN
        ("1000\u03bcs", timedelta(milliseconds=1)),  # GREEK SMALL LETTER MU
        ("1000us", timedelta(milliseconds=1)),
        ("9223372036854775807ns", timedelta(microseconds=(2**63 - 1) // 1000)),  # 19 digits
        ("0000000000000000000000001s", timedelta(seconds=1)),  # leading zeros, as Go
        ("+5m", timedelta(minutes=5)),  # Go takes a leading plus
        ("5.s", timedelta(seconds=5)),  # and a point with no digits after it
        ("1.25m", timedelta(seconds=75)),  # multi-digit fractions
        ("0.000001s", timedelta(microseconds=1)),
        ("1.5\u03bcs", timedelta(microseconds=1)),  # GREEK SMALL LETTER MU
        ("10\u03bcs", timedelta(microseconds=10)),
        ("1h1m1s1ms1us1ns", timedelta(hours=1, minutes=1, seconds=1, microseconds=1001)),
        ("2562047h", timedelta(hours=2562047)),
        ("2562047h47m16.854775807s", timedelta(microseconds=(2**63 - 1) // 1000)),
    ],
)
def test_go_durations(text: str, expected: timedelta) -> None:
    assert is_go_duration(text)
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5",
        "-5m",
        "5 m",
        "5d",
        "m",
        "1h30",
        "1e3s",
        "00",
        "+",
        ".s",
        "++5m",
        "\u0665m",  # ARABIC-INDIC DIGIT FIVE: Go reads digits as the ASCII bytes 0-9 only
        "5\uff4d",  # FULLWIDTH LATIN SMALL LETTER M
        "2562048h",  # past int64 nanoseconds, which Go refuses
        "2562047h47m16.854775808s",
        "9223372036854775808ns",
        "10000000000000000000ns",  # 20 digits
        "99999999h",
        "9" * 5000 + "s",
    ],
)
def test_rejects_what_go_would_not_parse_or_is_negative(text: str) -> None:
    assert not is_go_duration(text)
    with pytest.raises(ValueError, match="Go duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=2, seconds=1), "2h1s"),
        (timedelta(days=2), "48h"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(microseconds=1001), "1001us"),
    ],
)
def test_format_go_duration_round_trips(value: timedelta, text: str) -> None:
    assert format_go_duration(value) == text
    assert parse_go_duration(text) == value


def test_format_go_duration_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_go_duration(timedelta(seconds=-1))


def test_format_go_duration_refuses_what_go_cannot_hold() -> None:
    longest = timedelta(microseconds=(2**63 - 1) // 1000)
    assert parse_go_duration(format_go_duration(longest)) == longest
    with pytest.raises(ValueError, match="longest Go duration"):
        format_go_duration(longest + timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC), "0005-01-02T03:04:05Z"),  # year padded
        (datetime(999, 12, 31, 23, 59, 59, 7, tzinfo=UTC), "0999-12-31T23:59:59.000007Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_format_rfc3339_writes_four_digit_years(value: datetime, text: str) -> None:
    assert format_rfc3339(value) == text
    assert parse_rfc3339(text) == value


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("2025-06-20T12:00:00Z", True),
        ("2025-06-20T12:00:00.123456789-07:00", True),
        ("2025-06-20t12:00:00Z", False),  # RFC 3339 allows it; Go's time.Parse does not
        ("2025-06-20 12:00:00Z", False),
        ("2025-06-20T12:00:00z", False),
        ("2025-06-20T12:00:00", False),
        ("2025-02-30T12:00:00Z", False),
    ],
)
def test_is_go_rfc3339(text: str, accepted: bool) -> None:
    assert is_go_rfc3339(text) is accepted


# RFC 3339 section 5.6 "date-time"; T/Z may be lowercase and the separator may be a space
# (section 5.6, NOTE). Fractions are capped at nine digits: Go never writes more.
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def reference_parse(text: str) -> datetime | None:
    """RFC 3339 section 5.6 as a regular expression: the reference for the hand-written check."""
    if RFC3339.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        return None


@settings(max_examples=2000)
@given(
    st.sampled_from(["2025-06-01T12:34:56", "2025-06-01t23:59:59", "1999-12-31 00:00:00"]),
    st.one_of(st.just(""), st.text("0123456789", max_size=11).map(lambda d: "." + d)),
    st.sampled_from(["Z", "z", "+05:30", "-00:00", "+5:30", "+0530", "", "+05:30:00", "ZZ"]),
    st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(list("0123456789-:.TtZz +,X\u0663"))),
        max_size=2,
    ),
)
def test_the_fast_parser_agrees_with_the_rfc3339_grammar(
    head: str, fraction: str, offset: str, mutations: list[tuple[int, str]]
) -> None:
    chars = list(head + fraction + offset)
    for index, char in mutations:
        if index < len(chars):
            chars[index] = char
    text = "".join(chars)
    try:
        parsed: datetime | None = parse_rfc3339(text)
    except ValueError:
        parsed = None
    assert parsed == reference_parse(text), text


def outcome(parse: Callable[[str], datetime], text: str) -> datetime | None:
    try:
        return parse(text)
    except ValueError:
        return None


@settings(max_examples=2000)
@given(
    st.sampled_from(["2025-06-01T12:34:56", "2025-02-29T23:59:59", "1999-12-31T24:00:00"]),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=9).map(lambda d: "." + d)),
    st.sampled_from(["Z", "+05:30", "-00:00", "+23:59", "+24:00"]),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(list("0123456789"))), max_size=3),
)
def test_fromisoformat_reads_the_uppercase_shapes_as_parse_rfc3339_does(
    head: str, fraction: str, offset: str, mutations: list[tuple[int, str]]
) -> None:
    # The decoder's hot path calls fromisoformat directly for these shapes: digits out of
    # range (month 19, hour 24, February 29th of 2025) must be refused by both alike.
    chars = list(head + fraction + offset)
    for index, char in mutations:
        if index < len(chars) and chars[index].isdigit():
            chars[index] = char
    text = "".join(chars)
    assert text.encode().translate(DIGITS_TO_ZERO) in FROMISOFORMAT_SHAPES
    assert outcome(datetime.fromisoformat, text) == outcome(parse_rfc3339, text), text


def test_the_uppercase_shapes_are_those_of_the_grammar_with_t_and_z() -> None:
    assert len(FROMISOFORMAT_SHAPES) == 10 * 3  # fractions of 0 to 9 digits; Z, +00:00, -00:00
    for shape in FROMISOFORMAT_SHAPES:
        text = shape.decode().replace("0000-00-00", "2025-06-01")
        assert parse_rfc3339(text) == datetime.fromisoformat(text)
        assert text[10] == "T"
        assert not text.endswith("z")


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> None:
        return None


def test_format_rfc3339_refuses_a_datetime_that_does_not_know_its_offset() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_rfc3339(datetime(2025, 6, 20, tzinfo=_NoOffset()))


@pytest.mark.parametrize(
    "text", ["2025-06-20X12:00:00Z", "2025-06-20_12:00:00Z", "2025-06-20T12:00:00.Z"]
)
def test_other_separators_are_not_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 date-time"):
        parse_rfc3339(text)
    with pytest.raises(ValueError, match="not an RFC 3339 date-time"):
        rfc3339_to_epoch_ns(text)


def test_epoch_nanoseconds_of_instants_before_1970_and_with_offsets() -> None:
    assert rfc3339_to_epoch_ns("1969-12-31T23:59:59.5Z") == -500_000_000
    assert rfc3339_to_epoch_ns("1970-01-01T00:00:00.000000001-00:01") == 60 * 10**9 + 1
