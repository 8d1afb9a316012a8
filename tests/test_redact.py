"""Masking the key in every spelling a server may echo it in, as plain values (no loop).

The end-to-end checks, a real server echoing the key into a real error, are in test_secrets.py.
"""

import json
import random
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from kernel_async._redact import echoes_key, mask_body, mask_text, masked_response, shows_key
from kernel_async._transport_protocol import RawResponse

from conftest import CANARY_KEY

KEYS = [
    CANARY_KEY,
    'key"with\\quotes/and-a-slash',  # every character JSON has a short escape for
    "cl\u00e9-secr\u00e8te-\U0001f511-key",  # non-ASCII, and one past the BMP (a surrogate pair)
    "pct%41-and-%-signs-key",  # what percent-decoding would change
]


def u_escaped(text: str, *, upper: bool = False) -> str:
    """``text`` with every character written as a JSON \\u escape (UTF-16 code units)."""
    units = text.encode("utf-16-be")
    codes = [int.from_bytes(units[i : i + 2], "big") for i in range(0, len(units), 2)]
    return "".join(f"\\u{code:04X}" if upper else f"\\u{code:04x}" for code in codes)


def percent_encoded(text: str) -> str:
    """Every byte of ``text`` percent-encoded (RFC 3986 section 2.1), unreserved ones too."""
    return "".join(f"%{byte:02X}" for byte in text.encode())


# -- one text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_every_spelling_of_the_key_is_masked_and_nothing_around_it(key: str) -> None:
    spellings = [
        key,
        u_escaped(key),
        u_escaped(key, upper=True),
        u_escaped(key[0]) + key[1:],  # the repro: \u0073k-... (audit r12)
        key[:-1] + u_escaped(key[-1], upper=True),
        json.dumps(key)[1:-1],
        json.dumps(key, ensure_ascii=False)[1:-1],
        quote(key, safe=""),  # percent-encoded (RFC 3986 section 2.1), as a URL echoes it
        percent_encoded(key),
        percent_encoded(key).lower(),
        percent_encoded(key[: len(key) // 2]) + key[len(key) // 2 :],
    ]
    for spelling in spellings:
        assert mask_text(f"a <{spelling}> b", key) == "a <***> b", spelling
        assert shows_key(spelling, key)
    assert mask_text("nothing \\u0073 here %73", key) == "nothing \\u0073 here %73"
    assert mask_text(key[:-1], key) == "***"  # all of it but one character: a run (below)


def test_a_short_key_masks_nothing_in_any_spelling() -> None:
    assert mask_text("\\u0065 e %65", "e") == "\\u0065 e %65"
    assert mask_body(b'{"m": "\\u0065"}', "e") == b'{"m": "\\u0065"}'


# -- a body --------------------------------------------------------------------------------------


def test_a_body_keeps_every_byte_but_the_key() -> None:
    # Formatting, number spellings, duplicate names and bytes that are not UTF-8: untouched.
    escaped = u_escaped(CANARY_KEY[0]) + CANARY_KEY[1:]
    body = (
        b'{ "n" : 1.50, "big": 12345678901234567890, "m":"x", "m": "k \\u00e9 '
        + escaped.encode()
        + b' \\n end", "raw": "\xff"}'
    )
    masked = mask_body(body, CANARY_KEY)
    assert masked == (
        b'{ "n" : 1.50, "big": 12345678901234567890, "m":"x", "m": "k \\u00e9 *** \\n end", '
        b'"raw": "\xff"}'
    )
    assert mask_body(b'{"m": "\\u00e9 \xff"}', CANARY_KEY) == b'{"m": "\\u00e9 \xff"}'


def test_a_key_escaped_twice_is_masked_as_it_decodes() -> None:
    # The JSON string holds the text \u0073k-...: a spelling of the key once decoded.
    body = json.dumps({"m": "x " + u_escaped(CANARY_KEY)}).encode()
    assert b"\\\\u" in body
    assert json.loads(mask_body(body, CANARY_KEY)) == {"m": "x ***"}


def test_a_key_in_a_name_at_any_depth_is_masked() -> None:
    body = json.dumps({"a": [{"b": {CANARY_KEY: [u_escaped(CANARY_KEY)]}}]}).encode()
    assert json.loads(mask_body(body, CANARY_KEY)) == {"a": [{"b": {"***": ["***"]}}]}


def test_a_body_that_is_not_json_is_masked_in_every_spelling() -> None:
    escaped = u_escaped(CANARY_KEY)
    body = f'<p>key "{escaped}\\q" or {percent_encoded(CANARY_KEY)} \u00e9</p>'.encode() + b"\xfe"
    assert mask_body(body, CANARY_KEY) == '<p>key "***\\q" or *** \u00e9</p>'.encode() + b"\xfe"
    cut_short = f'{{"message": "{escaped}'.encode()  # no closing quote: cut short
    assert mask_body(cut_short, CANARY_KEY) == b'{"message": "***'


def test_a_response_echoing_an_escaped_key_is_seen_and_masked_everywhere() -> None:
    escaped = u_escaped(CANARY_KEY[0]) + CANARY_KEY[1:]
    location = f"https://x/?k={percent_encoded(CANARY_KEY)}"
    headers = CIMultiDictProxy(CIMultiDict({"Location": location}))
    response = RawResponse(
        status=401, reason="No", headers=headers, body=b'{"m": "%s"}' % escaped.encode(), url="u"
    )
    assert echoes_key(response, CANARY_KEY, body=False)  # the header, percent-encoded
    plain = RawResponse(status=401, reason="No", headers={}, body=response.body, url="u")
    assert not echoes_key(plain, CANARY_KEY, body=False)
    assert echoes_key(plain, CANARY_KEY, body=True)  # the body, escaped
    masked = masked_response(response, CANARY_KEY, body=True)
    assert masked.headers["Location"] == "https://x/?k=***"
    assert masked.body == b'{"m": "***"}'


# -- any JSON document, with the key anywhere in it --------------------------------------------
#
# A string is a list of segments: plain text, or the key in a spelling its decoded value holds
# (as it is, percent-encoded, or \u-escaped text). Serialized with every character written
# as it is or escaped at random, masked, and decoded: exactly the document with the key
# masked, whatever the escaping.

Segment = tuple[str, str]  # ("plain", text) or ("key", spelling)

segments = st.lists(
    st.tuples(st.just("plain"), st.text(max_size=8))
    | st.tuples(st.just("key"), st.sampled_from(["raw", "percent", "escaped"])),
    max_size=4,
)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | segments,
    lambda children: (
        st.tuples(st.just("list"), st.lists(children, max_size=4))
        | st.tuples(st.just("object"), st.lists(st.tuples(segments, children), max_size=4))
    ),
    max_leaves=12,
)


def decoded_spelling(key: str, kind: str) -> str:
    return {"raw": key, "percent": percent_encoded(key), "escaped": u_escaped(key)}[kind]


def build(node: Any, key: str, *, masked: bool) -> Any:
    """The document as decoded: with the key (in its spellings) or with ``***`` for it."""
    if isinstance(node, list):  # a string's segments
        return "".join(
            text if kind == "plain" else "***" if masked else decoded_spelling(key, text)
            for kind, text in node
        )
    if isinstance(node, tuple) and node[0] == "list":
        return [build(child, key, masked=masked) for child in node[1]]
    if isinstance(node, tuple) and node[0] == "object":
        pairs = node[1]
        return [[build(n, key, masked=masked), build(v, key, masked=masked)] for n, v in pairs]
    return node


def serialize(value: Any, rng: random.Random, *, pairs: bool = False) -> str:
    """JSON for ``value`` (objects as lists of pairs), each string character escaped at random."""
    if isinstance(value, str):
        out = []
        for char in value:
            must = char in '"\\' or ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF
            if must or rng.random() < 0.3:
                short = {'"': '\\"', "\\": "\\\\", "/": "\\/"}.get(char)
                out.append(short if short and rng.random() < 0.5 else u_escaped(char))
            else:
                out.append(char)
        return '"' + "".join(out) + '"'
    if isinstance(value, list) and pairs:
        return "[" + ", ".join(serialize(v, rng, pairs=True) for v in value) + "]"
    return json.dumps(value)


def to_json(node: Any, key: str, rng: random.Random) -> str:
    """The raw body of the document ``node``, the key in it, escaped at random."""
    if isinstance(node, list):
        return serialize(build(node, key, masked=False), rng)
    if isinstance(node, tuple) and node[0] == "list":
        return "[" + ",".join(to_json(child, key, rng) for child in node[1]) + "]"
    if isinstance(node, tuple) and node[0] == "object":
        members = [f"{to_json(n, key, rng)} : {to_json(v, key, rng)}" for n, v in node[1]]
        return "{" + ",\n".join(members) + "}"
    return json.dumps(node)


def holds_key(node: Any) -> bool:
    if isinstance(node, list):
        return any(kind == "key" for kind, _ in node)
    if isinstance(node, tuple):
        children = node[1] if node[0] == "list" else [c for pair in node[1] for c in pair]
        return any(holds_key(child) for child in children)
    return False


def strings_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in strings_of(item)]
    return []


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=300, deadline=None)
@given(document=documents, seed=st.integers(0, 2**32))
def test_any_json_body_decodes_to_itself_with_the_key_masked(
    key: str, document: Any, seed: int
) -> None:
    body = to_json(document, key, random.Random(seed)).encode()
    masked = mask_body(body, key)
    decoded = json.loads(masked, object_pairs_hook=lambda pairs: [list(p) for p in pairs])
    assert decoded == build(document, key, masked=True)
    assert not any(shows_key(text, key) for text in strings_of(decoded))
    if not holds_key(document):
        assert masked == body  # nothing to mask: every byte as it was


# -- a part of the key -------------------------------------------------------------------------
#
# Servers, proxies and WAFs often quote only the start of a bad token ("Bearer sk-abc..."), and
# aiohttp cuts what it quotes of a malformed line at about 100 bytes: a run of the key of 8
# characters or more is masked wherever it is, in every spelling; a shorter one is not.

FRAGMENT = 8  # kernel_async._redact.MIN_FRAGMENT_LENGTH, spelled out: the tests say what it is


def key_runs(text: str, key: str) -> list[str]:
    """Every run of ``key`` of FRAGMENT characters in ``text``, found independently of _redact."""
    return [
        key[i : i + FRAGMENT]
        for i in range(len(key) - FRAGMENT + 1)
        if key[i : i + FRAGMENT] in text
    ]


@pytest.mark.parametrize(
    ("quoted", "masked"),
    [
        (f"Bearer {CANARY_KEY[:20]}", "Bearer ***"),  # cut off by the end of the text
        (f"Bearer {CANARY_KEY[:20]}...", "Bearer ***..."),
        (f"Bearer {CANARY_KEY[:20]}\u2026", "Bearer ***\u2026"),
        (f"b'Bearer {CANARY_KEY[:20]}'...", "b'Bearer ***'..."),  # aiohttp's quote
        (f'"{CANARY_KEY[:FRAGMENT]}"', '"***"'),  # the shortest run that is masked
        (f"token=...{CANARY_KEY[-12:]}", "token=...***"),  # the end of the key
        (f"[{CANARY_KEY[5:17]}]", "[***]"),  # its middle
        (f"x{CANARY_KEY[:9]}{CANARY_KEY[9:]}y", "x***y"),
        (f"{CANARY_KEY[:10]} and {CANARY_KEY[12:24]}", "*** and ***"),
        (f"glued{CANARY_KEY[:12]}glued", "glued***glued"),
    ],
)
def test_a_run_of_the_key_is_masked_wherever_it_is(quoted: str, masked: str) -> None:
    assert mask_text(quoted, CANARY_KEY) == masked
    assert shows_key(quoted, CANARY_KEY)
    assert not shows_key(masked, CANARY_KEY)


@pytest.mark.parametrize("key", KEYS)
def test_a_run_shorter_than_8_characters_is_left_alone(key: str) -> None:
    for start in range(len(key) - FRAGMENT + 2):
        short = key[start : start + FRAGMENT - 1]
        text = f"a {short} b"
        assert mask_text(text, key) == text, short
        assert not shows_key(text, key)
    # What keys and headers have in common is not masked: a scheme, a prefix, digits.
    ordinary = "Bearer sk- sk_live 401 2026-12-01 application/json"
    assert mask_text(ordinary, CANARY_KEY) == ordinary


@pytest.mark.parametrize("key", KEYS)
def test_every_spelling_of_a_run_of_the_key_is_masked(key: str) -> None:
    run = key[1:13]  # neither the start nor the end of the key
    spellings = [
        run,
        u_escaped(run),
        u_escaped(run, upper=True),
        u_escaped(run[0]) + run[1:],
        json.dumps(run)[1:-1],
        json.dumps(run, ensure_ascii=False)[1:-1],
        quote(run, safe=""),
        percent_encoded(run),
        percent_encoded(run[:4]).lower() + run[4:],
    ]
    for spelling in spellings:
        assert mask_text(f"a <{spelling}...> b", key) == "a <***...> b", spelling
        assert shows_key(spelling, key), spelling
        assert mask_body(f'{{"m": "<{spelling}"}}'.encode(), key) == b'{"m": "<***"}', spelling


def test_a_json_string_holding_a_cut_key_is_masked_as_it_decodes() -> None:
    # A JSON encoder writes the ellipsis of a cut quote as \u2026, and may escape the rest.
    cut = u_escaped(CANARY_KEY[0]) + CANARY_KEY[1:20] + "\\u2026"
    body = b'{"code": "unauthorized", "message": "invalid token Bearer %s"}' % cut.encode()
    assert json.loads(mask_body(body, CANARY_KEY)) == {
        "code": "unauthorized",
        "message": "invalid token Bearer ***\u2026",
    }
    assert key_runs(json.loads(mask_body(body, CANARY_KEY))["message"], CANARY_KEY) == []


def test_a_response_echoing_part_of_the_key_is_seen_and_masked_everywhere() -> None:
    cut = f"Bearer {CANARY_KEY[:16]}..."
    headers = CIMultiDictProxy(CIMultiDict({"X-Request-Id": f"req-{cut}"}))
    response = RawResponse(status=401, reason=cut, headers=headers, body=b"{}", url="u")
    assert echoes_key(response, CANARY_KEY, body=False)
    # Seen a second time, as the hot path sees the same headers again.
    assert echoes_key(response, CANARY_KEY, body=False)
    in_body = RawResponse(status=401, reason="No", headers={}, body=cut.encode(), url="u")
    assert not echoes_key(in_body, CANARY_KEY, body=False)
    assert echoes_key(in_body, CANARY_KEY, body=True)
    masked = masked_response(response, CANARY_KEY, body=True)
    assert (masked.reason, masked.headers["X-Request-Id"]) == ("Bearer ***...", "req-Bearer ***...")
    plain = RawResponse(status=200, reason="OK", headers=headers, body=b"[]", url="u")
    other = CIMultiDictProxy(CIMultiDict({"X-Request-Id": "req-1", "Date": "Tue"}))
    assert not echoes_key(
        RawResponse(status=200, reason="OK", headers=other, body=b"[]", url="u"),
        CANARY_KEY,
        body=False,
    )
    assert echoes_key(plain, CANARY_KEY, body=False)


# Any text around runs of the key, each in any spelling: masked, no run of the key is left, and
# the rest is kept character for character. The text around uses no character of the key, so
# that a run is exactly the part of the key put there.


def spell(run: str, spelling: str) -> str:
    return {
        "raw": run,
        "percent": percent_encoded(run),
        "escaped": u_escaped(run),
        "mixed": u_escaped(run[:3]) + run[3:-2] + percent_encoded(run[-2:]),
    }[spelling]


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_text_with_runs_of_the_key_is_masked_and_kept_otherwise(
    key: str, data: st.DataObject
) -> None:
    around = st.text(
        alphabet=st.characters(blacklist_characters=set(key) | set("\\%*")), max_size=6
    )
    # A key with a percent sign or a backslash is caught in each spelling alone: with three
    # encoders at once, or a run right after another (whose backslash may start an escape),
    # what is written is ambiguous, and a few of its characters may stay (fewer than 8).
    ambiguous = "%" in key or "\\" in key
    mixed = [] if ambiguous else ["mixed"]
    if ambiguous:
        around = around.filter(bool)
    runs = st.tuples(
        st.integers(0, len(key) - FRAGMENT),
        st.integers(FRAGMENT, len(key)),
        st.sampled_from(["raw", "percent", "escaped", *mixed]),
    )
    parts = data.draw(st.lists(st.tuples(around, runs), max_size=4))
    tail = data.draw(around)
    text, expected = "", ""
    for n, (before, (start, length, spelling)) in enumerate(parts):
        text += before + spell(key[start : start + length], spelling)
        # Runs with nothing between them may be masked as one.
        expected += re.escape(before) + (r"(?:\*\*\*)*" if n and not before else r"(?:\*\*\*)+")
    text += tail
    masked = mask_text(text, key)
    assert re.fullmatch(expected + re.escape(tail), masked, re.DOTALL), (text, masked)
    assert key_runs(masked, key) == []
    assert not shows_key(masked, key)
    assert mask_text(masked, key) == masked
