"""msgspec's path for pages (the ``fast`` extra) takes a page only as the standard path would.

kernel_async._compiled decodes a page with msgspec when it is installed and hands anything it
does not take to the standard path (json or orjson, then the strict structuring). Its one
promise: whatever it returns, the standard path returns too, value for value. These tests
generate JSON texts close to the wire, with the traps msgspec reads differently (unknown
fields holding what the standard decoder refuses, repeated keys, byte order marks, lone
surrogates, invalid UTF-8), and hold the two paths to that.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from strategies import timestamps

from kernel_async import APIResponseValidationError, Invocation, InvocationStatus
from kernel_async._compiled import _page_decoder, decode_page_compiled, prepare_page_decoding
from kernel_async._convert import StructureFailure, decode_invocations, make_loads
from kernel_async._protocol import interpret_page_response
from kernel_async.testing import generate_invocations

pytest.importorskip("msgspec", reason="msgspec (the fast extra) is not installed")

STANDARD_LOADS = make_loads(None)  # the standard library's verdict, whatever else is installed
HEADERS = {"X-Has-More": "false", "X-Limit": "100", "X-Offset": "0", "X-Next-Offset": "0"}
REQUIRED = ["id", "app_name", "version", "action_name", "started_at", "status"]
OPTIONAL = ["finished_at", "payload", "output", "status_reason"]


def standard(body: bytes) -> tuple[Invocation, ...] | None:
    """What the standard path makes of ``body``, or ``None`` where it refuses it."""
    try:
        return decode_invocations(STANDARD_LOADS(body))
    except (ValueError, RecursionError, StructureFailure):
        return None


def same(compiled: tuple[Invocation, ...], expected: tuple[Invocation, ...]) -> None:
    assert compiled == expected
    for mine, theirs in zip(compiled, expected, strict=True):
        assert mine.to_dict() == theirs.to_dict()
        assert type(mine) is Invocation
        assert type(mine.status) is type(theirs.status)
        assert (mine.started_at_ns, mine.finished_at_ns) == (
            theirs.started_at_ns,
            theirs.finished_at_ns,
        )


def in_a_fresh_interpreter(script: str) -> list[str]:
    """What ``script`` prints, run by a new Python process (modules blocked or stubbed)."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.split()


def emulator_page() -> bytes:
    items = generate_invocations(100, seed=7)
    return json.dumps(items).encode()


# -- generated JSON texts, as bytes, with the traps ------------------------------------------

any_timestamps = st.builds(  # out of range, or not RFC 3339, as often as not
    lambda y, mo, d, h, mi, s, sep, frac, off: (
        f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{off}"
    ),
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
    st.sampled_from(["T", "t", " ", "_"]),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=10).map(lambda d: "." + d)),
    st.sampled_from(["Z", "+00:00", "+24:00", "", "+0100", "+01"]),
)
TRICKY_STRINGS = [
    b'"\\ud800"',  # an escaped lone surrogate: json keeps it
    b'"x\\udfff"',
    b'"\\ud83d\\ude00"',  # a valid surrogate pair
    b'"\xff"',  # invalid UTF-8
    b'"\xed\xa0\x80"',  # an encoded surrogate: json's surrogatepass takes it
    b'"\xc3\xa9\xe2\x80\xa8"',
    b'"a\\u0000b\\/\\"\\\\"',
    b'"\\u00e9"',
    b'"tab\there"',  # a raw control character: not JSON
]
TRICKY_VALUES = [
    b"null",
    b"1",
    b"-0",
    b"true",
    b"NaN",
    b"Infinity",
    b"1e400",
    b"1" + b"0" * 5000,  # past int_max_str_digits: json refuses it
    b"[]",
    b"{}",
    b'{"a": [1, {"b": null}]}',
    b"[" * 50 + b"]" * 50,
]
string_tokens = st.one_of(
    st.text(max_size=6).map(lambda s: json.dumps(s).encode()),
    st.text(max_size=6).map(lambda s: json.dumps(s, ensure_ascii=False).encode()),
    any_timestamps.map(lambda t: json.dumps(t).encode()),
    st.sampled_from([s.value for s in InvocationStatus] + ["cancelled"]).map(
        lambda s: json.dumps(s).encode()
    ),
    st.sampled_from(TRICKY_STRINGS),
)
value_tokens = st.one_of(st.sampled_from(TRICKY_VALUES + TRICKY_STRINGS), string_tokens)


def key_token(name: str, *, escaped: bool) -> bytes:
    if escaped:  # the same key, written with an escape
        return b'"\\u00' + f"{ord(name[0]):02x}".encode() + name[1:].encode() + b'"'
    return json.dumps(name).encode()


TRAPS = ("missing", "value", "timestamp", "escaped key", "repeated key", "unknown field")


@st.composite
def invocation_objects(draw: st.DrawFn) -> bytes:
    """An invocation's JSON object: valid two times in three, else with one trap drawn in."""
    trap = draw(st.sampled_from(TRAPS)) if draw(st.integers(0, 2)) == 0 else None
    pairs: list[tuple[bytes, bytes]] = []
    for name in REQUIRED + OPTIONAL:
        if name in OPTIONAL and draw(st.booleans()):
            continue
        if name in ("started_at", "finished_at"):
            value = json.dumps(draw(timestamps)).encode()
        elif name in OPTIONAL and draw(st.integers(0, 3)) == 0:
            value = b"null"
        else:
            value = json.dumps(draw(st.text(max_size=6)), ensure_ascii=draw(st.booleans())).encode()
        pairs.append((key_token(name, escaped=False), value))
    index = draw(st.integers(0, len(pairs) - 1))
    name = draw(st.sampled_from(REQUIRED + OPTIONAL))
    if trap == "missing":
        del pairs[index]
    elif trap == "value":
        pairs[index] = (pairs[index][0], draw(value_tokens))
    elif trap == "timestamp":  # out of range or not RFC 3339, where fromisoformat may take it
        name = draw(st.sampled_from(["started_at", "finished_at"]))
        pairs.insert(index, (key_token(name, escaped=False), b"null"))  # finished_at may be null
        pairs.append((key_token(name, escaped=False), json.dumps(draw(any_timestamps)).encode()))
    elif trap == "escaped key":
        pairs[index] = (key_token(name, escaped=True), pairs[index][1])
    elif trap == "repeated key":
        pairs.insert(index, (key_token(name, escaped=False), draw(value_tokens)))
    elif trap == "unknown field":
        unknown = json.dumps(draw(st.sampled_from(["extra", "", "ID"]))).encode()
        pairs.insert(index, (unknown, draw(value_tokens)))
    space = draw(st.sampled_from([b"", b" ", b"\n\t"]))
    return b"{" + (b"," + space).join(k + b":" + space + v for k, v in pairs) + b"}"


@st.composite
def page_bodies(draw: st.DrawFn) -> bytes:
    objects = draw(st.lists(invocation_objects(), max_size=4))
    body = b"[" + b",".join(objects) + b"]"
    if draw(st.integers(0, 5)):
        return body
    prefix = draw(st.sampled_from([b"", b" \n", b"\xef\xbb\xbf"]))  # a byte order mark
    suffix = draw(st.sampled_from([b"", b"\r\n", b" x", b"]"]))
    return prefix + body + suffix


@settings(max_examples=1500, deadline=None)
@given(page_bodies())
def test_what_msgspec_takes_the_standard_path_takes_the_same(body: bytes) -> None:
    compiled = decode_page_compiled(body)
    expected = standard(body)
    event("compiled" if compiled is not None else "left to the standard path")
    if compiled is not None:
        assert expected is not None, "msgspec took a page the standard path refuses"
        same(compiled, expected)


# -- the shortcut is taken, and what it leaves is still judged -------------------------------


def test_a_page_as_the_api_writes_it_takes_the_compiled_path() -> None:
    body = emulator_page()
    compiled = decode_page_compiled(body)
    assert compiled is not None  # the shortcut is really taken: the property is not vacuous
    expected = standard(body)
    assert expected is not None
    same(compiled, expected)


@pytest.mark.parametrize(
    ("name", "trap", "accepted"),
    [
        ("a field the API added", b'"extra": {"nested": [1, 2.5, null]}', True),
        ("invalid UTF-8 in an unknown field", b'"extra": "\xff"', False),
        ("a 5,000-digit number in an unknown field", b'"extra": 1' + b"0" * 5000, False),
        ("NaN in an unknown field", b'"extra": NaN', False),
        ("a lone surrogate", b'"payload": "\\ud800"', True),
        ("a key repeated with another type first", b'"version": 3, "version": "v"', True),
    ],
)
def test_pages_msgspec_reads_differently_are_left_to_the_standard_path(
    name: str, trap: bytes, accepted: bool
) -> None:
    body = (
        b'[{"id": "a", "app_name": "app", "version": "1", "action_name": "run", '
        b'"started_at": "2026-01-01T00:00:00Z", "status": "running", ' + trap + b"}]"
    )
    assert decode_page_compiled(body) is None, name
    if accepted:
        page = interpret_page_response(200, HEADERS, body, offset=0)
        assert [i.id for i in page] == ["a"]
    else:
        with pytest.raises(APIResponseValidationError):
            interpret_page_response(200, HEADERS, body, offset=0)


def test_a_byte_order_mark_is_left_to_the_standard_path() -> None:
    body = b"\xef\xbb\xbf" + emulator_page()
    assert decode_page_compiled(body) is None
    page = interpret_page_response(200, HEADERS, body, offset=0)
    assert len(page) == 100


def test_without_msgspec_pages_decode_the_standard_way() -> None:
    """The package as imported without msgspec (blocked in a fresh interpreter)."""
    script = (
        "import sys; sys.modules['msgspec'] = None\n"
        "import json\n"
        "from kernel_async._compiled import decode_page_compiled\n"
        "from kernel_async._protocol import interpret_page_response\n"
        "from kernel_async.testing import generate_invocations\n"
        "body = json.dumps(generate_invocations(3, seed=1)).encode()\n"
        "print(decode_page_compiled(body), len(interpret_page_response(200, {}, body, offset=0)))\n"
    )
    assert in_a_fresh_interpreter(script) == ["None", "3"]


def test_invocation_from_dict_and_pages_agree() -> None:
    body = emulator_page()
    compiled = decode_page_compiled(body)
    assert compiled is not None
    from_dicts = tuple(Invocation.from_dict(item) for item in json.loads(body))
    same(compiled, from_dicts)


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("0.19.0", (0, 19)),
        ("0.18.6", (0, 18)),
        ("1.0", (1, 0)),
        ("0.19.0rc1", (0, 19)),
        ("dev", (0,)),
    ],
)
def test_msgspec_versions_are_read_from_their_first_two_numbers(
    text: str, version: tuple[int, ...]
) -> None:
    from kernel_async._compiled import MSGSPEC_MINIMUM, _version

    assert _version(text) == version
    assert (version >= MSGSPEC_MINIMUM) == (text not in ("dev",))


def test_an_old_msgspec_is_not_used() -> None:
    """An msgspec older than the oldest tested is left alone (in a fresh interpreter)."""
    script = (
        "import msgspec; msgspec.__version__ = '0.17.9'\n"
        "import json\n"
        "from kernel_async._compiled import decode_page_compiled\n"
        "from kernel_async.testing import generate_invocations\n"
        "body = json.dumps(generate_invocations(3, seed=1)).encode()\n"
        "print(decode_page_compiled(body))\n"
    )
    assert in_a_fresh_interpreter(script) == ["None"]


def test_every_rfc_3339_form_takes_the_compiled_path() -> None:
    """Lowercase ``t`` and ``z``, a space, offsets: parsed there, not left to the standard path."""
    items = generate_invocations(4, seed=3)
    forms = [
        ("2026-01-02t03:04:05.123456789z", "2026-01-02 03:04:06z"),
        ("2026-01-02T03:04:05+05:30", "2026-01-02T03:04:06.5-07:00"),
        ("2026-01-02T03:04:05Z", None),
        ("2026-01-02t03:04:05Z", "2026-01-02T03:04:06.000000001+00:00"),
    ]
    for item, (started, finished) in zip(items, forms, strict=True):
        item["started_at"], item["finished_at"] = started, finished
    body = json.dumps(items).encode()
    compiled = decode_page_compiled(body)
    assert compiled is not None
    expected = standard(body)
    assert expected is not None
    same(compiled, expected)


@pytest.fixture
def fresh_decoder() -> Iterator[None]:
    """The decoder is looked up once per process: look it up again, and again after."""
    _page_decoder.cache_clear()
    yield
    _page_decoder.cache_clear()


@pytest.mark.usefixtures("fresh_decoder")
def test_without_msgspec_the_compiled_path_takes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgspec", None)  # its import fails, as when not installed
    assert decode_page_compiled(emulator_page()) is None


@pytest.mark.usefixtures("fresh_decoder")
@pytest.mark.parametrize(("version", "used"), [("0.17.9", False), ("0.18.0", True)])
def test_msgspec_is_used_from_the_oldest_version_tested(
    monkeypatch: pytest.MonkeyPatch, version: str, used: bool
) -> None:
    import msgspec

    monkeypatch.setattr(msgspec, "__version__", version)
    assert (decode_page_compiled(emulator_page()) is not None) == used


@pytest.mark.parametrize(
    "stub",
    [
        "",  # no __version__
        "raise RuntimeError('this build of msgspec is broken')\n",
        "__version__ = '0.19.0'\n",  # new enough, but no Struct
    ],
)
def test_a_broken_msgspec_never_fails_a_page(tmp_path: Any, stub: str) -> None:
    """A module named msgspec that is not one: pages decode the standard way, no error."""
    (tmp_path / "msgspec").mkdir()
    (tmp_path / "msgspec" / "__init__.py").write_text(stub)
    script = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "import json\n"
        "from kernel_async._compiled import decode_page_compiled\n"
        "from kernel_async._protocol import interpret_page_response\n"
        "from kernel_async.testing import generate_invocations\n"
        "body = json.dumps(generate_invocations(3, seed=1)).encode()\n"
        "for _ in range(2):\n"
        "    page = interpret_page_response(200, {}, body, offset=0)\n"
        "    print(decode_page_compiled(body), len(page))\n"
    )
    assert in_a_fresh_interpreter(script) == ["None", "3", "None", "3"]


def test_the_decoder_is_built_before_any_walk_is_timed() -> None:
    """The first page's round trip sets the adaptive window: loading msgspec is not latency.

    The client builds the decoder when it loads (test_startup.py checks what loads then), so
    neither a walk's creation nor its first page waits for it.
    """
    script = (
        "from kernel_async import AsyncKernel\n"
        "from kernel_async._compiled import _page_decoder\n"
        "print(_page_decoder.cache_info().currsize, _page_decoder() is not None)\n"
    )
    assert in_a_fresh_interpreter(script) == ["1", "True"]


@pytest.mark.usefixtures("fresh_decoder")
def test_preparing_builds_the_decoder_once() -> None:
    # In this process, not a fresh one: what the client's import does, at the function's layer.
    prepare_page_decoding()
    assert _page_decoder.cache_info().currsize == 1
    prepare_page_decoding()
    assert _page_decoder.cache_info().hits == 1  # looked up once per process, not rebuilt
