from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest

from kernel_async import InvocationStatus
from kernel_async._params import (
    MAX_OFFSET,
    InvocationFilters,
    build_query,
    validate_deadline,
    validate_limit,
    validate_max_items,
    validate_max_retries,
    validate_offset,
    validate_prefetch,
)


def test_build_query_encodes_every_filter_in_a_stable_order() -> None:
    filters = InvocationFilters.create(
        app_name="web-scraper",
        version="1.2.3",
        action_name="scrape",
        deployment_id="dep_1",
        status=InvocationStatus.FAILED,
        since=datetime(2025, 6, 20, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        query="abc",
    )
    assert build_query(filters, limit=50, offset=100) == {
        "app_name": "web-scraper",
        "version": "1.2.3",
        "action_name": "scrape",
        "deployment_id": "dep_1",
        "status": "failed",
        "since": "2025-06-20T12:00:00Z",
        "query": "abc",
        "limit": "50",
        "offset": "100",
    }


def test_build_query_leaves_out_absent_filters_and_the_server_default_limit() -> None:
    assert build_query(InvocationFilters.create(), limit=None, offset=0) == {"offset": "0"}


@pytest.mark.parametrize(
    ("since", "wire"),
    [
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        ("1h30m", "1h30m"),
        ("90s", "90s"),
        ("+5m", "+5m"),
        ("1.25m", "1.25m"),
        ("2562047h", "2562047h"),
        (timedelta(hours=2562047), "2562047h"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-5))), "0001-01-01T05:00:00Z"),
        ("2025-06-20T12:00:00Z", "2025-06-20T12:00:00Z"),
        ("2025-06-20T12:00:00.123456789+02:00", "2025-06-20T12:00:00.123456789+02:00"),
        (datetime(2025, 6, 20, 12, 0, 0, 250, tzinfo=UTC), "2025-06-20T12:00:00.000250Z"),
    ],
)
def test_since_accepts_datetimes_timedeltas_and_strings(since: Any, wire: str) -> None:
    assert InvocationFilters.create(since=since).since == wire


def test_status_accepts_enum_members_and_their_strings() -> None:
    for status in InvocationStatus:
        assert InvocationFilters.create(status=status).status == status.value
        assert InvocationFilters.create(status=status.value).status == status.value


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"status": "cancelled"}, ValueError, "status must be one of"),
        ({"status": "FAILED"}, ValueError, "status must be one of"),
        ({"status": 3}, TypeError, "status must be a str"),
        ({"since": datetime(2025, 6, 20)}, ValueError, "timezone-aware"),
        ({"since": timedelta(seconds=-1)}, ValueError, "negative"),
        ({"since": "yesterday"}, ValueError, "since must be an RFC 3339"),
        ({"since": "2025-06-20"}, ValueError, "since must be an RFC 3339"),
        # Go reads it, as a time in the future: the message says why it is refused.
        ({"since": "-5m"}, ValueError, r"^since must not be a negative duration .* got '-5m'"),
        ({"since": "-1h30m"}, ValueError, r"'1h30m' lists what started in the last 1h30m$"),
        ({"since": "--5m"}, ValueError, "since must be an RFC 3339"),
        ({"since": "-"}, ValueError, "since must be an RFC 3339"),
        ({"since": 300}, TypeError, "since must be a str"),
        ({"app_name": ""}, ValueError, "app_name must not be empty"),
        ({"version": "1.0\n"}, ValueError, "version must not contain control characters"),
        ({"action_name": "a\x00b"}, ValueError, "action_name must not contain control"),
        ({"deployment_id": "dep\r\nX-Evil: 1"}, ValueError, "deployment_id must not contain"),
        ({"query": "\x7f"}, ValueError, "query must not contain control characters"),
        ({"query": ""}, ValueError, "query must not be empty"),
        ({"app_name": b"bytes"}, TypeError, "app_name must be a str"),
        # Lone surrogates: what sys.argv and os.environ hold for bytes that are not UTF-8.
        ({"app_name": "\udcff"}, ValueError, "app_name is not valid text"),
        ({"version": "1.0\udcff"}, ValueError, "version is not valid text"),
        ({"action_name": "a\ud800"}, ValueError, "action_name is not valid text"),
        ({"deployment_id": "\udfff"}, ValueError, "deployment_id is not valid text"),
        ({"query": "caf\udce9"}, ValueError, "query is not valid text"),
        ({"since": "5m\udcff"}, ValueError, "since is not valid text"),
        ({"status": "failed\udcff"}, ValueError, "status is not valid text"),
        # Values out of range: a ValueError, never an OverflowError.
        (
            {"since": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))},
            ValueError,
            "since is out of range",
        ),
        (
            {"since": datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))},
            ValueError,
            "since is out of range",
        ),
        ({"since": timedelta(days=999_999_999)}, ValueError, "since: .* longest Go duration"),
        # Durations as Go reads them: ASCII digits, at most int64 nanoseconds.
        ({"since": "\u0665m"}, ValueError, "since must be an RFC 3339"),
        ({"since": "2562048h"}, ValueError, "since must be an RFC 3339"),
        ({"since": "99999999h"}, ValueError, "since must be an RFC 3339"),
        ({"since": "2025-06-20t12:00:00z"}, ValueError, "since must be an RFC 3339"),
    ],
)
def test_invalid_filters_name_the_parameter(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        InvocationFilters.create(**kwargs)


@pytest.mark.parametrize(
    ("limit", "error"),
    [
        (0, ValueError),
        (101, ValueError),
        (-1, ValueError),
        (True, TypeError),
        (1.0, TypeError),
        ("10", TypeError),
        (None, TypeError),
    ],
)
def test_limit_must_be_an_int_from_1_to_100(limit: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="limit"):
        validate_limit(limit)


def test_limit_bounds_are_inclusive() -> None:
    assert validate_limit(1) == 1
    assert validate_limit(100) == 100


@pytest.mark.parametrize(
    ("offset", "error"),
    [
        (-1, ValueError),
        (False, TypeError),
        (2.0, TypeError),
        (MAX_OFFSET + 1, ValueError),  # past the server's int64
        (10**400, ValueError),
    ],
)
def test_offset_must_be_a_non_negative_int64(offset: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="offset"):
        validate_offset(offset)


def test_offset_bounds_are_inclusive() -> None:
    assert MAX_OFFSET == 2**63 - 1
    assert validate_offset(0) == 0
    assert validate_offset(MAX_OFFSET) == MAX_OFFSET


def test_prefetch_is_an_int_from_1_to_the_connection_limit() -> None:
    assert validate_prefetch(1, connection_limit=4) == 1
    assert validate_prefetch(4, connection_limit=4) == 4
    for bad in (0, 5, -1):
        with pytest.raises(ValueError, match=r"prefetch must be between 1 and .*\(4\)"):
            validate_prefetch(bad, connection_limit=4)
    for wrong in (2.0, True, "2", None):
        with pytest.raises(TypeError, match="prefetch must be an int"):
            validate_prefetch(wrong, connection_limit=4)


@pytest.mark.parametrize("validate", [validate_max_items, validate_max_retries])
def test_max_items_and_max_retries_are_none_or_ints_from_0(validate: Any) -> None:
    name = validate.__name__.removeprefix("validate_")
    assert validate(None) is None
    assert validate(0) == 0
    assert validate(10**30) == 10**30
    with pytest.raises(ValueError, match=f"{name} must be >= 0, got -1"):
        validate(-1)
    for wrong in (1.0, False, "3"):
        with pytest.raises(TypeError, match=f"{name} must be an int"):
            validate(wrong)


@pytest.mark.parametrize(
    ("deadline", "expected"), [(None, None), (1, 1.0), (0.001, 0.001), (10**300, 1e300)]
)
def test_a_deadline_is_none_or_finite_seconds(deadline: Any, expected: float | None) -> None:
    result = validate_deadline(deadline)
    assert result == expected
    assert result is None or type(result) is float


@pytest.mark.parametrize(
    ("deadline", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (-0.5, ValueError),
        (float("inf"), ValueError),
        (float("nan"), ValueError),
        (10**400, ValueError),  # past the largest float: a ValueError, not an OverflowError
        (-(10**400), ValueError),
        (True, TypeError),
        ("5", TypeError),
    ],
)
def test_bad_deadlines_name_the_parameter(deadline: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="deadline"):
        validate_deadline(deadline)


def test_the_offset_is_sent_as_given() -> None:
    query = build_query(InvocationFilters(), limit=None, offset=MAX_OFFSET)
    assert query == {"offset": str(MAX_OFFSET)}


# -- edges the mutation run found untested ---------------------------------------------------


def test_spaces_and_unicode_are_valid_filter_text() -> None:
    filters = InvocationFilters.create(app_name="my app", query="caf\u00e9 \U0001f600")
    assert (filters.app_name, filters.query) == ("my app", "caf\u00e9 \U0001f600")


def test_enum_statuses_are_encoded_as_plain_strings() -> None:
    status = InvocationFilters.create(status=InvocationStatus.FAILED).status
    assert type(status) is str
    assert status == "failed"


def test_an_unknown_status_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="status") as caught:
        InvocationFilters.create(status="cancelled")
    assert str(caught.value) == (
        "status must be one of queued, running, succeeded, failed; got 'cancelled'"
    )


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: the datetime is as good as naive."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None


def test_since_needs_a_datetime_that_knows_its_offset() -> None:
    with pytest.raises(ValueError, match=r"^since must be timezone-aware"):
        InvocationFilters.create(since=datetime(2025, 6, 20, tzinfo=_NoOffset()))


def test_since_takes_a_zero_timedelta_and_names_a_negative_one() -> None:
    assert InvocationFilters.create(since=timedelta(0)).since == "0s"
    with pytest.raises(ValueError, match=r"^since must not be a negative timedelta"):
        InvocationFilters.create(since=timedelta(microseconds=-1))


@pytest.mark.parametrize(
    ("validate", "name"), [(validate_limit, "limit"), (validate_offset, "offset")]
)
def test_type_errors_name_the_parameter_first(validate: Any, name: str) -> None:
    with pytest.raises(TypeError, match=f"^{name} must be an int, not float$"):
        validate(1.0)


def test_filters_are_built_by_keyword() -> None:
    with pytest.raises(TypeError):
        InvocationFilters("app")  # type: ignore[misc]


def test_filters_are_values_equal_by_what_they_filter() -> None:
    one = InvocationFilters.create(app_name="bot", status="failed")
    same = InvocationFilters(status="failed", app_name="bot")
    assert one == same
    assert hash(one) == hash(same)
    assert one != InvocationFilters.create(app_name="bot")
    assert one != one.as_query()  # not a dict, though it holds the same
    assert one.as_query() == {"app_name": "bot", "status": "failed"}  # in the query's order
    assert list(one.as_query()) == ["app_name", "status"]
    assert repr(one) == "InvocationFilters(app_name='bot', status='failed')"
