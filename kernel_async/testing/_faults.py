"""Seeded, per-request fault injection for the emulator.

A :class:`FaultSchedule` decides, for each request, whether it fails and how. The decision is a
pure function of the seed, the request's query (its page) and the client's attempt number, so
a walk meets the same faults whatever order its concurrent requests arrive in, and a failing
seed replays exactly.
"""

from __future__ import annotations

import enum
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

import attrs

__all__ = [
    "HTML_502",
    "RECOVERABLE_FAULTS",
    "Answer",
    "Fault",
    "FaultKind",
    "FaultSchedule",
    "error_answer",
    "http_fault_answer",
]


class FaultKind(enum.StrEnum):
    """What can go wrong with a response."""

    STATUS = "status"
    """An error status with a JSON Error body (``status``, optional ``Retry-After``)."""
    HTML_502 = "html_502"
    """A proxy's HTML 502 page."""
    INVALID_JSON = "invalid_json"
    """200 with the pagination headers and a body that is not JSON."""
    EMPTY_200 = "empty_200"
    """200 with the pagination headers and no body at all."""
    TRUNCATED = "truncated"
    """The headers and part of the body, then the connection is reset."""
    RESET = "reset"
    """The connection is reset before any response."""
    STALL = "stall"
    """The headers, then nothing for ``seconds`` (a read timeout on the client)."""
    DRIP = "drip"
    """The body in ten pieces spread over ``seconds``."""
    LATENCY_SPIKE = "latency_spike"
    """The normal response, ``seconds`` late."""


@attrs.frozen(kw_only=True)
class Fault:
    """One injected fault.

    Attributes:
        kind: What goes wrong.
        status: The status for :attr:`FaultKind.STATUS`.
        retry_after: A ``Retry-After`` value to send (seconds or an HTTP-date).
        retry_after_ms: A ``retry-after-ms`` value to send.
        should_retry: An ``x-should-retry`` value to send (``"true"`` / ``"false"``).
        seconds: How long a stall, drip or latency spike lasts.
    """

    kind: FaultKind
    status: int = 503
    retry_after: str | None = None
    retry_after_ms: str | None = None
    should_retry: str | None = None
    seconds: float = 0.0

    def headers(self) -> dict[str, str]:
        """The extra headers this fault sends."""
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = self.retry_after_ms
        if self.should_retry is not None:
            headers["x-should-retry"] = self.should_retry
        return headers


RECOVERABLE_FAULTS: Final[tuple[Fault, ...]] = (
    Fault(kind=FaultKind.STATUS, status=500),
    Fault(kind=FaultKind.STATUS, status=503, retry_after="0"),
    Fault(kind=FaultKind.STATUS, status=429, retry_after_ms="5"),
    Fault(kind=FaultKind.STATUS, status=408),
    Fault(kind=FaultKind.STATUS, status=409),
    Fault(kind=FaultKind.STATUS, status=502),
    Fault(kind=FaultKind.STATUS, status=400, should_retry="true"),
    Fault(kind=FaultKind.HTML_502),
    Fault(kind=FaultKind.INVALID_JSON),
    Fault(kind=FaultKind.EMPTY_200),
    Fault(kind=FaultKind.TRUNCATED),
    Fault(kind=FaultKind.RESET),
    Fault(kind=FaultKind.STALL, seconds=0.5),
    Fault(kind=FaultKind.DRIP, seconds=0.02),
    Fault(kind=FaultKind.LATENCY_SPIKE, seconds=0.02),
)
"""Faults a client with retries gets through (a stall needs a read timeout below 0.5 s)."""


class FaultSchedule:
    """Decides which requests fail, reproducibly.

    Args:
        seed: Same seed, same faults.
        rate: The chance that an attempt fails.
        faults: What may happen, drawn uniformly (default :data:`RECOVERABLE_FAULTS`).
        max_per_request: At most this many failed attempts for one page (by query), so that a
            client with at least this many retries always gets through; ``None`` for no bound.
    """

    def __init__(
        self,
        *,
        seed: int,
        rate: float,
        faults: Sequence[Fault] = RECOVERABLE_FAULTS,
        max_per_request: int | None = None,
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        if not faults:
            raise ValueError("faults must not be empty")
        self.seed = seed
        self.rate = rate
        self.faults = tuple(faults)
        self.max_per_request = max_per_request
        self.injected: Counter[FaultKind] = Counter()
        """How many faults of each kind were served."""
        self.attempts: Counter[tuple[tuple[str, str], ...]] = Counter()
        """Requests served per query (a page), faults included."""

    @property
    def total_injected(self) -> int:
        """How many faults were served in all."""
        return sum(self.injected.values())

    def decide(self, query: Mapping[str, str], attempt: int) -> Fault | None:
        """The fault for this attempt (0 for the first) at this query, or ``None``."""
        if self.max_per_request is not None and attempt >= self.max_per_request:
            return None
        key = "&".join(f"{name}={value}" for name, value in sorted(query.items()))
        rng = random.Random(f"{self.seed}|{key}|{attempt}")  # noqa: S311 - test data
        if rng.random() >= self.rate:
            return None
        return rng.choice(self.faults)

    def record(self, query: Mapping[str, str], fault: Fault | None) -> None:
        """Count a served request (and its fault)."""
        self.attempts[tuple(sorted(query.items()))] += 1
        if fault is not None:
            self.injected[fault.kind] += 1


@attrs.frozen
class Answer:
    """What the emulator answers one request: status, headers, body, and a fault to apply."""

    status: int
    # Neither in the repr, as a real response's (RawResponse): a scripted answer may echo the
    # key, and a traceback rendered with its locals shows the in-memory transport's frame.
    headers: dict[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    fault: Fault | None = None


def error_answer(status: int, code: str, message: str, request_id: str) -> Answer:
    """An API Error body (``openapi.yaml``: ``components/schemas/Error``)."""
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
    return Answer(status, headers, json.dumps({"code": code, "message": message}).encode())


HTML_502: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def http_fault_answer(answer: Answer) -> Answer | None:
    """What ``answer.fault`` turns the answer into, when the fault is one of HTTP.

    ``None`` for faults of the connection (reset, truncated, stall, drip), which the server
    side acts out on the socket instead.
    """
    fault = answer.fault
    assert fault is not None
    request_id = answer.headers["X-Request-Id"]
    if fault.kind is FaultKind.STATUS:
        error = error_answer(fault.status, "injected", "an injected fault", request_id)
        return Answer(error.status, {**error.headers, **fault.headers()}, error.body)
    if fault.kind is FaultKind.HTML_502:
        headers = {"Content-Type": "text/html", "X-Request-Id": request_id, **fault.headers()}
        return Answer(502, headers, HTML_502)
    if fault.kind is FaultKind.INVALID_JSON:
        return Answer(answer.status, answer.headers, answer.body[: len(answer.body) // 2] + b"}{")
    if fault.kind is FaultKind.EMPTY_200:
        return Answer(answer.status, answer.headers, b"")
    return None
