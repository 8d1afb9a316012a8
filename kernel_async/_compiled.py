r"""Pages of invocations decoded by msgspec, when it is installed (the ``fast`` extra).

msgspec reads a page's JSON and checks the type of every field in C, into plain structs;
the invocations are then built from them exactly as :func:`~kernel_async._convert.
_structure_invocation_fast` builds them from dicts. About 40 us a page of 100 less than
orjson and the dict path (``nox -s bench``, scenario b).

It is a shortcut, never a judge: it takes a page only when the standard path (``json`` or
orjson, then the strict structuring) would take it with the same result, and any page it
does not take, for whatever reason, is decoded again the standard way, which accepts it or
says why not. So a page is accepted or refused, and for the same reason, with msgspec or
without; ``tests/test_compiled_path.py`` holds the two to that on generated bodies. It
leaves to the standard path:

* **fields it does not know** (the API may add some). msgspec skips an unknown field's value
  without checking all of it (it took invalid UTF-8 and a 5,000-digit integer there, which
  the standard decoder refuses), so a page with one is refused here rather than judged.
  Once the API adds a field, its pages decode as without msgspec (a little slower: msgspec
  reads up to the first item with the field first) until this struct learns it;
* **what msgspec reads differently**: a byte order mark or UTF-16 (``json`` detects them),
  escaped lone surrogates (``"\ud800"``: ``json`` keeps them), a field repeated with
  another type first (``json`` keeps the last), ``NaN``;
* **anything wrong** (a missing field, a wrong type, a timestamp that is not RFC 3339): the
  standard path then names the JSON path of the first error.

msgspec is imported when the client loads (``from kernel_async import AsyncKernel``), not
with the package: ``import kernel_async`` and the command line's help stay without it. One
older than the versions tested, or one that fails to import or to build the decoder, is
not used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from kernel_async._convert import _STATUSES, _fromisoformat, _new_object
from kernel_async._models import Invocation, UncheckedInvocation
from kernel_async._timestamps import DIGITS_TO_ZERO, FROMISOFORMAT_SHAPES, parse_rfc3339

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MSGSPEC_MINIMUM", "decode_page_compiled", "prepare_page_decoding"]

MSGSPEC_MINIMUM: Final = (0, 18)
"""The oldest msgspec used (the ``fast`` extra asks for 0.18.6 or later)."""


def _version(text: str) -> tuple[int, ...]:
    """``"0.19.0"`` as ``(0, 19)``; ``(0,)`` for text that does not start that way."""
    parts = text.split(".")[:2]
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else (0,)


@functools.cache
def _page_decoder() -> Callable[[bytes], Sequence[Any]] | None:
    """Msgspec's decoder of a page into structs, or ``None`` when it cannot be used.

    Looked up once per process. ``None`` when msgspec is not installed, older than the
    versions tested here, or broken in any way (a stub without a version, a build that fails
    to import): an optional speed-up never fails a page.
    """
    try:
        return _build_page_decoder()
    except Exception:  # noqa: BLE001 - whatever went wrong, pages decode the standard way
        return None


def _build_page_decoder() -> Callable[[bytes], Sequence[Any]] | None:
    try:
        import msgspec
    except ImportError:
        return None
    if _version(msgspec.__version__) < MSGSPEC_MINIMUM:
        return None  # installed for something else, older than the versions tested here

    class WireInvocation(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        """``components/schemas/Invocation``, field for field, as the wire has it."""

        id: str
        app_name: str
        version: str
        action_name: str
        started_at: str
        status: str
        finished_at: str | None = None
        payload: str | None = None
        output: str | None = None
        status_reason: str | None = None

    return msgspec.json.Decoder(list[WireInvocation]).decode


def prepare_page_decoding() -> None:
    """Load msgspec and build its decoder now, if they are not yet: a few ms, once a process.

    The client calls this when it loads, so that no walk pays for it: loaded while the first
    page was decoded, it made a walk with no latency start with twice the pages in flight it
    needed (10 to 13 instead of 5, in nox -s bench's grid), and loaded when the first walk
    was created it still delayed that walk's first request by about 3 ms.
    """
    _page_decoder()


def decode_page_compiled(body: bytes) -> tuple[Invocation, ...] | None:
    """The page's invocations, or ``None`` for the standard path to decode.

    ``None`` when msgspec is not installed, or when it does not take the page (see the
    module docs).
    """
    decode = _page_decoder()
    if decode is None:
        return None
    try:
        return tuple([_from_wire(wire) for wire in decode(body)])
    except Exception:  # noqa: BLE001 - whatever it is, the standard path decides
        return None


def _from_wire(wire: Any) -> Invocation:
    # The tail of _structure_invocation_fast, with the types already checked by msgspec: kept
    # in step with it by tests/test_compiled_path.py (a call per item to a shared helper
    # would cost about 2 ms a walk of 20,000).
    started_raw = wire.started_at
    finished_raw = wire.finished_at
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
    status: str = wire.status
    invocation = _new_object(UncheckedInvocation)
    invocation.id = wire.id
    invocation.app_name = wire.app_name
    invocation.version = wire.version
    invocation.action_name = wire.action_name
    invocation.started_at = started
    invocation.status = _STATUSES.get(status, status)
    invocation.finished_at = finished
    invocation.payload = wire.payload
    invocation.output = wire.output
    invocation.status_reason = wire.status_reason
    invocation._started_at_raw = started_raw
    invocation._finished_at_raw = finished_raw
    invocation.__class__ = Invocation  # checked: see UncheckedInvocation
    return invocation  # type: ignore[return-value]  # an Invocation now
