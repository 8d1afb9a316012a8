"""Retry decisions and delays: pure functions, an injected clock and random source, no sleeping."""

import math
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_async import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    PaginationError,
    RetryPolicy,
)
from kernel_async._protocol import status_error
from kernel_async._retry import (
    RetryDecision,
    backoff_delay,
    decide_retry,
    parse_retry_after,
    worth_retrying,
)

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


@pytest.mark.parametrize(
    ("error", "worth_it"),
    [
        (APIConnectionError("refused"), True),
        (APITimeoutError("slow", limit="read"), True),
        (APITimeoutError("late", limit="deadline"), False),
        (status(503), True),
        (status(429), True),
        (status(503, **{"X-Should-Retry": "false"}), False),
        (status(401), False),
        (status(302), False),
        (APIResponseValidationError("html", retryable=True), True),
        (APIResponseValidationError("shape"), False),
        (PaginationError("contradictory"), False),
        (RuntimeError("not about the API"), False),
    ],
)
def test_worth_retrying_is_what_a_decision_calls_retryable(
    error: BaseException, worth_it: bool
) -> None:
    assert worth_retrying(error) is worth_it
    if not isinstance(error, RuntimeError):
        exhausted = decide(error, retries_done=POLICY.max_retries)
        assert exhausted.retryable is worth_it  # the budget aside, the same verdict


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
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": " 2 "}, 2.0),
        ({"Retry-After": "1e1"}, 10.0),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after-ms": "nan", "Retry-After": "4"}, 4.0),  # not a number: skipped
        ({"retry-after-ms": "-5", "Retry-After": "2"}, 0.0),  # a number: the hint, as the SDK
        ({"retry-after-ms": "0", "Retry-After": "2"}, 0.0),
        ({"retry-after-ms": "soon", "Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "1500.5"}, 1.5005),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


# -- header names are case-insensitive (RFC 9110 section 5.1) ------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After-Ms": "250"},  # Go's canonical spelling
        {"RETRY-AFTER-MS": "250"},
        {"retry-after": "0.25"},
        {"RETRY-AFTER": "0.25"},
    ],
)
def test_hint_names_are_case_insensitive(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers, now=NOW) == 0.25
    decision = decide(status(503, **headers))
    assert (decision.retry, decision.delay) == (True, 0.25)


@pytest.mark.parametrize("name", ["retry-after", "RETRY-AFTER", "Retry-After-Ms"])
def test_a_hint_over_the_cap_fails_fast_whatever_its_spelling(name: str) -> None:
    value = "120000" if name.lower().endswith("ms") else "120"
    decision = decide(status(503, **{name: value}))
    assert not decision.retry
    assert decision.retryable
    assert "cap" in decision.reason


@pytest.mark.parametrize("name", ["x-should-retry", "X-Should-Retry", "X-SHOULD-RETRY"])
def test_x_should_retry_is_read_whatever_the_spelling_of_its_name(name: str) -> None:
    assert decide(status(400, **{name: "true"})).retry
    assert not decide(status(503, **{name: "false"})).retry


@pytest.mark.parametrize("value", ["True", "TRUE", "1", "yes", ""])
def test_x_should_retry_takes_only_lowercase_true_and_false_as_the_sdk(value: str) -> None:
    # Any other value is no verdict: the status decides.
    assert not decide(status(400, **{"x-should-retry": value})).retry
    assert decide(status(503, **{"x-should-retry": value})).retry


def test_status_errors_keep_headers_case_insensitive() -> None:
    error = status_error(503, {"retry-after": "3", "X-Request-Id": "req_1"}, b"")
    assert error.headers["Retry-After"] == "3"
    assert error.headers["x-request-id"] == "req_1"
    assert error.request_id == "req_1"


# -- malformed hints never raise; out-of-range hints back off, as the official SDK -----------


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 99999999999999999999999:49:37 GMT",  # an absurd hour
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 31 Feb 2026 08:49:37 GMT",
        "Sun, 06 Nov 99999999999 08:49:37 GMT",
        "9" * 5000,
        "1e309",
        "-1e309",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "1_000",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: float() takes it, HTTP does not
        "0x10",
        "",
        "   ",
    ],
)
def test_malformed_retry_after_is_no_hint_and_never_raises(value: str) -> None:
    for headers in ({"Retry-After": value}, {"retry-after-ms": value}):
        assert parse_retry_after(headers, now=NOW) is None
        decision = decide(status(503, **headers))
        assert (decision.retry, decision.delay) == (True, 0.5)  # the backoff


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "0"},
        {"Retry-After": "-3"},
        {"retry-after-ms": "0"},
        {"retry-after-ms": "-100"},
        {
            "Retry-After": format_datetime(
                datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=7), usegmt=True
            )
        },
    ],
)
def test_a_hint_of_now_or_the_past_backs_off_as_the_sdk(headers: dict[str, str]) -> None:
    decision = decide(status(503, **headers), retries_done=1)
    assert (decision.retry, decision.delay) == (True, 1.0)
    assert "backoff" in decision.reason


@pytest.mark.parametrize(("value", "delay"), [("1.5", 1.5), ("60", 60.0), ("0.001", 0.001)])
def test_hints_within_the_cap_are_honoured_as_floats(value: str, delay: float) -> None:
    decision = decide(status(429, **{"Retry-After": value}))
    assert (decision.retry, decision.delay) == (True, delay)
    assert "as the server asked" in decision.reason


def test_the_cap_is_inclusive() -> None:
    assert decide(status(503, **{"Retry-After": "60"})).retry
    assert not decide(status(503, **{"Retry-After": "60.001"})).retry
    assert decide(status(503, **{"retry-after-ms": "60000"})).retry
    assert not decide(status(503, **{"retry-after-ms": "60001"})).retry


def test_an_http_date_without_a_zone_is_gmt() -> None:
    # RFC 9110 section 5.6.7: the obsolete asctime form has no zone and is GMT all the same.
    when = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=9)
    asctime = when.strftime("%a %b %d %H:%M:%S %Y")
    assert parse_retry_after({"Retry-After": asctime}, now=NOW) == 9.0
    offset = when.astimezone(timezone(timedelta(hours=2))).strftime("%a, %d %b %Y %H:%M:%S +0200")
    assert parse_retry_after({"Retry-After": offset}, now=NOW) == 9.0


@pytest.mark.parametrize("zone", ["+" + "9" * 400, "-" + "9" * 400, "9" * 400, "+2400", "-2400"])
def test_a_date_whose_zone_is_a_day_or_more_is_no_hint_and_never_raises(zone: str) -> None:
    # "+" and 400 digits once overflowed float arithmetic (a raw OverflowError replaced the
    # typed 503); the official SDK's parsedate_to_datetime refuses a zone of 24 h or more.
    value = f"Wed, 21 Oct 2015 07:28:00 {zone}"
    assert parse_retry_after({"Retry-After": value}, now=NOW) is None
    decision = decide(status(503, **{"Retry-After": value}))
    assert (decision.retry, decision.delay) == (True, 0.5)  # the backoff


def test_a_zone_just_under_a_day_is_read() -> None:
    when = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=9)
    for hours, zone in ((23, "+2359"), (-23, "-2359")):
        local = when.astimezone(timezone(timedelta(hours=hours, minutes=59 if hours > 0 else -59)))
        value = local.strftime(f"%a, %d %b %Y %H:%M:%S {zone}")
        assert parse_retry_after({"Retry-After": value}, now=NOW) == 9.0


def test_the_backoff_never_overflows_however_many_retries() -> None:
    # 2.0**1024 overflows a float: the 1025th retry raised OverflowError instead of waiting.
    assert backoff_delay(1024, POLICY, random=0.0) == 8.0
    assert backoff_delay(5000, RetryPolicy(initial_delay=0.0, max_delay=0.0), random=0.0) == 0.0
    assert backoff_delay(1023, POLICY, random=0.0) == 8.0


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["Retry-After", "retry-after-ms", "RETRY-AFTER", "Retry-After-Ms"]),
    value=st.text()
    | st.from_regex(r"[+-]?[0-9]{0,400}(\.[0-9]*)?([eE][+-]?[0-9]{1,5})?", fullmatch=True)
    | st.builds(
        "{}, {:02d} {} {} {}:{}:{} {}".format,
        st.sampled_from(["Sun", "Mon", "Xyz"]),
        st.integers(-5, 40),
        st.sampled_from(["Jan", "Feb", "Nov", "Foo"]),
        st.integers(-(10**30), 10**30),
        st.integers(-(10**30), 10**30),
        st.integers(-100, 100),
        st.integers(-100, 100),
        st.sampled_from(["GMT", "+0200", "-9999", "", "XYZ"]),
    ),
)
def test_any_header_text_gives_none_or_a_finite_wait(name: str, value: str) -> None:
    seconds = parse_retry_after({name: value}, now=NOW)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)
    decision = decide(status(503, **{name: value}))
    assert decision.retryable


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
        ({"initial_delay": 10**400}, ValueError),  # not an OverflowError at the first retry
        ({"max_delay": 10**400}, ValueError),
        ({"max_retry_after": 10**400}, ValueError),
    ],
)
def test_policy_fields_are_checked(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# -- edges: statuses just outside the retried ones, inclusive bounds, exact reasons ----------


@pytest.mark.parametrize("code", [407, 410, 428, 430, 499, 600, 200, 204, 302])
def test_statuses_next_to_the_retried_ones_are_not_retried(code: int) -> None:
    # 600 and above are no HTTP status (RFC 9110 section 15: 100 to 599).
    decision = decide(status(code))
    assert (decision.retry, decision.retryable) == (False, False)
    assert decision.reason == f"status {code} is not retried"


@pytest.mark.parametrize("code", [408, 409, 429, 500, 599])
def test_the_edges_of_the_retried_statuses_are_retried(code: int) -> None:
    assert decide(status(code)).retry


def test_a_wait_of_exactly_the_time_left_is_not_made() -> None:
    assert not decide(status(500), time_left=0.5).retry  # backoff 0.5 s, 0.5 s left
    assert not decide(status(503, **{"Retry-After": "2"}), time_left=2.0).retry


def test_reasons_say_what_failed_and_why_exactly() -> None:
    assert decide(status(429, **{"Retry-After": "3"})).reason == (
        "status 429; retrying in 3.00 s (as the server asked)"
    )
    assert decide(status(502)).reason == "status 502; retrying in 0.50 s (backoff)"
    assert decide(APIConnectionError("reset")).reason == (
        "a connection error; retrying in 0.50 s (backoff)"
    )
    assert decide(APITimeoutError("slow", limit="read")).reason == (
        "read timeout; retrying in 0.50 s (backoff)"
    )
    assert decide(APITimeoutError("slow")).reason == "a timeout; retrying in 0.50 s (backoff)"
    assert decide(APIResponseValidationError("cut", retryable=True)).reason == (
        "an undecodable body; retrying in 0.50 s (backoff)"
    )
    assert decide(PaginationError("x")).reason == "PaginationError is not retried"


def test_decisions_not_to_retry_carry_no_delay_and_no_throttle() -> None:
    for decision in (
        decide(status(400)),
        decide(status(429), retries_done=2),
        decide(status(429, **{"Retry-After": "600"})),
        decide(status(429), time_left=0.1),
    ):
        assert (decision.retry, decision.delay, decision.throttle) == (False, 0.0, False)


@pytest.mark.parametrize("name", ["initial_delay", "max_delay", "jitter", "max_retry_after"])
def test_policy_bounds_are_inclusive_and_errors_name_the_field(name: str) -> None:
    assert getattr(RetryPolicy(**{name: 0}), name) == 0
    with pytest.raises(ValueError, match=rf"^RetryPolicy\.{name} must be a number >= 0"):
        RetryPolicy(**{name: -1})  # type: ignore[arg-type]
    assert RetryPolicy(jitter=1).jitter == 1
    assert RetryPolicy(max_retries=0).max_retries == 0


def test_policy_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[misc]


def test_a_decision_shows_every_field_in_its_repr() -> None:
    # What a debugger, a log of decisions or a failing assertion shows of one.
    decision = RetryDecision(False, "status 429", delay=1.5, throttle=True, retryable=True)
    assert repr(decision) == (
        "RetryDecision(retry=False, reason='status 429', delay=1.5, throttle=True, retryable=True)"
    )
