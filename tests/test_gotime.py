"""The emulator's Go parsers, and a table that client validation and emulator must agree on."""

from typing import Any

import aiohttp
import pytest

from kernel_async._params import InvocationFilters
from kernel_async.testing import KernelEmulator
from kernel_async.testing._gotime import GoParseError, parse_duration, parse_rfc3339

from conftest import NOW

NS, US, MS, S = 1, 1_000, 1_000_000, 1_000_000_000
M, H = 60 * S, 3600 * S

# Go's own table (src/time/time_test.go, parseDurationTests), values in nanoseconds.
GO_DURATIONS = [
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", 1 * S),
    ("1.00s", 1 * S),
    ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12\u00b5s", 12 * US),  # MICRO SIGN
    ("12\u03bcs", 12 * US),  # GREEK SMALL LETTER MU
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000 * NS),
    ("0.3333333333333333333h", 20 * M),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("-9223372036854775.808us", -(1 << 63)),
    ("-9223372036s854ms775us808ns", -(1 << 63)),
    ("-2562047h47m16.854775808s", -(1 << 63)),
    ("0.100000000000000000000h", 6 * M),
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
]
GO_DURATION_ERRORS = [
    "",
    "3",
    "-",
    "s",
    ".",
    "-.",
    ".s",
    "+.s",
    "1d",
    "\x85\x85",
    "\xffff",
    "hello \xffff world",
    "9223372036854775808ns",
    "9223372036854775.808us",
    "9223372036854ms775us808ns",
    "-9223372036854775809ns",
    # Beyond Go's table: what the emulator used to get wrong, and non-ASCII digits.
    "99999999h",
    "2562048h",
    "\u0665m",
    "00",
    "5 m",
    " 5m",
]


@pytest.mark.parametrize(("text", "nanoseconds"), GO_DURATIONS)
def test_durations_parse_as_go_parses_them(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", GO_DURATION_ERRORS)
def test_durations_go_refuses_are_refused(text: str) -> None:
    with pytest.raises(GoParseError, match="time: "):
        parse_duration(text)


def test_a_total_that_wraps_uint64_is_zero_as_in_go() -> None:
    # Each term is 2**63, which Go allows until the end; the uint64 sum wraps to 0.
    assert parse_duration("9223372036854775808ns9223372036854775808ns") == 0


EPOCH_2006 = 1136214245 * S  # 2006-01-02T15:04:05Z

GO_RFC3339 = [
    ("2006-01-02T15:04:05Z", EPOCH_2006),
    ("2006-01-02T15:04:05+07:00", EPOCH_2006 - 7 * H),
    ("2006-01-02T15:04:05-07:30", EPOCH_2006 + 7 * H + 30 * M),
    ("2006-01-02T15:04:05.999999999Z", EPOCH_2006 + 999_999_999),
    ("2006-01-02T15:04:05.5Z", EPOCH_2006 + 500 * MS),
    # The general layout parser, which time.Parse falls back to, is more lenient:
    ("2006-01-02T15:04:05.1234567891234Z", EPOCH_2006 + 123_456_789),  # nine digits kept
    ("2006-01-02T15:04:05,5Z", EPOCH_2006 + 500 * MS),  # a comma
    ("2006-01-02T5:04:05Z", EPOCH_2006 - 10 * H),  # a one-digit hour
    ("2006-01-02T15:04:05+24:00", EPOCH_2006 - 24 * H),  # "some people write 24 hours"
    ("2006-01-02T15:04:05-00:60", EPOCH_2006 + 60 * M),
    ("1970-01-01T00:00:00Z", 0),
    ("1969-12-31T23:59:59.999999999Z", -1),
    ("0000-01-01T00:00:00Z", -62167219200 * S),  # year 0, which Python's datetime lacks
    ("2000-02-29T00:00:00Z", 951782400 * S),
    ("9999-12-31T23:59:59Z", 253402300799 * S),
]
GO_RFC3339_ERRORS = [
    "2006-01-02t15:04:05Z",
    "2006-01-02T15:04:05z",
    "2006-01-02 15:04:05Z",
    "2006-01-02T15:04:05",
    "2006-01-02T15:04:60Z",
    "2006-01-02T24:00:00Z",
    "2006-01-02T15:60:05Z",
    "2006-13-02T15:04:05Z",
    "2006-00-02T15:04:05Z",
    "2006-02-29T15:04:05Z",
    "1900-02-29T15:04:05Z",
    "2006-04-31T15:04:05Z",
    "2006-01-00T15:04:05Z",
    "2006-1-02T15:04:05Z",
    "2006-01-2T15:04:05Z",
    "2006-01-02T15:4:05Z",
    "2006-01-02T15:04:5Z",
    "2006-01-02T115:04:05Z",
    "2006-01-02T15:04:05+25:00",
    "2006-01-02T15:04:05+07:61",
    "2006-01-02T15:04:05+0700",
    "2006-01-02T15:04:05+7:00",
    "2006-01-02T15:04:05*07:00",
    "2006-01-02T15:04:05.Z",
    "2006-01-02T15:04:05ZZ",
    "2006-01-02T15:04:05Z ",
    "-2006-01-02T15:04:05Z",
    "+2006-01-02T15:04:05Z",
    "20060-01-02T15:04:05Z",
    "206-01-02T15:04:05Z",
    "2006-01-02T15:04:05.\u0665Z",
    "\u0662006-01-02T15:04:05Z",
    "",
    "5m",
]


@pytest.mark.parametrize(("text", "epoch_ns"), GO_RFC3339)
def test_rfc3339_parses_as_go_parses_it(text: str, epoch_ns: int) -> None:
    assert parse_rfc3339(text) == epoch_ns


@pytest.mark.parametrize("text", GO_RFC3339_ERRORS)
def test_rfc3339_go_refuses_is_refused(text: str) -> None:
    with pytest.raises(GoParseError):
        parse_rfc3339(text)


# -- one table for the client's validation and the emulator ---------------------------------

# (since, the client sends it, the server takes it, why they differ). The client may be
# stricter than Go, never more lenient: what it sends, the server must take.
STRICTER = "deliberately stricter"
SINCE_TABLE: list[tuple[str, bool, bool, str]] = [
    ("5m", True, True, ""),
    ("1h30m", True, True, ""),
    ("1.5h", True, True, ""),
    ("1.25m", True, True, "multi-digit fraction"),
    ("+5m", True, True, "Go takes a plus sign"),
    ("0", True, True, ""),
    ("+0", True, True, ""),
    (".5s", True, True, ""),
    ("5.s", True, True, ""),
    ("10\u00b5s", True, True, "MICRO SIGN"),
    ("10\u03bcs", True, True, "GREEK SMALL LETTER MU"),
    ("1h1m1s1ms1us1ns", True, True, ""),
    ("2562047h", True, True, "just under int64 nanoseconds"),
    ("2562047h47m16.854775807s", True, True, "the longest Go duration"),
    ("2562047h47m16.854775808s", False, False, "one nanosecond past it"),
    ("2562048h", False, False, "past int64 nanoseconds"),
    ("0000000000000000000000001s", True, True, "leading zeros"),
    ("9223372036854775807ns", True, True, "19 digits"),
    ("99999999h", False, False, "past int64 nanoseconds"),
    ("9223372036854775808ns", False, False, ""),
    ("\u0665m", False, False, "ARABIC-INDIC DIGIT FIVE is no digit to Go"),
    ("5\uff4d", False, False, "FULLWIDTH m is no unit"),
    ("5d", False, False, ""),
    ("5", False, False, "missing unit"),
    ("00", False, False, ""),
    ("1e3s", False, False, ""),
    (" 5m", False, False, ""),
    ("-5m", False, True, f"{STRICTER}: a negative duration points into the future"),
    ("-0", True, True, "Go reads a negative zero as 0"),
    ("-0s", True, True, "Go reads a negative zero as 0"),
    ("-0.0s", True, True, 'f"{-0.0}s": Go reads it as 0'),
    ("-1ns", False, True, f"{STRICTER}: a negative duration points into the future"),
    ("", False, True, f"{STRICTER}: empty is no filter to Go; the client wants None"),
    ("2025-06-20T12:00:00Z", True, True, ""),
    ("2025-06-20T12:00:00.123456789+02:00", True, True, ""),
    ("2025-06-20T12:00:00+23:59", True, True, ""),
    ("2025-06-20T12:00:00-00:00", True, True, ""),
    ("2024-02-29T12:00:00Z", True, True, "a leap day"),
    ("2025-02-29T12:00:00Z", False, False, "no leap day in 2025"),
    ("2025-06-20t12:00:00z", False, False, "lowercase: RFC 3339 allows it, Go does not"),
    ("2025-06-20 12:00:00Z", False, False, "a space: RFC 3339 allows it, Go does not"),
    ("2025-06-20T12:00:00", False, False, "no zone"),
    ("2025-06-20T12:00:60Z", False, False, "a leap second"),
    ("2025-06-20T24:00:00Z", False, False, ""),
    ("2025-06-20", False, False, ""),
    ("2025-06-20T12:00:00.1234567891Z", False, True, f"{STRICTER}: ten fractional digits"),
    ("2025-06-20T12:00:00,5Z", False, True, f"{STRICTER}: a comma is not RFC 3339"),
    ("2025-06-20T1:00:00Z", False, True, f"{STRICTER}: a one-digit hour is not RFC 3339"),
    ("2025-06-20T12:00:00+24:00", False, True, f"{STRICTER}: an offset of 24 hours"),
    ("0000-01-01T00:00:00Z", False, True, f"{STRICTER}: Python's datetime has no year 0"),
]


def client_sends(since: str) -> bool:
    try:
        InvocationFilters.create(since=since)
    except ValueError:
        return False
    return True


async def server_takes(
    session: aiohttp.ClientSession, emulator: KernelEmulator, since: str
) -> bool:
    async with session.get(
        f"{emulator.url}invocations",
        params={"since": since},
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    ) as response:
        body: Any = await response.json()
        assert response.status in (200, 400), body
        if response.status == 400:
            assert body["code"] == "bad_request"
            assert since in body["message"]
        return response.status == 200


async def test_client_validation_and_the_emulator_agree_on_since() -> None:
    async with KernelEmulator(count=5, now=NOW) as emulator, aiohttp.ClientSession() as session:
        verdicts = [
            (since, client_sends(since), await server_takes(session, emulator, since))
            for since, *_ in SINCE_TABLE
        ]
    expected = [(since, client, server) for since, client, server, _ in SINCE_TABLE]
    assert verdicts == expected
    for since, client, server, why in SINCE_TABLE:
        assert not (client and not server), f"the client sends {since!r}, which Go refuses"
        if client != server:
            assert why.startswith(STRICTER), since


async def test_what_the_client_sends_reaches_the_emulator_intact() -> None:
    sent = [since for since, client, *_ in SINCE_TABLE if client]
    async with KernelEmulator(count=5, now=NOW) as emulator, emulator.client() as client:
        for since in sent:
            await client.invocations.list_page(since=since)
    assert [request.query["since"] for request in emulator.requests] == sent


async def test_a_negative_duration_selects_nothing_on_the_emulator() -> None:
    # What Go would do with since=-5m: the start is five minutes ahead of now.
    async with (
        KernelEmulator(count=5, now=NOW) as emulator,
        aiohttp.ClientSession() as session,
        session.get(
            f"{emulator.url}invocations",
            params={"since": "-5m"},
            headers={"Authorization": f"Bearer {emulator.api_key}"},
        ) as response,
    ):
        assert (response.status, await response.json()) == (200, [])
