from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kernel_async import InvocationStatus
from kernel_async._params import InvocationFilters, build_query, validate_limit, validate_offset


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
        ({"since": "-5m"}, ValueError, "since must be an RFC 3339"),
        ({"since": 300}, TypeError, "since must be a str"),
        ({"app_name": ""}, ValueError, "app_name must not be empty"),
        ({"version": "1.0\n"}, ValueError, "version must not contain control characters"),
        ({"action_name": "a\x00b"}, ValueError, "action_name must not contain control"),
        ({"deployment_id": "dep\r\nX-Evil: 1"}, ValueError, "deployment_id must not contain"),
        ({"query": "\x7f"}, ValueError, "query must not contain control characters"),
        ({"query": ""}, ValueError, "query must not be empty"),
        ({"app_name": b"bytes"}, TypeError, "app_name must be a str"),
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
    ("offset", "error"), [(-1, ValueError), (False, TypeError), (2.0, TypeError)]
)
def test_offset_must_be_a_non_negative_int(offset: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="offset"):
        validate_offset(offset)
    assert validate_offset(0) == 0
