"""Resume tokens as plain values: written, read back, checked, and turned into anchors."""

import base64
import itertools
import json
from datetime import UTC, datetime

import pytest

from kernel_async import Invocation, ResumeToken
from kernel_async._anchor import Anchor
from kernel_async._params import MAX_OFFSET

STARTED = "2026-05-01T12:00:00.123456789Z"


def anchor(**changes: object) -> Anchor:
    fields: dict[str, object] = {
        "id": "inv_9",
        "started_at": datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        "started_at_ns": 1_777_636_800_123_456_789,
        "position": 41,
        "recent_ids": frozenset({"inv_8", "tie_a", "tie_b"}),
    }
    fields.update(changes)
    return Anchor(**fields)  # type: ignore[arg-type]


def tie_at(id_: str) -> Invocation:
    return Invocation(
        id=id_,
        app_name="a",
        version="1",
        action_name="b",
        started_at=anchor().started_at,
        status="queued",
        started_at_raw=STARTED,
    )


def test_a_token_after_an_anchor_resumes_after_it() -> None:
    token = ResumeToken.at({"status": "failed"}, anchor(), 42, ["inv_6", "inv_7", "inv_8"])
    assert token.filters == (("status", "failed"),)
    assert (token.offset, token.last_id, token.last_started_at) == (42, "inv_9", STARTED)
    assert token.recent_ids[-3:] == ("inv_6", "inv_7", "inv_8")  # the last ones, in order
    assert set(token.recent_ids) == {"inv_6", "inv_7", "inv_8", "tie_a", "tie_b"}
    back = token.anchor()
    assert back is not None
    assert (back.id, back.position, back.started_at_ns) == ("inv_9", 41, anchor().started_at_ns)
    assert back.recent_ids == frozenset(token.recent_ids)


def test_a_token_keeps_the_last_eight_and_the_nearest_256_ties() -> None:
    ties = tuple(f"tie_{n:03d}" for n in range(300))  # in the order delivered
    at = anchor(id=ties[-1], recent_ids=frozenset(ties), tie_order=ties)
    token = ResumeToken.at({}, at, 42, ties[-20:])
    assert token.recent_ids[-8:] == ties[-9:-1]  # the last ones before it, in order
    assert token.recent_ids == ties[-265:-1]  # and the 256 before them: the nearest
    assert token.ties_before == 35  # the 35 before those: counted, and all of them marked
    assert token.tie_marks == tuple(enumerate(ties[:35]))
    # Without the last few (a token taken before anything of a resumed walk was delivered).
    assert ResumeToken.at({}, at, 42).recent_ids == ties[-257:-1]


def test_ties_the_token_cannot_name_are_marked_evenly_and_counted() -> None:
    ties = tuple(f"t{n:05d}" for n in range(10_000))
    at = anchor(id=ties[-1], recent_ids=frozenset(ties), tie_order=ties)
    token = ResumeToken.at({}, at, 42, ties)
    unnamed = 10_000 - 1 - 8 - 256
    assert token.ties_before == unnamed
    ranks = [rank for rank, _ in token.tie_marks]
    assert len(ranks) <= 256
    assert ranks[0] == 0
    assert max(b - a for a, b in itertools.pairwise(ranks)) == -(-unnamed // 256)
    assert all(ties[rank] == id_ for rank, id_ in token.tie_marks)
    back = ResumeToken.parse(str(token))
    assert back == token
    resumed = back.anchor()
    assert resumed is not None
    assert (resumed.ties_before, dict(resumed.tie_marks)) == (
        unnamed,
        {id_: rank for rank, id_ in token.tie_marks},
    )
    assert len(str(token)) < 16_000  # bounded, whatever the tie


def test_a_token_from_a_resumed_anchor_counts_on_from_its_ties() -> None:
    # A walk resumed inside a long tie delivers more of it: the next token's ranks go on from
    # the first token's count, and its marks keep the first one's.
    ties = tuple(f"t{n:04d}" for n in range(1000))
    first = ResumeToken.at({}, anchor(id=ties[599], tie_order=ties[:600]), 42, ties[:599])
    resumed = first.anchor()
    assert resumed is not None
    later = Anchor.after(tuple(tie_at(i) for i in ties[600:700]), 141, resumed)
    second = ResumeToken.at({}, later, 142, ties[600:699])
    assert second.recent_ids == ties[699 - 264 : 699]
    assert second.ties_before == 699 - 264
    assert all(ties[rank] == id_ for rank, id_ in second.tie_marks)
    assert {id_ for _, id_ in first.tie_marks} <= {id_ for _, id_ in second.tie_marks}


def test_a_token_before_anything_is_an_offset() -> None:
    token = ResumeToken.at({"query": "x"}, None, 17, ["ignored"])
    assert (token.offset, token.last_id, token.recent_ids) == (17, None, ())
    assert token.anchor() is None


def test_str_and_parse_round_trip() -> None:
    token = ResumeToken.at({"since": "24h", "status": "running"}, anchor(), 42, ["inv_8"])
    text = str(token)
    assert text.startswith("ka1.")
    assert "=" not in text  # no padding: safe in a URL or a shell
    assert ResumeToken.parse(text) == token
    offset_only = ResumeToken(offset=3)
    assert ResumeToken.parse(str(offset_only)) == offset_only


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "ka1.",
        "ka1.!!!!",
        "ka1.e30",  # {}
        "ka1.W10",  # []
        "ka1.eyJmIjp7fSwibyI6LTF9",  # offset -1
        "ka1.eyJmIjp7fSwibyI6dHJ1ZX0",  # offset true
        "ka1.eyJmIjp7ImEiOjF9LCJvIjowfQ",  # a filter that is not text
        "ka1.eyJmIjp7fSwibyI6MSwiaSI6IngiLCJ0Ijoibm90IGEgdGltZSJ9",  # started_at not a time
        "ka1.eyJmIjp7fSwibyI6MCwiaSI6IngiLCJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoifQ",  # offset 0
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="resume token"):
        ResumeToken.parse(text)


@pytest.mark.parametrize("value", [b"ka1.e30", None, 42])
def test_parse_wants_text(value: object) -> None:
    with pytest.raises(TypeError, match="str"):
        ResumeToken.parse(value)  # type: ignore[arg-type]


def test_a_token_without_its_prefix_is_refused() -> None:
    # The prefix names the format's version: a body alone (or a later version's) is not read.
    text = str(ResumeToken.at({}, anchor(), 42))
    with pytest.raises(ValueError, match=r"should start with 'ka1\.'"):
        ResumeToken.parse(text.removeprefix("ka1."))


TIED: dict[str, object] = {
    "last_id": "x",
    "offset": 1,
    "last_started_at": STARTED,
    "ties_before": 3,
}


def encoded(data: object) -> str:
    raw = json.dumps(data).encode()
    return "ka1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "data",
    [
        {"f": [], "o": 0},  # filters that are not a mapping
        {"f": "status", "o": 0},
        {"f": {}, "o": 1, "i": "x", "t": STARTED, "r": "inv_8"},  # ids that are not a list
        {"f": {}, "o": 1, "i": "x", "t": STARTED, "r": {"inv_8": 1}},
        {"f": {}, "o": 1, "i": "x", "t": STARTED, "n": "3"},  # a count that is not a number
        {"f": {}, "o": 1, "i": "x", "t": STARTED, "n": 3, "m": {"0": "a"}},  # marks: a list
        {"f": {}, "o": 1, "i": "x", "t": STARTED, "n": 3, "m": ["a"]},  # ...of pairs
        {"f": {}, "o": 1, "i": "x", "t": STARTED, "n": 3, "m": [[0, "a", 1]]},
        {"f": {}, "o": 1, "i": "x", "t": STARTED, "n": 3, "m": [[7, "a"]]},  # past the count
        {"f": {}, "o": 1, "n": 3},  # ties without a last one
    ],
)
def test_a_token_of_the_wrong_shape_is_refused(data: object) -> None:
    with pytest.raises(ValueError, match="damaged"):
        ResumeToken.parse(encoded(data))


def test_every_token_reads_back_whatever_its_length() -> None:
    # Base64 without its padding: every length of text, and every last character, comes back.
    for length in range(1, 40):
        for offset in (1, 12, 345, 6789):
            token = ResumeToken.at({"query": "q" * length}, anchor(position=offset - 1), 0)
            assert ResumeToken.parse(str(token)) == token


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"offset": -1}, ValueError),
        ({"offset": MAX_OFFSET + 1}, ValueError),
        ({"offset": True}, TypeError),
        ({"offset": 1.0}, TypeError),
        ({"filters": [("a", "b")]}, TypeError),
        ({"filters": (("a", 1),)}, TypeError),
        ({"filters": (("a", "b", "c"),)}, TypeError),
        ({"recent_ids": ["x"]}, TypeError),
        ({"recent_ids": ("x",)}, ValueError),  # ids without a last one
        ({"last_started_at": STARTED}, ValueError),
        ({"last_id": "x", "offset": 1}, TypeError),  # no started_at
        ({"last_id": "", "offset": 1, "last_started_at": STARTED}, TypeError),
        ({"last_id": "x", "offset": 1, "last_started_at": "yesterday"}, ValueError),
        ({"last_id": "x", "offset": 0, "last_started_at": STARTED}, ValueError),
        ({"ties_before": 3}, ValueError),  # ties without a last one
        ({**TIED, "ties_before": -1}, ValueError),
        ({**TIED, "ties_before": True}, TypeError),
        ({**TIED, "ties_before": 3.0}, TypeError),
        ({**TIED, "tie_marks": [(0, "a")]}, TypeError),
        ({**TIED, "tie_marks": ((0, "a", "b"),)}, TypeError),
        ({**TIED, "tie_marks": (("0", "a"),)}, TypeError),
        ({**TIED, "tie_marks": ((False, "a"),)}, TypeError),
        ({**TIED, "tie_marks": ((0, 1),)}, TypeError),
        ({**TIED, "tie_marks": ((3, "a"),)}, ValueError),  # ranks only below ties_before
        ({**TIED, "tie_marks": ((-1, "a"),)}, ValueError),
        ({**TIED, "ties_before": 0, "tie_marks": ((0, "a"),)}, ValueError),
        ({**TIED, "ties_before": MAX_OFFSET + 1}, ValueError),
        ({**TIED, "tie_marks": ((1, "a"), (1, "b"))}, ValueError),  # ranks rise
        ({**TIED, "tie_marks": ((2, "a"), (1, "b"))}, ValueError),
        ({**TIED, "tie_marks": ((0, "a"), (1, "a"))}, ValueError),  # one rank per id
        ({**TIED, "tie_marks": ((0, "x"),)}, ValueError),  # an id it names as last_id
        ({**TIED, "recent_ids": ("a",), "tie_marks": ((0, "a"),)}, ValueError),
        (
            {**TIED, "ties_before": 300, "tie_marks": tuple((n, f"m{n}") for n in range(257))},
            ValueError,
        ),
        ({**TIED, "recent_ids": tuple(f"r{n}" for n in range(265))}, ValueError),
    ],
)
def test_a_token_built_by_hand_is_checked(fields: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        ResumeToken(**fields)  # type: ignore[arg-type]


def test_a_token_with_no_fields_is_the_start_of_the_list() -> None:
    token = ResumeToken()
    assert (token.offset, token.last_id, token.anchor()) == (0, None, None)


def test_a_token_after_the_very_first_invocation_is_fine() -> None:
    token = ResumeToken(offset=1, last_id="x", last_started_at=STARTED)
    back = token.anchor()
    assert back is not None
    assert back.position == 0


def test_fields_are_named() -> None:
    # Keyword-only: a token built by hand cannot put an offset where the filters go.
    with pytest.raises(TypeError):
        ResumeToken((), 5)  # type: ignore[misc]


def test_the_largest_offset_is_fine() -> None:
    assert ResumeToken(offset=MAX_OFFSET).offset == MAX_OFFSET
    assert ResumeToken(offset=0).offset == 0


def test_a_token_never_refuses_what_its_own_walk_delivered() -> None:
    # A server repeated a marked tie right after the anchor, and the walk stands on it: the
    # next token must still be built (never a ValueError from listing.resume_token).
    ties = tuple(f"t{n:04d}" for n in range(1000))
    first = ResumeToken.at({}, anchor(id=ties[699], tie_order=ties[:700]), 42, ties[:699])
    _mark_rank, mark_id = first.tie_marks[-1]
    resumed = first.anchor()
    assert resumed is not None
    assert mark_id in resumed.recent_ids  # delivered: a page that shows it again repeats it
    standing = Anchor.after((tie_at(mark_id),), 43, resumed)
    token = ResumeToken.at({}, standing, 44, [ties[699]])
    assert token.last_id == mark_id
    assert mark_id not in {id_ for _, id_ in token.tie_marks}


def test_a_token_at_its_bounds_is_taken() -> None:
    marks = tuple((n, f"m{n}") for n in range(256))
    assert ResumeToken(**{**TIED, "ties_before": 300, "tie_marks": marks}).tie_marks == marks
    assert ResumeToken(**{**TIED, "ties_before": MAX_OFFSET}).ties_before == MAX_OFFSET
    recent = tuple(f"r{n}" for n in range(264))
    assert ResumeToken(**{**TIED, "recent_ids": recent}).recent_ids == recent


def test_an_id_both_marked_and_in_order_is_marked_once() -> None:
    ties = tuple(f"t{n:03d}" for n in range(300))
    at = anchor(id=ties[-1], tie_order=ties, ties_before=5, tie_marks={ties[0]: 1})
    token = ResumeToken.at({}, at, 42, ties[-9:-1])
    ids = [id_ for _, id_ in token.tie_marks]
    assert ids.count(ties[0]) == 1
