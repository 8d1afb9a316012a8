"""Anchors as values: where a walk stands, whichever way an anchor was made."""

import gc
import weakref
from datetime import UTC, datetime

import pytest

from kernel_async import Invocation, ResumeToken
from kernel_async._anchor import Anchor

RAW = "2026-05-01T12:00:00.123456789Z"


def invocation(raw: str = RAW) -> Invocation:
    return Invocation.from_dict(
        {
            "id": "inv_9",
            "app_name": "a",
            "version": "1",
            "action_name": "b",
            "started_at": raw,
            "status": "running",
        }
    )


def test_an_anchor_at_an_invocation_has_its_nanoseconds() -> None:
    anchor = Anchor.of(invocation(), 41, frozenset({"inv_8"}))
    assert anchor.started_at_ns == 1_777_636_800_123_456_789  # past the microsecond
    assert anchor.started_at == datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert (anchor.id, anchor.position, anchor.recent_ids) == ("inv_9", 41, frozenset({"inv_8"}))


def test_an_anchor_equals_the_one_its_resume_token_gives_back() -> None:
    # One is made from the invocation (nanoseconds read when asked), the other from text.
    anchor = Anchor.of(invocation(), 41, frozenset({"inv_8"}))
    back = ResumeToken.at({}, anchor, 42, ["inv_8"]).anchor()
    assert back == anchor
    assert hash(back) == hash(anchor)
    assert repr(back) == repr(anchor)
    assert anchor != ("inv_9", anchor.started_at, anchor.started_at_ns, 41, anchor.recent_ids)


def test_anchors_a_nanosecond_apart_differ() -> None:
    one = Anchor.of(invocation(), 41)
    other = Anchor.of(invocation("2026-05-01T12:00:00.123456788Z"), 41)
    assert one.started_at == other.started_at  # the same microsecond
    assert one != other
    assert other.is_behind(invocation())  # a nanosecond newer than `other`
    assert not one.is_behind(invocation())


def test_an_anchor_needs_its_nanoseconds_or_its_invocation() -> None:
    with pytest.raises(TypeError, match="started_at_ns or the invocation"):
        Anchor("inv_9", datetime(2026, 5, 1, tzinfo=UTC), None, 41)


def test_once_its_nanoseconds_are_read_an_anchor_lets_its_invocation_go() -> None:
    item = invocation()
    alive = weakref.ref(item)
    anchor = Anchor.of(item, 41)
    del item
    assert alive() is not None  # kept until the nanoseconds are asked for
    assert anchor.started_at_ns == 1_777_636_800_123_456_789
    gc.collect()
    assert alive() is None
    assert anchor.started_at_ns == 1_777_636_800_123_456_789  # read once, kept
