"""``ResumeToken``: where a walk stood, in a form that survives the data moving.

An integer offset is exact only on data that did not move: after one insert at the head it
points one item too early, after one delete one item too late. A token also names the last
invocations delivered, so a new walk finds its place by id (and, if they are gone, by the
order, newest first by ``started_at``), and carries the filters, so it cannot be used with
other ones by mistake. It is plain data: store it as a string and parse it back later.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from kernel_async._anchor import Anchor
from kernel_async._params import MAX_OFFSET
from kernel_async._timestamps import format_rfc3339_nano, parse_rfc3339, rfc3339_to_epoch_ns

__all__ = ["ResumeToken"]

_PREFIX: Final = "ka1."
_MAX_RECENT: Final = 8  # ids of the last items delivered, besides the anchor
_MAX_TIES: Final = 256  # ids delivered with the anchor's very started_at, kept in a token
_MAX_MARKS: Final = 256  # ties before those, named with their rank, evenly spread


@attrs.frozen(kw_only=True)
class ResumeToken:
    """Where a walk stopped, to carry on from with ``client.invocations.list(resume=token)``.

    Get one from :attr:`InvocationListing.resume_token`; ``str(token)`` is a compact string to
    store, and :meth:`parse` reads it back.

    Attributes:
        filters: The walk's filters, as sent (``status``, ``since``, ...).
        offset: The position of the next invocation, as the last page saw it (what
            :attr:`InvocationListing.resume_offset` says).
        last_id: The id of the last invocation delivered, or ``None`` if none was.
        last_started_at: Its ``started_at`` as RFC 3339 text with nanoseconds.
        recent_ids: Ids delivered before it, in the order delivered: its last few, and
            those delivered with its very ``started_at`` (its *ties*, the nearest 256), to
            find the place again if the last one is gone.
        ties_before: How many more ties were delivered before those (0 for up to 256).
        tie_marks: Some of them, evenly spread (up to 256), as ``(rank, id)`` pairs, the
            rank counted from 0 for the first of the tie delivered: with the count, they
            place a page of those ties behind the walk.
    """

    filters: tuple[tuple[str, str], ...] = ()
    offset: int = 0
    last_id: str | None = None
    last_started_at: str | None = None
    recent_ids: tuple[str, ...] = ()
    ties_before: int = 0
    tie_marks: tuple[tuple[int, str], ...] = ()

    def __attrs_post_init__(self) -> None:
        # A token can be built by hand, so it is checked like any argument: before anything
        # is sent, never by a 400 from the server. (Fields read as objects: nothing about a
        # hand-built token's types is known until checked.)
        filters: object = self.filters
        offset: object = self.offset
        last_id: object = self.last_id
        started: object = self.last_started_at
        recent: object = self.recent_ids
        if not isinstance(filters, tuple) or not all(
            isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
            for pair in filters
        ):
            raise TypeError("ResumeToken.filters must be a tuple of (name, value) str pairs")
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"ResumeToken.offset must be an int, not {type(offset).__name__}")
        if not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"ResumeToken.offset must be between 0 and {MAX_OFFSET}")
        if not isinstance(recent, tuple) or not all(isinstance(i, str) for i in recent):
            raise TypeError("ResumeToken.recent_ids must be a tuple of str")
        if len(recent) > _MAX_RECENT + _MAX_TIES:
            raise ValueError(f"a ResumeToken names at most {_MAX_RECENT + _MAX_TIES} recent_ids")
        _check_ties(self.ties_before, self.tie_marks, {*recent, last_id})
        if last_id is None:
            if started is not None or recent or self.ties_before:
                raise ValueError("a ResumeToken without last_id has no last_started_at or ids")
            return
        if not isinstance(last_id, str) or not last_id:
            raise TypeError("ResumeToken.last_id must be a non-empty str or None")
        if not isinstance(started, str):
            raise TypeError("ResumeToken.last_started_at must be an RFC 3339 str with last_id")
        parse_rfc3339(started)  # ValueError if it is not one
        if offset < 1:
            raise ValueError("a ResumeToken with last_id resumes after it: offset must be >= 1")

    @classmethod
    def at(
        cls,
        filters: Mapping[str, str],
        anchor: Anchor | None,
        offset: int,
        recent: Iterable[str] = (),
    ) -> ResumeToken:
        """The token after ``anchor`` (with its ties), or before ``offset`` without one.

        ``recent`` are the ids delivered just before the anchor, oldest first.
        """
        pairs = tuple(sorted(filters.items()))
        if anchor is None:
            return cls(filters=pairs, offset=offset)
        ids = [i for i in recent if i != anchor.id][-_MAX_RECENT:]
        # The tie in the order delivered: the nearest are named, those before them counted
        # (their ranks go on from the anchor's own count) and a few of them marked.
        order = anchor.tie_order[:-1]
        named = set(ids)
        # Ids the anchor knows but not in order (none, for an anchor a walk made) go first.
        unordered = anchor.recent_ids.difference(order, named, (anchor.id,))
        earlier = [*sorted(unordered), *(i for i in order if i not in named)]
        kept = earlier[-_MAX_TIES:]
        named.update(kept)
        unnamed = next((i for i, id_ in enumerate(order) if id_ in named), len(order))
        ties_before = anchor.ties_before + unnamed
        candidates = [(rank, id_) for id_, rank in anchor.tie_marks.items()]
        candidates += ((anchor.ties_before + i, order[i]) for i in range(unnamed))
        # Never an id named otherwise (nor twice): the token would refuse it. (A server that
        # repeats a marked tie after the anchor is the walk's to sort out, not the token's.)
        named.add(anchor.id)
        candidates = [(rank, id_) for rank, id_ in candidates if id_ not in named]
        return cls(
            filters=pairs,
            offset=anchor.position + 1,
            last_id=anchor.id,
            last_started_at=format_rfc3339_nano(anchor.started_at_ns),
            recent_ids=(*kept, *ids),
            ties_before=ties_before,
            tie_marks=_spread(candidates, ties_before),
        )

    def anchor(self) -> Anchor | None:
        """The walk plan's anchor, or ``None`` when nothing had been delivered."""
        if self.last_id is None or self.last_started_at is None:
            return None
        return Anchor(
            self.last_id,
            parse_rfc3339(self.last_started_at),
            rfc3339_to_epoch_ns(self.last_started_at),
            self.offset - 1,
            # The marked ties were delivered too: a page that shows one again repeats it.
            frozenset(self.recent_ids).union(id_ for _, id_ in self.tie_marks),
            # Which of recent_ids tie with it is not known: counted as ties all the same, they
            # shift the ranks of a later token's marks and its ties_before alike.
            tie_order=(*self.recent_ids, self.last_id),
            ties_before=self.ties_before,
            tie_marks={id_: rank for rank, id_ in self.tie_marks},
        )

    def __str__(self) -> str:
        data: dict[str, object] = {"f": dict(self.filters), "o": self.offset}
        if self.last_id is not None:
            data.update(i=self.last_id, t=self.last_started_at, r=list(self.recent_ids))
        if self.ties_before:
            data.update(n=self.ties_before, m=[list(mark) for mark in self.tie_marks])
        raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, text: str) -> ResumeToken:
        """Read a token written by ``str(token)``.

        Raises:
            TypeError: ``text`` is not a str.
            ValueError: it is not a token this version wrote.
        """
        if not isinstance(text, str):
            raise TypeError(f"a resume token must be a str, not {type(text).__name__}")
        if not text.startswith(_PREFIX):
            raise ValueError("not a kernel-async resume token (it should start with 'ka1.')")
        body = text.removeprefix(_PREFIX)
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            return cls._from_json(data)
        except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
            raise ValueError("a damaged kernel-async resume token") from None

    @classmethod
    def _from_json(cls, data: object) -> ResumeToken:
        if not isinstance(data, dict):
            raise TypeError
        filters, recent, marks = data["f"], data.get("r", []), data.get("m", [])
        if not isinstance(filters, dict) or not isinstance(recent, list):
            raise TypeError
        return cls(
            filters=tuple(sorted(filters.items())),
            offset=data["o"],
            last_id=data.get("i"),
            last_started_at=data.get("t"),
            recent_ids=tuple(recent),
            ties_before=data.get("n", 0),
            # Anything but a list of [rank, id] lists fails the checks of __init__.
            tie_marks=tuple(tuple(mark) for mark in marks),
        )


def _check_ties(count: object, marks: object, named: set[object]) -> None:
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"ResumeToken.ties_before must be an int, not {type(count).__name__}")
    if not 0 <= count <= MAX_OFFSET:
        raise ValueError(f"ResumeToken.ties_before must be between 0 and {MAX_OFFSET}")
    if not isinstance(marks, tuple) or not all(
        isinstance(mark, tuple)
        and len(mark) == 2
        and isinstance(mark[0], int)
        and not isinstance(mark[0], bool)
        and isinstance(mark[1], str)
        for mark in marks
    ):
        raise TypeError("ResumeToken.tie_marks must be a tuple of (rank, id) pairs")
    if len(marks) > _MAX_MARKS:
        raise ValueError(f"a ResumeToken has at most {_MAX_MARKS} tie_marks")
    ranks = [rank for rank, _ in marks]
    if any(not 0 <= rank < count for rank in ranks):
        raise ValueError("ResumeToken.tie_marks ranks must be >= 0 and below ties_before")
    # One rank per id, rising, and none an id the token names otherwise: two marks that
    # disagree would rank one page two ways (and a search between them would never end).
    if any(a >= b for a, b in itertools.pairwise(ranks)):
        raise ValueError("ResumeToken.tie_marks ranks must rise from one mark to the next")
    ids = [id_ for _, id_ in marks]
    if len(set(ids)) < len(ids) or not named.isdisjoint(ids):
        raise ValueError("a ResumeToken's tie_marks name each id once, and no id it names else")


def _spread(candidates: Iterable[tuple[int, str]], ties_before: int) -> tuple[tuple[int, str], ...]:
    """At most :data:`_MAX_MARKS` of ``candidates`` (rank, id), evenly spread over the ranks.

    Marks at most ``ceil(ties_before / 256)`` ranks apart leave no page of the default size
    without one for up to 25,600 ties (with the first place of the tie, that is rank 0).
    """
    spacing = max(1, -(-ties_before // _MAX_MARKS))
    marks: list[tuple[int, str]] = []
    seen: set[str] = set()
    next_rank = 0
    for rank, id_ in sorted(candidates):
        if rank >= next_rank and id_ not in seen:
            marks.append((rank, id_))
            seen.add(id_)
            next_rank = rank + spacing
    return tuple(marks)
