"""The arguments of ``watch()``, ``failures()`` and ``wait()``, checked before anything is sent.

Plain functions of values, as :mod:`kernel_async._params` is for a listing's: each raises
``ValueError`` or ``TypeError`` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import timedelta

from kernel_async._models import Invocation, InvocationStatus
from kernel_async._params import Since, _check_text, _encode_since, _encode_status
from kernel_async._timestamps import (
    MAX_GO_DURATION_NS,
    is_go_duration,
    parse_go_duration,
    rfc3339_to_epoch_ns,
)
from kernel_async._watch_state import DEFAULT_FINAL_STATUSES

__all__ = [
    "validate_final_statuses",
    "validate_given",
    "validate_interval",
    "validate_lookback",
    "validate_seconds",
    "validate_since",
    "validate_statuses",
]


def validate_since(since: Since | None) -> int | timedelta | None:
    """``since`` as an instant (epoch nanoseconds) or a duration before now."""
    if since is None:
        return None
    if isinstance(since, timedelta):
        _encode_since(since)  # the same checks as a listing's
        return since
    text = _encode_since(since)
    if is_go_duration(text):
        return parse_go_duration(text)
    return rfc3339_to_epoch_ns(text)


def validate_lookback(lookback: object) -> timedelta:
    if isinstance(lookback, timedelta):
        if lookback < timedelta(0):
            raise ValueError(f"lookback must not be negative, got {lookback!r}")
        nanoseconds: float = lookback // timedelta(microseconds=1) * 1_000
    elif isinstance(lookback, bool) or not isinstance(lookback, int | float):
        raise TypeError(f"lookback must be a timedelta or seconds, not {type(lookback).__name__}")
    else:
        nanoseconds = validate_seconds("lookback", lookback, zero=True) * 1e9
    # The window's start goes to the server as a ``since``: before anything is seen, as a
    # Go duration, which cannot be longer than about 292 years.
    if nanoseconds > MAX_GO_DURATION_NS:
        raise ValueError(f"lookback must be shorter than about 292 years, got {lookback!r}")
    return lookback if isinstance(lookback, timedelta) else timedelta(seconds=lookback)


def validate_seconds(name: str, value: object, *, zero: bool) -> float:
    """A finite number of seconds: >= 0 with ``zero``, else > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:  # an int past the largest float, such as 10**400
        seconds = math.inf
    if not (0 <= seconds < math.inf and (zero or seconds > 0)):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return seconds


def validate_interval(interval: object) -> float:
    return validate_seconds("interval", interval, zero=True)


# Iterable, but not a collection of separate values: text iterates as characters (or, as
# bytes, integers), and a mapping as its keys, which would drop its values without a word
# (`status={"failed": 1}`). A set, list, tuple, dict view or generator is taken.
_NOT_A_COLLECTION = (str, bytes, bytearray, memoryview, Mapping)


def _several(name: str, values: object, *, one: str = "") -> list[object]:
    if isinstance(values, _NOT_A_COLLECTION) or not isinstance(values, Iterable):
        raise TypeError(
            f"{name} must be {one}a collection of statuses (a list, tuple or set), "
            f"not {type(values).__name__}"
        )
    return list(values)


def validate_statuses(status: object) -> frozenset[str] | None:
    """The statuses a watch reports: one, or a collection; ``None``: all."""
    if status is None:
        return None
    if isinstance(status, str):
        return frozenset({_encode_status(status)})
    several = _several("status", status, one="one status or ")
    chosen = frozenset(_encode_status(s) for s in several)
    if not chosen:
        raise ValueError("status must name at least one status; pass None for all")
    return chosen


def validate_final_statuses(final: object) -> frozenset[str]:
    """Final statuses: any status text, known or one the API may add (``cancelled``)."""
    if final is None:
        return DEFAULT_FINAL_STATUSES
    chosen = frozenset(
        s.value if isinstance(s, InvocationStatus) else _check_text("final_statuses", s)
        for s in _several("final_statuses", final)
    )
    if not chosen:
        raise ValueError("final_statuses must name at least one status")
    return chosen


def validate_given(invocations: object) -> list[Invocation | str]:
    """The invocations to wait for: Invocation objects or ids, at least one."""
    if isinstance(invocations, (Invocation, *_NOT_A_COLLECTION)) or not isinstance(
        invocations, Iterable
    ):
        raise TypeError(
            "invocations must be a collection of Invocation objects or ids (a list, tuple or "
            f"set), not {type(invocations).__name__} (for one, pass [it])"
        )
    given: list[Invocation | str] = []
    for item in invocations:
        if isinstance(item, Invocation):
            given.append(item)
        else:
            given.append(_check_text("invocation id", item))
    if not given:
        raise ValueError("invocations must hold at least one Invocation or id")
    return given
