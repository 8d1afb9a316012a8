"""Retry decisions and delays, as plain functions of values (clock and randomness injected).

What is retried, and how long to wait, follows the official SDK so that users migrating see the
same behaviour (docs/api-behaviour.md): a hint is read as a number of seconds (a float) or
an HTTP date and honoured when it is within (0, 60] seconds; otherwise the backoff applies.
The deliberate differences, each listed in docs/retries.md:

* a server hint (``Retry-After``, ``retry-after-ms``) longer than the cap is obeyed by *not*
  retrying, instead of hammering a server that asked for quiet with a shorter backoff;
* a delay that would pass the caller's deadline is not slept: the error is raised at once;
* a number is ASCII decimal notation only (Python's ``float`` also takes ``1_000``, ``inf``,
  ``nan`` and digits of other scripts), and an HTTP date without a zone is GMT, as RFC 9110
  section 5.6.7 says of every HTTP date (the SDK reads it as local time);
* a hint that is not a finite number or a valid date is no hint: nothing raises.

HTTP semantics: ``Retry-After`` is delay-seconds or an HTTP-date (RFC 9110 section 10.2.3);
field names are case-insensitive (RFC 9110 section 5.1).
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final

import attrs

from kernel_async._defaults import DEFAULT_MAX_RETRIES
from kernel_async._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
)
from kernel_async._headers import case_insensitive

__all__ = [
    "RETRY_STATUSES",
    "THROTTLE_STATUSES",
    "RetryDecision",
    "RetryPolicy",
    "backoff_delay",
    "decide_retry",
    "parse_retry_after",
    "worth_retrying",
]

RETRY_STATUSES: Final = frozenset({408, 409, 429, *range(500, 600)})
"""Statuses worth another attempt of a GET, as the official SDK retries: 408, 409, 429, 5xx."""

THROTTLE_STATUSES: Final = frozenset({429, 503})
"""Statuses that mean "slow down": every request of the client waits, not just this one."""


def _non_negative(name: str) -> Callable[[object, object, object], None]:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"RetryPolicy.{name} must be a number >= 0, got {value!r}")
        try:
            float(value)  # delays are computed in floats: 10**400 would overflow there
        except OverflowError:
            raise ValueError(f"RetryPolicy.{name} is too large, got {value!r}") from None

    return check


def _check_max_retries(_instance: object, _attribute: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_retries must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"max_retries must be >= 0, got {value}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried.

    The defaults are the official SDK's: 2 retries, backoff ``min(0.5 * 2**n, 8)`` seconds
    minus up to 25 % jitter, server hints honoured up to 60 seconds.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        initial_delay: The first backoff, in seconds; it doubles with each retry.
        max_delay: The longest backoff, in seconds.
        jitter: The largest fraction taken off a backoff at random, so that clients that
            failed together do not retry together.
        max_retry_after: The longest server hint obeyed; a longer one ends the call instead.
    """

    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES, validator=_check_max_retries)
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative("initial_delay"))
    max_delay: float = attrs.field(default=8.0, validator=_non_negative("max_delay"))
    jitter: float = attrs.field(default=0.25, validator=_non_negative("jitter"))
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative("max_retry_after"))

    def __attrs_post_init__(self) -> None:
        if self.jitter > 1:
            raise ValueError(f"RetryPolicy.jitter must be between 0 and 1, got {self.jitter}")


class RetryDecision:
    """Whether to try again, after how long, and why (for logs and error notes); read-only.

    ``retryable`` is false when the error is never retried (a 400, say), and true when it is
    retried or would have been but for the retry budget, the cap on hints or the deadline.
    A plain class, not an attrs one: attrs would generate methods it does not need at import.
    """

    __slots__ = ("delay", "reason", "retry", "retryable", "throttle")

    def __init__(
        self,
        retry: bool,
        reason: str,
        delay: float = 0.0,
        throttle: bool = False,
        retryable: bool = True,
    ) -> None:
        self.retry: Final = retry
        self.reason: Final = reason
        self.delay: Final = delay
        self.throttle: Final = throttle
        self.retryable: Final = retryable

    def __repr__(self) -> str:
        return (
            f"RetryDecision(retry={self.retry}, reason={self.reason!r}, delay={self.delay}, "
            f"throttle={self.throttle}, retryable={self.retryable})"
        )


# A number as Python's float() reads one, in ASCII decimal notation only. A pattern that re
# compiles on first use (a Retry-After header), not at start-up.
_DECIMAL: Final = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def _number(text: str) -> float | None:
    text = text.strip()
    if re.fullmatch(_DECIMAL, text) is None:
        return None
    return float(text)  # never raises here; 1e309 and 400 digits come out as inf


def _date_delay(text: str, now: float) -> float | None:
    try:
        parts = email.utils.parsedate_tz(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # parsedate_tz has raised on odd input in some Python versions
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    if not -86_400 < offset < 86_400:
        # A zone of a day or more is no zone ("+" and 400 digits would overflow a float); the
        # official SDK's parsedate_to_datetime refuses it too (datetime.timezone's range).
        return None
    try:
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (ValueError, OverflowError):
        return None  # a month 13, an hour of 30 digits: not a date
    # RFC 9110 section 5.6.7: an HTTP date is GMT, the obsolete forms without a zone too.
    return when.timestamp() - offset - now


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """The server's requested wait in seconds, or ``None`` when it gave no usable hint.

    ``retry-after-ms`` (milliseconds) wins over ``Retry-After`` (seconds or an HTTP-date,
    RFC 9110 section 10.2.3), as the official SDK reads them: a ``retry-after-ms`` that is a
    number is the hint, whatever its value; one that is not is skipped. Numbers may have a
    fraction (``1.5``). ``now`` is the current Unix time, for dates; a date in the past, a
    negative number and ``0`` all come out as ``0`` (no wait asked for). Never raises: a value
    that is not a finite number or a valid date gives ``None``.
    """
    headers = case_insensitive(headers)
    millis = headers.get("retry-after-ms")
    value = None if millis is None else _number(millis)
    if value is not None:
        value /= 1000
    else:
        raw = headers.get("retry-after")
        if raw is None:
            return None
        value = _number(raw)
        if value is None:
            value = _date_delay(raw, now)
    if value is None or not math.isfinite(value):
        return None
    return max(0.0, value)


def backoff_delay(retry_number: int, policy: RetryPolicy, *, random: float) -> float:
    """The exponential backoff before retry ``retry_number`` (0 for the first retry).

    ``random`` is a value in [0, 1) that sets the jitter.

    >>> backoff_delay(0, RetryPolicy(), random=0.0), backoff_delay(5, RetryPolicy(), random=0.0)
    (0.5, 8.0)
    """
    try:
        base = min(policy.initial_delay * 2.0**retry_number, policy.max_delay)
    except OverflowError:  # 2.0**1024 and beyond: long past any max_delay
        base = policy.max_delay
    return base * (1.0 - policy.jitter * random)


_SHOULD_RETRY: Final = {"true": True, "false": False}


def _should_retry_header(error: APIStatusError) -> bool | None:
    # The official SDK's override: exactly "true" or "false"; any other value is no verdict.
    return _SHOULD_RETRY.get(case_insensitive(error.headers).get("x-should-retry", ""))


def _classify(error: BaseException) -> tuple[bool, str]:
    """Whether another attempt may fare better than the one that raised ``error``.

    And what the error was, for the reason a decision gives.
    """
    if isinstance(error, APIStatusError):
        verdict = _should_retry_header(error)
        retryable = error.status in RETRY_STATUSES if verdict is None else verdict
        return retryable, f"status {error.status}"
    if isinstance(error, APITimeoutError):
        return error.limit != "deadline", f"{error.limit or 'a'} timeout"
    if isinstance(error, APIConnectionError):
        # Not retryable: a TLS failure the transport knows to be lasting (kernel_async._tls).
        return error.retryable, "a connection error" if error.retryable else "a TLS failure"
    if isinstance(error, APIResponseValidationError):
        # A body that is not JSON at all (empty, cut, a proxy's page) may come out right on
        # a second try; a body of the wrong shape will not.
        return error.retryable, "an undecodable body"
    return False, type(error).__name__


def worth_retrying(error: BaseException) -> bool:
    """Whether what raised ``error`` may succeed if tried again later, as the retries judge it.

    True for what :func:`decide_retry` retries (a connection error, a timeout, 408, 409, 429,
    5xx, a body that is not JSON), whatever the budget, hints and deadline; false for what
    another attempt would not fix (401, 403, a 400, a redirect, ``X-Should-Retry: false``, a
    certificate that fails verification, a server that does not speak TLS), and for anything
    that is not about the API.
    """
    return _classify(error)[0]


def decide_retry(
    error: APIError,
    *,
    retries_done: int,
    policy: RetryPolicy,
    now: float,
    time_left: float | None,
    random: float,
) -> RetryDecision:
    """Decide whether a failed attempt is retried, and after how long.

    Args:
        error: What the attempt raised.
        retries_done: Retries already made for this request.
        policy: The retry policy in force.
        now: The current Unix time (for ``Retry-After`` dates).
        time_left: Seconds until the caller's deadline, or ``None`` without one.
        random: A value in [0, 1) for the jitter.
    """
    retryable, what = _classify(error)
    if not retryable:
        return RetryDecision(False, f"{what} is not retried", retryable=False)
    if retries_done >= policy.max_retries:
        return RetryDecision(False, f"{what} after {retries_done} retries: none left")

    hint = None
    if isinstance(error, APIStatusError):
        hint = parse_retry_after(error.headers, now=now)
    if hint is not None and hint > policy.max_retry_after:
        return RetryDecision(
            False,
            f"{what}: the server asked to wait {hint:.1f} s, more than the "
            f"{policy.max_retry_after:.1f} s cap",
        )
    if hint == 0:
        hint = None  # "now" or a past date: the backoff, as the official SDK does
    delay = hint if hint is not None else backoff_delay(retries_done, policy, random=random)
    if time_left is not None and delay >= time_left:
        return RetryDecision(
            False,
            f"{what}: waiting {delay:.2f} s would pass the deadline "
            f"({max(time_left, 0.0):.2f} s left)",
        )
    throttle = isinstance(error, APIStatusError) and error.status in THROTTLE_STATUSES
    source = "as the server asked" if hint is not None else "backoff"
    return RetryDecision(True, f"{what}; retrying in {delay:.2f} s ({source})", delay, throttle)
