"""Typed models of the Kernel API's JSON, as frozen, slotted attrs classes.

Field names and optionality follow ``openapi.yaml`` (``components/schemas``); what the live
service does beyond it is in docs/api-behaviour.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias, overload

import attrs

from kernel_async._defaults import InvocationStatus
from kernel_async._errors import APIResponseValidationError
from kernel_async._timestamps import rfc3339_to_epoch_ns

__all__ = [
    "Invocation",
    "InvocationStatus",
    "JSONValue",
    "Page",
    "UncheckedInvocation",
]

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"
"""Any value that :func:`json.loads` can return."""


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


class UncheckedInvocation:
    """The storage of an :class:`Invocation` (its slots), without its checks or its methods.

    The decoder's hot path fills one with plain attribute stores and then makes it an
    :class:`Invocation` by assigning ``__class__``, which Python allows between classes of
    the same layout: :class:`Invocation` adds no slot of its own. Setting the slots of a
    frozen instance instead takes one descriptor call per field, about twice the time. Never
    used otherwise; the decoder checks every value first (``kernel_async._convert``).
    """

    __slots__ = (
        "__weakref__",
        "_finished_at_raw",
        "_started_at_raw",
        "action_name",
        "app_name",
        "finished_at",
        "id",
        "output",
        "payload",
        "started_at",
        "status",
        "status_reason",
        "version",
    )

    id: str
    app_name: str
    version: str
    action_name: str
    started_at: datetime
    status: InvocationStatus | str
    finished_at: datetime | None
    payload: str | None
    output: str | None
    status_reason: str | None
    _started_at_raw: str | None
    _finished_at_raw: str | None


@attrs.frozen(kw_only=True)
class Invocation(UncheckedInvocation):
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

    @overload
    def to_dict(
        self,
        *,
        mode: Literal["json"] = "json",
        exclude_none: bool = False,
        exclude_unset: bool = True,
        use_api_names: bool = True,
    ) -> dict[str, str | None]: ...

    @overload
    def to_dict(
        self,
        *,
        mode: Literal["python"],
        exclude_none: bool = False,
        exclude_unset: bool = True,
        use_api_names: bool = True,
    ) -> dict[str, Any]: ...

    def to_dict(
        self,
        *,
        mode: Literal["json", "python"] = "json",
        exclude_none: bool = False,
        exclude_unset: bool = True,
        use_api_names: bool = True,
    ) -> dict[str, Any]:
        """The invocation as a dict, keyed by the API's field names.

        The keyword arguments are the official SDK's (``to_dict`` of its models), with one
        different default: ``mode="json"``, the API's own JSON form, so that the dict goes
        straight to :func:`json.dumps` and back through :meth:`from_dict`.

        Args:
            mode: ``"json"``: strings only, timestamps as the API sent them, nanoseconds
                included. ``"python"``: ``started_at`` and ``finished_at`` as datetimes and
                ``status`` as an :class:`InvocationStatus` (or the unknown string).
            exclude_none: Leave out every field that is ``None``, ``finished_at`` included.
            exclude_unset: Leave out ``payload``, ``output`` and ``status_reason`` when they
                are ``None`` (the API leaves them out); ``False`` includes every field.
                ``finished_at`` is always there (the API sends ``null`` while it runs).
            use_api_names: Accepted for compatibility: the attribute names are the API's.
        """
        if mode not in ("json", "python"):
            raise ValueError(f'mode must be "json" or "python", not {mode!r}')
        for name, flag in (
            ("exclude_none", exclude_none),
            ("exclude_unset", exclude_unset),
            ("use_api_names", use_api_names),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
        data: dict[str, Any] = {
            "id": self.id,
            "app_name": self.app_name,
            "version": self.version,
            "action_name": self.action_name,
        }
        if mode == "python":
            data["status"] = self.status
            data["started_at"] = self.started_at
            data["finished_at"] = self.finished_at
        else:
            data["status"] = str(self.status)
            data["started_at"] = self._started_at_raw or self.started_at.isoformat()
            data["finished_at"] = self._finished_at_raw or (
                self.finished_at.isoformat() if self.finished_at is not None else None
            )
        for name in ("payload", "output", "status_reason"):
            value = getattr(self, name)
            if value is not None or not exclude_unset:
                data[name] = value
        if exclude_none:
            data = {key: value for key, value in data.items() if value is not None}
        return data

    def to_json(
        self,
        *,
        indent: int | None = 2,
        exclude_none: bool = False,
        exclude_unset: bool = True,
        use_api_names: bool = True,
    ) -> str:
        """The invocation as JSON text, in the API's form (see :meth:`to_dict`).

        ``indent`` is 2 by default, as in the official SDK; ``None`` writes one line.
        Non-ASCII and control characters are escaped, so the text is safe to print.
        """
        if indent is not None and (isinstance(indent, bool) or not isinstance(indent, int)):
            raise TypeError(f"indent must be an int or None, not {type(indent).__name__}")
        data = self.to_dict(
            exclude_none=exclude_none, exclude_unset=exclude_unset, use_api_names=use_api_names
        )
        return json.dumps(data, indent=indent)

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
class Page(Sequence[Invocation]):
    """One page of invocations, with what its headers said.

    A page is a sequence of its invocations: ``page[0]``, ``page[-3:]``, ``len(page)``,
    iteration and ``in`` work as on a tuple.

    Attributes:
        items: The invocations, in the server's order (newest first).
        offset: The offset this page starts at.
        limit: The page size the server applied (``X-Limit``), when it said.
        has_more: Whether the server has more after this page (``X-Has-More``).
        next_offset: Where the next page starts (``X-Next-Offset``), or ``None`` on the last.
        request_id: The response's ``X-Request-Id``.
        anomalies: What was odd about the response and worked around, such as a missing
            ``X-Has-More`` on a page with a forward ``X-Next-Offset``; empty when all was well.
    """

    items: tuple[Invocation, ...]
    offset: int
    limit: int | None
    has_more: bool
    next_offset: int | None
    request_id: str | None = None
    anomalies: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Invocation]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> Invocation: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Invocation, ...]: ...

    def __getitem__(self, index: int | slice) -> Invocation | tuple[Invocation, ...]:
        return self.items[index]
