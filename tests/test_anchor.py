"""Anchors as values: where a walk stands, whichever way an anchor was made."""

import gc
import weakref
from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_async import Invocation, ResumeToken
from kernel_async._anchor import Anchor
from kernel_async._anchor_pages import counted_alone, first_after, ties_out_of_order

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


# -- ties a resume token could only count -----------------------------------------------------


def tied(n: int, raw: str = RAW) -> Invocation:
    """Tie number n: all of them share RAW to the nanosecond, in the order of n."""
    return Invocation.from_dict(
        {
            "id": f"t{n:03d}",
            "app_name": "a",
            "version": "1",
            "action_name": "b",
            "started_at": raw,
            "status": "running",
        }
    )


NEWER = "2026-05-01T12:00:01Z"
OLDER = "2026-05-01T11:00:00Z"


def counted_anchor() -> Anchor:
    """After t556 of a tie: t300-t555 named by id, 300 before them counted, 3 of them marked."""
    back = ResumeToken(
        offset=900,
        last_id="t556",
        last_started_at=RAW,
        recent_ids=tuple(f"t{n:03d}" for n in range(300, 556)),
        ties_before=300,
        tie_marks=((0, "t000"), (100, "t100"), (200, "t200")),
    ).anchor()
    assert back is not None
    return back


def place(items: list[Invocation]) -> int | None:
    anchor = counted_anchor()
    return first_after(anchor, tuple(items), lambda: anchor.recent_ids)


def test_a_page_of_ties_with_a_mark_is_behind_a_walk_that_counted_them() -> None:
    # No id of the page is named: the mark (t200, rank 200 < 300) ranks every tie after it.
    assert place([tied(n) for n in range(150, 250)]) == 100


def test_the_first_place_of_the_tie_ranks_it_from_zero() -> None:
    # Right after invocations newer than the tie: ranks 0, 1, 2 ... (t000 itself deleted).
    page = [tied(-1, NEWER), tied(-2, NEWER), *(tied(n) for n in range(1, 99))]
    assert place(page) == 100
    # Ranked from the mark further on, the ties before it are behind too.
    assert place([tied(n) for n in range(30, 130)]) == 100


def test_ties_ranked_past_the_count_and_ties_after_the_anchor_are_new() -> None:
    # The tie's start ranks t000-t299 behind; t600 comes next (t300-t556 gone): rank 300, new.
    page = [tied(-1, NEWER), *(tied(n) for n in range(300)), tied(600), tied(601)]
    assert place(page) == 301
    assert place([tied(n) for n in range(560, 660)]) == 0  # after it: nothing names them
    # A page with an id the token names is placed by ids, as ever.
    assert place([tied(n) for n in range(540, 640) if n != 556]) == 16


def test_only_the_anchors_very_instant_is_ranked() -> None:
    # Another instant, the same microsecond: not a tie, so neither a mark nor a start counts.
    other = "2026-05-01T12:00:00.123456788Z"
    assert place([tied(-1, NEWER), *(tied(n, other) for n in range(1, 99))]) == 1
    assert place([tied(n, OLDER) for n in range(101, 200)]) == 0  # t100: a mark, by id
    assert place([tied(n) for n in range(201, 290)]) == 0  # no mark, no start: cannot tell


def test_a_rank_from_another_page_ranks_the_ties_a_page_starts_with() -> None:
    # The search knows where the tie starts: the page's first item is rank 298.
    anchor = counted_anchor()
    page = (tied(298), tied(299), tied(600), tied(601))
    assert first_after(anchor, page, lambda: anchor.recent_ids, 298) == 2
    assert first_after(anchor, page, lambda: anchor.recent_ids, 300) == 0
    assert first_after(anchor, page, lambda: anchor.recent_ids) == 0  # alone: cannot tell


def test_the_tie_starts_at_rank_zero_right_after_a_newer_invocation() -> None:
    # No mark at all: the first place alone ranks the 50 counted ties.
    back = ResumeToken(offset=60, last_id="t099", last_started_at=RAW, ties_before=50).anchor()
    assert back is not None
    page = (tied(-1, NEWER), *(tied(n) for n in range(50)), tied(600))
    assert first_after(back, page, lambda: back.recent_ids) == 51


def test_a_boundary_right_after_a_counted_tie_rests_on_the_count() -> None:
    anchor = counted_anchor()
    known = anchor.recent_ids
    page = (tied(-1, NEWER), tied(250), tied(251), tied(700))
    assert not counted_alone(anchor, page, 1, known, ends_list=False)  # after a newer one
    assert counted_alone(anchor, page, 3, known, ends_list=False)  # after t251: counted
    assert not counted_alone(anchor, page, 2 + 2, known, ends_list=False)  # page end, more
    assert counted_alone(anchor, page[:3], 3, known, ends_list=True)  # the list's end
    assert not counted_alone(anchor, (tied(-1, NEWER), tied(300)), 2, known, ends_list=True)
    other = "2026-05-01T12:00:00.123456788Z"  # the same microsecond: not a tie
    assert not counted_alone(anchor, (tied(250, other), tied(700)), 1, known, ends_list=False)


# -- the order of ties: stable, as the walk relies on, or not -----------------------------------


def _tied(n: int) -> Invocation:
    return Invocation.from_dict(
        {
            "id": f"t{n}",
            "app_name": "a",
            "version": "1",
            "action_name": "b",
            "started_at": RAW,
            "status": "running",
        }
    )


def _walked(*pages: tuple[int, ...]) -> Anchor:
    """The anchor of a walk that delivered these pages of one tie, in turn, each page
    starting with the last tie delivered (the overlap)."""
    anchor = None
    position = -1
    for numbers in pages:
        batch = tuple(_tied(n) for n in numbers)
        shown = batch if anchor is None else (_tied(int(anchor.id[1:])), *batch)
        position += len(batch)
        anchor = Anchor.after(batch, position, anchor, shown=shown)
    assert anchor is not None
    return anchor


def test_an_anchor_knows_which_tie_a_page_showed_before_each() -> None:
    anchor = _walked((0, 1, 2), (3, 4), (5,))
    assert anchor.tie_order == ("t0", "t1", "t2", "t3", "t4", "t5")
    assert anchor.tie_preds() == {f"t{n}": [f"t{n - 1}"] for n in range(1, 6)}


def test_a_tie_shown_before_one_that_came_before_it_says_the_order_is_not_stable() -> None:
    anchor = _walked((0, 1, 2), (3, 4))
    assert ties_out_of_order(anchor, tuple(_tied(n) for n in (7, 2, 9, 0)))  # t0 ... t2
    assert ties_out_of_order(anchor, tuple(_tied(n) for n in (4, 3)))
    assert ties_out_of_order(anchor, tuple(_tied(n) for n in (4, 8, 0)))  # across pages
    assert not ties_out_of_order(anchor, tuple(_tied(n) for n in (0, 8, 2, 3, 4)))


def test_ties_delivered_out_of_the_servers_order_say_nothing_where_no_page_showed_it() -> None:
    # On a stable server, t5 started at the tie's instant and sorts between t0 and t1: the
    # walk, whose cursor t2 went, placed it after t0, the only tie it knew in that page.
    first = Anchor.after(tuple(_tied(n) for n in (0, 1, 2)), 2, None)
    shown = (_tied(0), _tied(5))
    anchor = Anchor.after((_tied(5),), 3, first, shown=shown)
    assert anchor.tie_order == ("t0", "t1", "t2", "t5")  # delivered after t1 and t2
    assert anchor.tie_preds()["t5"] == ["t0"]
    assert not ties_out_of_order(anchor, tuple(_tied(n) for n in (5, 1, 3)))  # the server's
    assert ties_out_of_order(anchor, tuple(_tied(n) for n in (5, 0)))


def test_repeats_and_other_instants_say_nothing() -> None:
    anchor = _walked((0, 1, 2), (3, 4))
    assert not ties_out_of_order(anchor, tuple(_tied(n) for n in (0, 1, 0, 2)))  # the guard's
    other = invocation("2026-05-01T12:00:01Z")
    later_t0 = Invocation.from_dict({**other.to_dict(), "id": "t0"})
    assert not ties_out_of_order(anchor, (_tied(1), later_t0))


def test_a_tokens_ties_are_not_checked_until_the_walk_delivers_a_page_of_them() -> None:
    # Which of a token's ids came in one page is not known.
    anchor = ResumeToken.at({}, _walked((0, 1, 2), (3, 4)), 5).anchor()
    assert anchor is not None
    assert anchor.tie_preds() == {}
    assert not ties_out_of_order(anchor, tuple(_tied(n) for n in (4, 2, 0)))
    shown = (_tied(4), _tied(5), _tied(6))
    resumed = Anchor.after((_tied(5), _tied(6)), 6, anchor, shown=shown)
    assert resumed.tie_preds() == {"t5": ["t4"], "t6": ["t5"]}
    assert ties_out_of_order(resumed, tuple(_tied(n) for n in (6, 4)))
    assert not ties_out_of_order(resumed, tuple(_tied(n) for n in (2, 0, 4, 5, 6)))


def test_the_preds_of_a_long_tie_grow_page_by_page() -> None:
    # Shared along the walk's anchors, each adding its page: no pass over the whole tie.
    anchor = _walked(tuple(range(5000)), (5000, 5001), (5002,))
    preds = anchor.tie_preds()
    assert len(preds) == 5002
    assert preds["t5002"] == ["t5001"]
    assert ties_out_of_order(anchor, tuple(_tied(n) for n in (5002, 4800)))
    assert not ties_out_of_order(anchor, tuple(_tied(n) for n in (5002, 10)))  # too far back


def test_ties_are_followed_back_five_hundred_and_twelve_at_most() -> None:
    anchor = _walked(tuple(range(700)))
    assert ties_out_of_order(anchor, (_tied(699), _tied(187)))  # 512 back
    assert not ties_out_of_order(anchor, (_tied(699), _tied(186)))  # 513 back: not looked at


def test_every_order_a_page_showed_among_known_ties_is_kept() -> None:
    # The page at 3 showed t1 before t2 and t2 before t4 (t3 came already): all facts.
    first = Anchor.after(tuple(_tied(n) for n in (0, 1, 2, 3)), 3, None)
    shown = (_tied(1), _tied(2), _tied(4), _tied(3), _tied(5))
    anchor = Anchor.after((_tied(4), _tied(5)), 5, first, shown=shown)
    preds = anchor.tie_preds()
    assert preds["t4"] == ["t2"]
    assert preds["t3"] == ["t2", "t4"]  # shown after t4 there: t4 comes before it too
    assert preds["t5"] == ["t3"]
    # A page with t3 before t4 contradicts the page at 3: no stable server shows both.
    assert ties_out_of_order(anchor, (_tied(3), _tied(4)))
    assert not ties_out_of_order(anchor, (_tied(4), _tied(3), _tied(5)))


def test_the_tie_a_batch_follows_is_the_last_known_one_the_page_showed() -> None:
    # tX, shown between t2 and t3, was never delivered (it started meanwhile, say): t3
    # follows t2, and through it t1 and t0.
    first = Anchor.after(tuple(_tied(n) for n in (0, 1, 2)), 2, None)
    shown = (_tied(1), _tied(2), Invocation.from_dict({**_tied(0).to_dict(), "id": "tX"}))
    anchor = Anchor.after((_tied(3),), 3, first, shown=(*shown, _tied(3)))
    assert anchor.tie_preds()["t3"] == ["t2"]
    assert ties_out_of_order(anchor, (_tied(3), _tied(0)))


def test_a_batch_the_page_showed_no_known_tie_before_follows_none() -> None:
    first = Anchor.after(tuple(_tied(n) for n in (0, 1)), 1, None)
    batch = (_tied(2), _tied(3))
    anchor = Anchor.after(batch, 3, first, shown=batch)
    assert anchor.tie_preds() == {"t1": ["t0"], "t3": ["t2"]}


def test_a_tie_of_two_in_one_page_is_checked() -> None:
    newer = invocation("2026-05-01T12:00:01Z")
    anchor = Anchor.after((newer, _tied(0), _tied(1)), 2, None)
    assert anchor.tie_preds() == {"t1": ["t0"]}
    assert ties_out_of_order(anchor, (_tied(1), _tied(0)))


def test_a_tie_a_page_repeats_gives_no_order_from_its_second_place() -> None:
    # [t0, t1, t0, t2]: the second t0 is the server's repeat (the guard counts it), not a
    # sign that t1 comes before t0.
    first = Anchor.after(tuple(_tied(n) for n in (0, 1)), 1, None)
    shown = (_tied(0), _tied(1), _tied(0), _tied(2))
    anchor = Anchor.after((_tied(2),), 3, first, shown=shown)
    assert anchor.tie_preds() == {"t1": ["t0"], "t2": ["t1"]}
    assert not ties_out_of_order(anchor, (_tied(0), _tied(1), _tied(2)))


# -- the anchors along a tie share what they know ------------------------------------------


def at_nanosecond(id_: str, nanoseconds: int) -> Invocation:
    return attrs.evolve(invocation(f"2026-05-01T12:00:00.123456{nanoseconds:03d}Z"), id=id_)


def reference_after(
    batch: tuple[Invocation, ...], before: tuple[Anchor, frozenset[str], tuple[str, ...]] | None
) -> tuple[frozenset[str], tuple[str, ...]]:
    """What an anchor made after ``before`` knows, copied whole as it once was: the oracle."""
    last = batch[-1]
    order = tuple(item.id for item in batch if item.started_at_ns == last.started_at_ns)
    if before is not None and len(order) == len(batch):
        anchor, recent, tie_order = before
        if anchor.started_at_ns == last.started_at_ns:
            return frozenset(order) | recent | {anchor.id}, (tie_order or (anchor.id,)) + order
    return frozenset(order), order if len(order) > 1 else ()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40),  # which anchor made so far the batch follows
            st.integers(1, 4),  # how many invocations it holds
            st.integers(5, 7),  # their nanosecond (5: the roots' tie)
            st.booleans(),  # whether its ties are read at once (before later anchors exist)
            st.booleans(),  # made aside (a resume token's: read once, never followed)
        ),
        max_size=25,
    )
)
def test_each_anchor_along_a_tie_knows_what_a_copy_of_its_ties_would(
    steps: list[tuple[int, int, int, bool, bool]],
) -> None:
    # Anchors made in turn share one log of the tie; one made from an anchor that another
    # already followed (a resume token read mid-page) must not see, nor change, the other's.
    tie = (at_nanosecond("r0", 5), at_nanosecond("r1", 5))
    token = ResumeToken.at({}, Anchor.after(tie, 3, None), 4)
    roots = [
        Anchor.of(at_nanosecond("z", 5), 9, frozenset({"x", "y"})),
        Anchor.after((at_nanosecond("s0", 5), at_nanosecond("s1", 5)), 9, None),
        token.anchor(),
    ]
    made: list[tuple[Anchor, frozenset[str], tuple[str, ...]]] = []
    for root in roots:
        assert root is not None
        made.append((root, root.recent_ids, root.tie_order))
    for step, (parent, size, nanoseconds, read_now, aside) in enumerate(steps):
        before = made[parent % len(made)]
        batch = tuple(at_nanosecond(f"b{step}_{n}", nanoseconds) for n in range(size))
        anchor = Anchor.after(batch, 10 + step, before[0], aside=aside)
        recent, tie_order = reference_after(batch, before)
        if read_now:
            assert (anchor.recent_ids, anchor.tie_order) == (recent, tie_order)
        made.append((anchor, recent, tie_order))
    every_id = {id_ for _, recent, order in made for id_ in (*recent, *order)} | {"nope"}
    for anchor, recent, tie_order in made:
        assert [id_ for id_ in sorted(every_id) if anchor.knows(id_)] == sorted(recent)
        assert anchor.has_recent_ids() == bool(recent)
        assert (anchor.recent_ids, anchor.tie_order) == (recent, tie_order)
