"""Property tests of the decoder: any body decodes or raises the validation error, nothing else."""

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import timestamps

from kernel_async import APIResponseValidationError, InvocationStatus
from kernel_async._convert import NonStandardNumber, make_loads
from kernel_async._protocol import interpret_page_response

HEADERS = {"X-Has-More": "false", "X-Limit": "100", "X-Offset": "0", "X-Next-Offset": "0"}

# Standard JSON only: NaN and Infinity are not JSON (RFC 8259), and orjson rejects them.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)

invocations = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1),
        "app_name": st.text(),
        "version": st.text(),
        "action_name": st.text(),
        "started_at": timestamps,
        "status": st.one_of(st.sampled_from([s.value for s in InvocationStatus]), st.text()),
    },
    optional={
        "finished_at": st.one_of(st.none(), timestamps),
        "payload": st.one_of(st.none(), st.text()),
        "output": st.one_of(st.none(), st.text()),
        "status_reason": st.one_of(st.none(), st.text()),
        "future_field": json_values,
        "nested": st.dictionaries(st.text(), json_values, max_size=3),
    },
)


def decode(body: bytes) -> Any:
    return interpret_page_response(200, HEADERS, body, offset=0)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_the_validation_error(body: bytes) -> None:
    try:
        page = decode(body)
    except APIResponseValidationError as error:
        assert error.status == 200  # noqa: PT017 - any input is fine, but only this error
    else:
        assert isinstance(page.items, tuple)


@settings(max_examples=300)
@given(json_values)
def test_any_json_decodes_or_raises_the_validation_error(value: Any) -> None:
    try:
        page = decode(json.dumps(value).encode())
    except APIResponseValidationError as error:
        assert error.path.startswith("$")  # noqa: PT017
    else:
        assert isinstance(value, list)
        assert len(page) == len(value)


@settings(max_examples=300)
@given(st.lists(invocations, max_size=8))
def test_schema_valid_pages_with_extras_and_unknown_statuses_always_decode(
    items: list[dict[str, Any]],
) -> None:
    page = decode(json.dumps(items).encode())
    assert [i.id for i in page] == [i["id"] for i in items]
    for invocation, wire in zip(page, items, strict=True):
        assert invocation.status == wire["status"]
        assert invocation.started_at.tzinfo is not None
        assert invocation.to_dict()["started_at"] == wire["started_at"]


@settings(max_examples=200)
@given(st.lists(invocations, min_size=1, max_size=4), st.data())
def test_a_wrong_type_anywhere_is_a_validation_error_at_its_path(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(items) - 1))
    field = data.draw(
        st.sampled_from(["id", "app_name", "version", "action_name", "started_at", "status"])
    )
    items[index][field] = data.draw(
        st.one_of(st.none(), st.integers(), st.booleans(), st.lists(st.integers(), max_size=2))
    )
    try:
        decode(json.dumps(items).encode())
    except APIResponseValidationError as error:
        assert error.path == f"$[{index}].{field}"  # noqa: PT017
    else:
        raise AssertionError("a wrong type was accepted")


field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    timestamps,
    st.sampled_from(["queued", "failed", "cancelled"]),
    st.lists(st.integers(), max_size=1),
)
maybe_invocations = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "app_name",
            "version",
            "action_name",
            "started_at",
            "finished_at",
            "status",
            "payload",
            "output",
            "status_reason",
            "extra",
        ]
    ),
    field_values,
)


odd_timestamps = st.one_of(
    timestamps,
    st.sampled_from(["2025-06-01T12:34:56Z\n2025-06-01T12:34:56Z", "2025-13-01T00:00:00Z", "\n"]),
    st.sampled_from(["2025-06-01 12:34:56z", "2025-06-01T23:59:60Z", "2025-06-01T12:34:56"]),
)
invocations_with_odd_timestamps = st.builds(
    lambda item, started, finished: {**item, "started_at": started, "finished_at": finished},
    invocations,
    odd_timestamps,
    st.one_of(st.none(), odd_timestamps),
)


@settings(max_examples=1000)
@given(st.one_of(maybe_invocations, invocations, json_values))
def test_the_fast_path_and_the_detailed_converter_agree(candidate: Any) -> None:
    """The hand-specialised hook accepts exactly what the cattrs-generated one accepts."""
    from kernel_async import Invocation
    from kernel_async._convert import _structure_invocation_fast, detailed_converter

    try:
        fast: Invocation | None = _structure_invocation_fast(candidate)
    except Exception:
        fast = None
    try:
        detailed: Invocation | None = detailed_converter().structure(candidate, Invocation)
    except Exception:
        detailed = None
    assert fast == detailed
    if fast is not None and detailed is not None:
        assert fast.to_dict() == detailed.to_dict()
        assert type(fast.status) is type(detailed.status)


@settings(max_examples=300)
@given(
    st.lists(st.one_of(maybe_invocations, invocations, invocations_with_odd_timestamps), max_size=4)
)
def test_a_page_decodes_as_its_invocations_do_one_by_one(page: list[Any]) -> None:
    """A page's verdict and values are the detailed converter's, invocation by invocation,
    whatever shapes of timestamps it mixes (lowercase, a leap second, a newline)."""
    from kernel_async import Invocation
    from kernel_async._convert import StructureFailure, decode_invocations, detailed_converter

    try:
        decoded: tuple[Invocation, ...] | None = decode_invocations(page)
    except StructureFailure:
        decoded = None
    try:
        one_by_one: tuple[Invocation, ...] | None = tuple(
            detailed_converter().structure(item, Invocation) for item in page
        )
    except Exception:
        one_by_one = None
    assert decoded == one_by_one
    if decoded is not None and one_by_one is not None:
        for mine, theirs in zip(decoded, one_by_one, strict=True):
            assert mine.to_dict() == theirs.to_dict()
            assert (mine.started_at_ns, mine.finished_at_ns) == (
                theirs.started_at_ns,
                theirs.finished_at_ns,
            )


# -- one verdict whichever JSON decoder is installed -----------------------------------------

try:
    import orjson
except ImportError:  # the nox session of the newest Python installs it; the others do not
    orjson = None  # type: ignore[assignment]

DECODERS = [pytest.param(None, id="json")]
if orjson is not None:
    DECODERS.append(pytest.param(orjson.loads, id="orjson"))

NON_STANDARD = [b"NaN", b"Infinity", b"-Infinity", b"[1.5, NaN]", b'{"a": [Infinity]}']


@pytest.mark.parametrize("fast", DECODERS)
@pytest.mark.parametrize("body", NON_STANDARD)
def test_nan_and_infinity_are_not_json_for_either_decoder(fast: Any, body: bytes) -> None:
    with pytest.raises(NonStandardNumber):
        make_loads(fast)(body)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"id": NaN}]',
        b'[{"id": "a", "started_at": Infinity}]',
        b"[-Infinity]",
    ],
)
def test_nan_in_a_page_is_a_validation_error_that_is_not_retried(body: bytes) -> None:
    with pytest.raises(APIResponseValidationError) as caught:
        decode(body)
    assert caught.value.retryable is False
    assert "not a JSON number" in caught.value.message


def test_the_standard_decoder_alone_gives_the_same_verdict() -> None:
    """The package as imported without orjson (blocked in a fresh interpreter)."""
    script = (
        "import sys; sys.modules['orjson'] = None\n"
        "from kernel_async._protocol import interpret_page_response\n"
        "from kernel_async import APIResponseValidationError\n"
        "for body in (b'[NaN]', b'[1, Infinity]', b'[{'):\n"
        "    try:\n"
        "        interpret_page_response(200, {}, body, offset=0)\n"
        "    except APIResponseValidationError as e:\n"
        "        print(e.retryable)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["False", "False", "True"]


json_texts = st.one_of(
    json_values.map(json.dumps),
    st.text(alphabet='[]{}",:0123456789.eE+-NaInfinity tru\\ud800', max_size=40),
)


@pytest.mark.skipif(orjson is None, reason="orjson is not installed")
@settings(max_examples=500)
@given(json_texts)
def test_orjson_and_the_standard_decoder_agree(text: str) -> None:
    body = text.encode("utf-8", "surrogatepass")
    verdicts = []
    for fast in (None, orjson.loads):
        try:
            verdicts.append(("value", json.dumps(make_loads(fast)(body), sort_keys=True)))
        except NonStandardNumber:
            verdicts.append(("not a number", ""))
        except (ValueError, RecursionError):
            verdicts.append(("not JSON", ""))
    standard, fast_verdict = verdicts
    assert standard[0] == fast_verdict[0]
