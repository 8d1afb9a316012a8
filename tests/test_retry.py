"""Retry decisions and delays: pure functions, an injected clock and random source, no sleeping."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from kernel_async import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    PaginationError,
    RetryPolicy,
)
from kernel_async._protocol import status_error
from kernel_async._retry import backoff_delay, decide_retry, parse_retry_after

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
POLICY = RetryPolicy()


def decide(
    error: object,
    retries_done: int = 0,
    time_left: float | None = None,
    random: float = 0.0,
    policy: RetryPolicy = POLICY,
):
    return decide_retry(
        error, retries_done=retries_done, policy=policy, now=NOW, time_left=time_left, random=random
    )  # type: ignore[arg-type]


def status(code: int, **headers: str):
    return status_error(code, headers, b"")


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(code: int) -> None:
    decision = decide(status(code))
    assert decision.retry
    assert decision.delay == 0.5


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422, 302])
def test_client_errors_are_not_retried(code: int) -> None:
    decision = decide(status(code))
    assert not decision.retry
    assert not decision.retryable


def test_x_should_retry_overrides_the_status() -> None:
    assert decide(status(400, **{"x-should-retry": "true"})).retry
    assert not decide(status(503, **{"x-should-retry": "false"})).retry
    assert decide(status(503, **{"X-Should-Retry": "true"})).retry  # any spelling of the name


def test_connection_errors_and_attempt_timeouts_are_retried_the_deadline_is_not() -> None:
    assert decide(APIConnectionError("reset")).retry
    assert decide(APITimeoutError("slow", limit="read")).retry
    assert not decide(APITimeoutError("late", limit="deadline")).retry


def test_undecodable_bodies_are_retried_wrong_shapes_are_not() -> None:
    assert decide(APIResponseValidationError("empty", retryable=True)).retry
    assert not decide(APIResponseValidationError("id is null", path="$[0].id")).retry
    assert not decide(PaginationError("contradiction")).retry


def test_exponential_backoff_with_jitter_capped_at_8_seconds() -> None:
    delays = [backoff_delay(n, POLICY, random=0.0) for n in range(7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff_delay(0, POLICY, random=0.999) == pytest.approx(0.5 * 0.75, abs=1e-3)
    assert backoff_delay(3, POLICY, random=0.5) == pytest.approx(4.0 * 0.875)


def test_the_retry_budget_is_max_retries() -> None:
    assert decide(status(500), retries_done=1).retry
    decision = decide(status(500), retries_done=2)
    assert not decision.retry
    assert decision.retryable
    assert "none left" in decision.reason
    assert not decide(status(500), policy=RetryPolicy(max_retries=0)).retry


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        (
            {
                "Retry-After": format_datetime(
                    datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=7), usegmt=True
                )
            },
            7.0,
        ),
        (
            {
                "Retry-After": format_datetime(
                    datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=7), usegmt=True
                )
            },
            0.0,
        ),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after-ms": "-5", "Retry-After": "2"}, 2.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


def test_a_server_hint_replaces_the_backoff() -> None:
    decision = decide(status(429, **{"Retry-After": "3"}))
    assert (decision.retry, decision.delay, decision.throttle) == (True, 3.0, True)
    assert "as the server asked" in decision.reason


def test_a_hint_over_the_cap_fails_fast() -> None:
    decision = decide(status(503, **{"Retry-After": "120"}))
    assert not decision.retry
    assert decision.retryable
    assert "cap" in decision.reason


def test_a_wait_past_the_deadline_fails_fast() -> None:
    decision = decide(status(503, **{"Retry-After": "5"}), time_left=4.0)
    assert not decision.retry
    assert "deadline" in decision.reason
    assert not decide(status(500), time_left=0.4).retry  # backoff 0.5 s > 0.4 s left
    assert decide(status(500), time_left=0.6).retry


def test_only_429_and_503_throttle_the_whole_client() -> None:
    assert decide(status(429)).throttle
    assert decide(status(503)).throttle
    assert not decide(status(500)).throttle
    assert not decide(APIConnectionError("x")).throttle


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, TypeError),
        ({"max_retries": True}, TypeError),
        ({"initial_delay": -0.1}, ValueError),
        ({"max_delay": "8"}, ValueError),
        ({"jitter": 1.5}, ValueError),
        ({"max_retry_after": float("nan")}, ValueError),
    ],
)
def test_policy_fields_are_checked(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
