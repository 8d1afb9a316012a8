"""The package's own cattrs converter: strict, fast JSON-to-model structuring.

cattrs coerces by default (``None -> 'None'``, ``'false' -> True``, ``1.9 -> 1``); a wrong type
from the server must instead be an error naming its JSON path. Two
converters share one configuration:

* the *fast* one structures every page, with a hand-written hook for ``Invocation`` (the hot
  path, see :func:`_structure_invocation_fast`) and no detailed validation;
* the *detailed* one, with cattrs' generated hook, runs only after the fast one failed, to
  name the offending JSON path. A property test holds both to the same verdict.

So a valid page pays nothing for error reporting, and an invalid one still gets a precise
message. Unknown keys are ignored: the service may add fields (forward compatibility). Both
cattrs converters are built, and cattrs imported, the first time one is needed: a program
whose pages are all valid and whose calls all succeed never loads cattrs (start-up time).

This module imports the models it builds; they import nothing from it
(:func:`~kernel_async._models.install_invocation_decoder` hands them their decoder).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import attrs

from kernel_async._errors import APIResponseValidationError
from kernel_async._models import (
    Invocation,
    InvocationStatus,
    UncheckedInvocation,
    install_invocation_decoder,
)
from kernel_async._timestamps import DIGITS_TO_ZERO, FROMISOFORMAT_SHAPES, parse_rfc3339

if TYPE_CHECKING:
    import cattrs

    from kernel_async._error_models import ErrorBody

__all__ = [
    "NonStandardNumber",
    "StructureFailure",
    "decode_error_body",
    "decode_invocations",
    "detailed_converter",
    "fast_converter",
    "invocation_from_dict",
    "loads",
    "make_loads",
]


class NonStandardNumber(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in a body: JSON has no such numbers.

    RFC 8259 section 6. Python's decoder accepts them by default and orjson rejects them; the
    verdict must not depend on which one is installed, so both reject them with this error. A
    server that writes them has a bug another attempt will not fix.
    """


def _reject_constant(name: str) -> NoReturn:
    raise NonStandardNumber(f"{name} is not a JSON number (RFC 8259 section 6)")


# json.loads with parse_constant builds a decoder (and its scanner) per call; this one is built
# once. The bytes are decoded as json.loads decodes them.
_STANDARD_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _standard_loads(data: bytes) -> Any:
    return _STANDARD_DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))


def make_loads(fast: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    """A JSON decoder that gives the standard library's verdict on every body.

    ``fast`` (orjson's ``loads``) decodes what it can; whatever it rejects is decoded again by
    the standard decoder, which says *why* (:class:`NonStandardNumber` or another
    :class:`ValueError`) and takes whatever orjson alone refuses. So a body is accepted or
    rejected, and for the same reason, with orjson or without.
    """
    if fast is None:
        return _standard_loads

    def loads(data: bytes) -> Any:
        try:
            return fast(data)
        except ValueError:
            return _standard_loads(data)

    return loads


loads: Callable[[bytes], Any]
"""Decode JSON bytes: orjson when installed (the ``fast`` extra), else :mod:`json`.

Raises :class:`NonStandardNumber` for ``NaN`` and ``Infinity``, another :class:`ValueError` (or
:class:`RecursionError`) for text that is not JSON.
"""
try:
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    loads = make_loads(None)
else:  # pragma: no cover - depends on the environment
    loads = make_loads(orjson.loads)

_T = TypeVar("_T")


class StructureFailure(ValueError):
    """A body that does not fit the schema; private, turned into a public error by the caller."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class _WrongValue(TypeError):
    """Raised by the strict hooks; its message says what was expected and what came."""


def _describe(value: object) -> str:
    if value is None:
        return "null"
    kind = {str: "string", bool: "boolean", int: "number", float: "number", list: "array"}
    return kind.get(type(value), "object" if isinstance(value, dict) else type(value).__name__)


def _strict(expected: type[_T], name: str) -> Callable[[object, object], _T]:
    def structure(value: object, _type: object) -> _T:
        # `type(...) is`, not isinstance: bool is an int, and neither may stand in for the other.
        if type(value) is not expected:
            raise _WrongValue(f"expected {name}, got {_describe(value)}")
        return value

    return structure


def _structure_datetime(value: object, _type: object) -> datetime:
    if type(value) is not str:
        raise _WrongValue(f"expected an RFC 3339 string, got {_describe(value)}")
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise _WrongValue(str(exc)) from None


_STATUSES: Final = {status.value: status for status in InvocationStatus}
_fromisoformat = datetime.fromisoformat
_new_object = object.__new__


def _structure_status(value: object, _type: object) -> InvocationStatus | str:
    if type(value) is not str:
        raise _WrongValue(f"expected a status string, got {_describe(value)}")
    # A status the server adds later is kept verbatim, never a crash.
    return _STATUSES.get(value, value)


def _make_converter(*, detailed: bool) -> cattrs.Converter:
    import cattrs  # only on failure paths: see the module docs
    from cattrs.gen import make_dict_structure_fn, override

    converter = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(bool, _strict(bool, "a boolean"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_structure_hook_func(lambda t: t == InvocationStatus | str, _structure_status)
    if detailed:
        # The wire field started_at feeds two attributes: the datetime and the raw text kept
        # for exact nanoseconds (see Invocation.started_at_ns). The fast converter gets the
        # hand-written hook below instead.
        generated = make_dict_structure_fn(
            Invocation,
            converter,
            _cattrs_detailed_validation=True,
            _started_at_raw=override(rename="started_at"),
            _finished_at_raw=override(rename="finished_at"),
        )

        def structure_invocation(value: object, type_: type[Invocation]) -> Invocation:
            # Checked first: the generated hook would index an array or a string by field
            # name, and cattrs would report Python's TypeError at the path of the first
            # field (`$[0].id: invalid value (list indices must be integers ...)`).
            if not isinstance(value, Mapping):
                raise _WrongValue(f"expected an object (Invocation), got {_describe(value)}")
            return generated(value, type_)

        converter.register_structure_hook(Invocation, structure_invocation)
    return converter


def _structure_invocation_fast(data: Any, _type: object = Invocation) -> Invocation:
    """The hot path: one invocation, specialised to its shape, as strict as the cattrs hook.

    Hand-written rather than generated because it runs for every item of every page: exact
    type checks in one expression, the timestamp parser called directly, and the frozen,
    slotted instance built as an :class:`UncheckedInvocation` (plain attribute stores) that
    becomes an :class:`Invocation` by ``__class__`` assignment, instead of the generated
    __init__ (which goes through object.__setattr__ once per field). Anything wrong raises,
    and :func:`decode_invocations` then asks the detailed cattrs converter where; a property
    test holds the two to the same verdict on every input.
    """
    id_ = data["id"]
    app_name = data["app_name"]
    version = data["version"]
    action_name = data["action_name"]
    started_raw = data["started_at"]
    status = data["status"]
    get = data.get
    finished_raw = get("finished_at")
    payload = get("payload")
    output = get("output")
    status_reason = get("status_reason")
    if (
        type(id_) is not str
        or type(app_name) is not str
        or type(version) is not str
        or type(action_name) is not str
        or type(started_raw) is not str
        or type(status) is not str
        or (finished_raw is not None and type(finished_raw) is not str)
        or (payload is not None and type(payload) is not str)
        or (output is not None and type(output) is not str)
        or (status_reason is not None and type(status_reason) is not str)
    ):
        raise _WrongValue("a field has the wrong type")
    # parse_rfc3339, one call less for what servers write (see FROMISOFORMAT_SHAPES); any
    # other text goes through it. Either raises ValueError for a value it refuses.
    started = (
        _fromisoformat(started_raw)
        if started_raw.encode().translate(DIGITS_TO_ZERO) in FROMISOFORMAT_SHAPES
        else parse_rfc3339(started_raw)
    )
    if finished_raw is None:
        finished = None
    elif finished_raw.encode().translate(DIGITS_TO_ZERO) in FROMISOFORMAT_SHAPES:
        finished = _fromisoformat(finished_raw)
    else:
        finished = parse_rfc3339(finished_raw)
    invocation = _new_object(UncheckedInvocation)
    invocation.id = id_
    invocation.app_name = app_name
    invocation.version = version
    invocation.action_name = action_name
    invocation.started_at = started
    invocation.status = _STATUSES.get(status, status)
    invocation.finished_at = finished
    invocation.payload = payload
    invocation.output = output
    invocation.status_reason = status_reason
    invocation._started_at_raw = started_raw
    invocation._finished_at_raw = finished_raw
    invocation.__class__ = Invocation  # checked: see UncheckedInvocation
    return invocation  # type: ignore[return-value]  # an Invocation now


@functools.cache
def fast_converter() -> cattrs.Converter:
    """The converter of error bodies, with the hot path's hook for invocations."""
    converter = _make_converter(detailed=False)
    converter.register_structure_hook(Invocation, _structure_invocation_fast)
    return converter


@functools.cache
def detailed_converter() -> cattrs.Converter:
    """The converter that names the JSON path of what the fast path refused."""
    return _make_converter(detailed=True)


def _format_error(exc: BaseException, _type: object) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, _WrongValue):
        return str(exc)
    if attrs.has(_type):  # type: ignore[arg-type]
        return f"expected an object ({getattr(_type, '__name__', _type)})"
    return f"invalid value ({exc})" if str(exc) else "invalid value"


def _locate(data: object, target: Any) -> StructureFailure:
    """Re-run structuring with detailed validation to name the first offending path."""
    import cattrs

    try:
        detailed_converter().structure(data, target)
    except Exception as exc:  # noqa: BLE001 - whatever cattrs raised, we only want its path
        messages = cattrs.transform_error(exc, path="$", format_exception=_format_error)
        first = messages[0] if messages else "invalid value @ $"
        message, _, path = first.rpartition(" @ ")
        return StructureFailure(message or first, path or "$")
    return StructureFailure("invalid value", "$")  # pragma: no cover - fast and detailed agree


def decode_invocations(data: object) -> tuple[Invocation, ...]:
    """Structure a decoded ``GET /invocations`` body (a bare JSON array).

    Raises:
        StructureFailure: with the JSON path of the first value that does not fit.
    """
    if type(data) is not list:
        raise StructureFailure(f"expected an array of invocations, got {_describe(data)}", "$")
    try:
        return tuple([_structure_invocation_fast(item) for item in data])
    except Exception:  # noqa: BLE001 - the detailed pass says what and where
        raise _locate(data, list[Invocation]) from None


def invocation_from_dict(data: object) -> Invocation:
    """What :meth:`Invocation.from_dict` runs: one invocation, as strictly as a page.

    Raises:
        APIResponseValidationError: ``data`` does not fit the schema; ``path`` says where.
    """
    try:
        (invocation,) = decode_invocations([data])
    except StructureFailure as exc:
        path = "$" + exc.path.removeprefix("$[0]")
        raise APIResponseValidationError(
            f"invalid invocation at {path}: {exc.message}", path=path
        ) from None
    return invocation


install_invocation_decoder(invocation_from_dict)


def decode_error_body(data: object) -> ErrorBody | None:
    """Structure an Error body; ``None`` when it is not one (an HTML page, say).

    Leniency is right here: the status already says what failed, and a malformed error body
    must not hide it behind a validation error. Its text is valid UTF-8 (see
    :func:`_readable_error_body`).
    """
    from kernel_async._error_models import ErrorBody  # only a failed call gets here

    if not isinstance(data, dict):
        return None
    try:
        body = fast_converter().structure(data, ErrorBody)
    except Exception:  # noqa: BLE001 - not an Error body; the caller keeps an excerpt instead
        code, message = data.get("code"), data.get("message")
        if isinstance(code, str) and isinstance(message, str):
            # Keep what is usable: the code and message matter more than malformed details.
            body = ErrorBody(code=code, message=message)
        else:
            return None
    return _readable_error_body(body)


def _readable_error_body(body: ErrorBody) -> ErrorBody:
    r"""``body`` with each lone surrogate in its text replaced by U+FFFD.

    JSON may escape a lone surrogate (``"\ud800"``: RFC 8259 section 8.2 allows it), and
    the standard library's decoder keeps it as it is (orjson refuses the body, which goes to
    the standard decoder then). Text holding one cannot be written as UTF-8: logging
    ``exc.body`` or ``exc.details`` would fail, as ``str(exc).encode("utf-8")`` would.
    Only a failed call gets here; a body of valid text is returned as it is.
    """
    from kernel_async._error_models import ErrorDetail
    from kernel_async._headers import readable

    def text(value: str | None) -> str | None:
        return None if value is None else readable(value)

    def detail(value: ErrorDetail) -> ErrorDetail:
        return ErrorDetail(code=text(value.code), message=text(value.message))

    readable_body = attrs.evolve(
        body,
        code=readable(body.code),
        message=readable(body.message),
        details=tuple(detail(d) for d in body.details),
        inner_error=None if body.inner_error is None else detail(body.inner_error),
    )
    return body if readable_body == body else readable_body
