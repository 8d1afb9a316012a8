"""Typed models of the Kernel API's JSON, as frozen, slotted attrs classes.

Field names and optionality follow ``openapi.yaml`` (``components/schemas``); what the live
service does beyond it follows FACTS.md.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeAlias

import attrs

from kernel_async._errors import APIResponseValidationError, ErrorBody, ErrorDetail
from kernel_async._timestamps import rfc3339_to_epoch_ns

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "Invocation",
    "InvocationStatus",
    "JSONValue",
    "Page",
]

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"
"""Any value that :func:`json.loads` can return."""


class InvocationStatus(enum.StrEnum):
    """The lifecycle state of an invocation.

    The API may add states later (FACTS.md: a ``cancelled`` state is plausible); an
    :class:`Invocation` keeps such a value as a plain ``str`` instead of failing. Because this
    is a :class:`~enum.StrEnum`, ``inv.status == "failed"`` works whichever you hold.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _epoch_ns(raw: str | None, value: datetime | None) -> int | None:
    if raw is not None:
        return rfc3339_to_epoch_ns(raw)
    if value is None:
        return None
    # Built by hand rather than decoded: the datetime is all there is (microseconds).
    return rfc3339_to_epoch_ns(value.isoformat())


def _parse_json_text(text: str, field: str) -> JSONValue:
    try:
        value: JSONValue = json.loads(text)
    except (ValueError, RecursionError):
        raise APIResponseValidationError(
            f"invocation {field} is not valid JSON", path=f"$.{field}"
        ) from None
    return value


@attrs.frozen(kw_only=True)
class Invocation:
    """One run of an app's action (``components/schemas/Invocation``).

    ``started_at`` and ``finished_at`` are timezone-aware datetimes with microsecond
    precision. The server sends nanoseconds; the exact values are
    :attr:`started_at_ns` and :attr:`finished_at_ns` (integer nanoseconds since the epoch),
    computed from the original text when you ask for them.

    ``payload`` and ``output`` are JSON *text*, as the API sends them; :meth:`payload_json`
    and :meth:`output_json` parse them on demand.
    """

    id: str
    app_name: str
    version: str
    action_name: str
    started_at: datetime
    status: InvocationStatus | str
    finished_at: datetime | None = None
    payload: str | None = None
    output: str | None = attrs.field(default=None, repr=False)  # may hold sensitive data
    status_reason: str | None = None
    # The wire text behind started_at / finished_at, kept so nanoseconds are not lost.
    _started_at_raw: str | None = attrs.field(
        default=None, alias="started_at_raw", eq=False, repr=False
    )
    _finished_at_raw: str | None = attrs.field(
        default=None, alias="finished_at_raw", eq=False, repr=False
    )

    @property
    def started_at_ns(self) -> int:
        """``started_at`` as exact integer nanoseconds since the Unix epoch."""
        value = _epoch_ns(self._started_at_raw, self.started_at)
        assert value is not None  # started_at is required
        return value

    @property
    def finished_at_ns(self) -> int | None:
        """``finished_at`` as exact integer nanoseconds since the epoch, or ``None``."""
        return _epoch_ns(self._finished_at_raw, self.finished_at)

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (nanosecond-exact), or ``None`` while unfinished."""
        finished = self.finished_at_ns
        if finished is None:
            return None
        return (finished - self.started_at_ns) / 1e9

    @classmethod
    def from_dict(cls, data: object) -> Invocation:
        """Build an invocation from its JSON form, as strictly as a response is checked.

        Handy for JSON lines you stored earlier (see :meth:`to_dict`) and for tests.

        Raises:
            APIResponseValidationError: ``data`` does not fit the schema; ``path`` says where.
        """
        return _invocation_decoder(data)

    def to_dict(self) -> dict[str, str | None]:
        """The invocation in the API's JSON form, timestamps with their original nanoseconds.

        Optional fields that are ``None`` are left out, except ``finished_at`` (the API sends
        ``null`` while an invocation runs).
        """
        data: dict[str, str | None] = {
            "id": self.id,
            "app_name": self.app_name,
            "version": self.version,
            "action_name": self.action_name,
            "status": str(self.status),
            "started_at": self._started_at_raw or self.started_at.isoformat(),
            "finished_at": (
                self._finished_at_raw
                or (self.finished_at.isoformat() if self.finished_at is not None else None)
            ),
        }
        for name in ("payload", "output", "status_reason"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    def payload_json(self) -> JSONValue:
        """Parse ``payload`` as JSON; ``None`` when the invocation has no payload.

        Raises:
            APIResponseValidationError: the payload is not JSON, which the API promises it is.
        """
        if self.payload is None:
            return None
        return _parse_json_text(self.payload, "payload")

    def output_json(self) -> JSONValue:
        """Parse ``output`` as JSON, falling back to the plain text.

        Output is "often a JSON-encoded value, but failures may contain plain text", so this
        never raises: valid JSON is decoded, anything else comes back as the text itself.
        Use :attr:`output_is_json` to tell the two apart. ``None`` when there is no output.
        """
        if self.output is None:
            return None
        try:
            value: JSONValue = json.loads(self.output)
        except (ValueError, RecursionError):
            return self.output
        return value

    @property
    def output_is_json(self) -> bool:
        """Whether ``output`` is present and valid JSON (not the plain text of a failure)."""
        if self.output is None:
            return False
        try:
            json.loads(self.output)
        except (ValueError, RecursionError):
            return False
        return True


def _decoder_missing(_data: object) -> Invocation:  # pragma: no cover - see below
    raise RuntimeError("kernel_async._convert was not imported")


_invocation_decoder: Callable[[object], Invocation] = _decoder_missing


def install_invocation_decoder(decoder: Callable[[object], Invocation]) -> None:
    """Set what :meth:`Invocation.from_dict` runs; called once, by ``kernel_async._convert``.

    The converter is built from these classes, so it imports this module; this module imports
    nothing from it, and imports run one way. Importing any part of the package imports the
    converter (``kernel_async/__init__.py``), so the decoder is always in place.
    """
    global _invocation_decoder  # set once, when the converter is imported
    _invocation_decoder = decoder


@attrs.frozen(kw_only=True)
class Page:
    """One page of invocations, with what its headers said.

    Iterating a page yields its invocations; ``len(page)`` counts them.

    Attributes:
        items: The invocations, in the server's order (newest first).
        offset: The offset this page starts at.
        limit: The page size the server applied (``X-Limit``), when it said.
        has_more: Whether the server has more after this page (``X-Has-More``).
        next_offset: Where the next page starts (``X-Next-Offset``), or ``None`` on the last.
        request_id: The response's ``X-Request-Id``.
    """

    items: tuple[Invocation, ...]
    offset: int
    limit: int | None
    has_more: bool
    next_offset: int | None
    request_id: str | None = None

    def __iter__(self) -> Iterator[Invocation]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
