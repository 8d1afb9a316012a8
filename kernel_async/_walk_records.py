"""The values the walk plan hands the I/O layer.

Requests to make, what to do with each page, and the walk's statistics; the plan
(:mod:`kernel_async._walk`) makes them, the listing (:mod:`kernel_async._listing`) acts on them.
"""

from __future__ import annotations

import attrs

from kernel_async._models import Invocation, Page

__all__ = ["Accepted", "Request", "WalkStats"]


class Request:
    """One page request: a key unique within the walk, and its offset.

    ``bridge`` marks a request made to find the walk's place again; ``unchecked`` one made
    one page at a time under heavy churn (its page is taken unbridged, as a sequential walk
    would take it); ``limit`` the page size of a request that looks for a resumed walk's
    place (``None``: the walk's own). Read-only by convention; a plain slotted class, as
    :class:`Accepted`, because one is made per page and attrs' frozen ``__init__`` costs a
    call per field.
    """

    __slots__ = ("bridge", "key", "limit", "offset", "unchecked")

    def __init__(
        self,
        key: int,
        offset: int,
        bridge: bool = False,
        unchecked: bool = False,
        limit: int | None = None,
    ) -> None:
        self.key = key
        self.offset = offset
        self.bridge = bridge
        self.unchecked = unchecked
        self.limit = limit

    def __repr__(self) -> str:
        return (
            f"Request(key={self.key!r}, offset={self.offset!r}, bridge={self.bridge!r}, "
            f"unchecked={self.unchecked!r}, limit={self.limit!r})"
        )


class Accepted:
    """What to do with a page the plan took (read-only by convention).

    Attributes:
        items: The invocations to deliver: new to the walk, in order, cut at ``max_items``.
        start: The position of ``items[0]`` in the list as that page saw it.
        discard: Keys of requests to cancel and whose results to ignore.
        page: The page the items come from when it is only part of the response (a resumed
            walk's search read more than a page of the walk's size); ``None``: the response.
    """

    __slots__ = ("discard", "items", "page", "start")

    def __init__(
        self,
        items: tuple[Invocation, ...],
        start: int,
        discard: tuple[int, ...] = (),
        page: Page | None = None,
    ) -> None:
        self.items = items
        self.start = start
        self.discard = discard
        self.page = page

    def __repr__(self) -> str:
        return (
            f"Accepted(items=<{len(self.items)} invocations>, start={self.start!r}, "
            f"discard={self.discard!r})"
        )


@attrs.define
class WalkStats:
    """What a walk did, for logs, tests and tuning.

    Attributes:
        requests: Page requests made.
        pages: Pages that delivered (or could have delivered) items in turn.
        bridges: Requests made to find the walk's place again after the data moved.
        searched: Pages a resumed walk read while looking for its place, past invocations
            that started (or were deleted) since its token was taken, before the one that
            holds it.
        wasted: Requests whose pages were not used: cancelled speculation, pages past the end,
            pages fetched before a change that made them useless.
        possible_gaps: Boundaries where the walk could not prove that nothing was missed (see
            :class:`~kernel_async.ContinuityError`). 0 on every walk that could check.
        anomalies: Pages with something odd that the walk worked around (a missing
            ``X-Has-More``, an empty page that says there is more).
        window: The pages the walk may have in flight now.
        peak_window: The most it had.
        reduced_window_pages: Pages delivered while churn kept the window below ``prefetch``.
        unchecked_pages: Pages requested one at a time without bridging, because the data
            changed faster than the walk could check (from
            :data:`~kernel_async._walk.CHURN_LIMIT` of the last
            :data:`~kernel_async._walk.CHURN_WINDOW` pages on, floating or bringing nothing
            new, until the last sixteen all went well); a page there that floats counts in
            ``possible_gaps``.
    """

    requests: int = 0
    pages: int = 0
    bridges: int = 0
    searched: int = 0
    wasted: int = 0
    possible_gaps: int = 0
    anomalies: int = 0
    window: int = 0
    peak_window: int = 0
    reduced_window_pages: int = 0
    unchecked_pages: int = 0
