"""Shared by the live-data tests: what a walk owed, and a naive sequential walk to compare."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import attrs

from kernel_async import AsyncKernel, Invocation
from kernel_async._timestamps import rfc3339_to_epoch_ns
from kernel_async.testing import KernelEmulator, make_invocation, matched_throughout


@attrs.frozen
class Verdict:
    """How a walk did against the data's own log of changes."""

    owed: int  # invocations that matched the filters for the whole walk
    lost: int  # of those, not delivered
    duplicated: int  # deliveries of an id already delivered
    reordered: int  # deliveries not strictly after the one before, in the API's order


def judge(
    delivered: Sequence[Invocation],
    initial: Sequence[dict[str, Any]],
    emulator: KernelEmulator,
    *,
    status: str | None = None,
    since: int = 0,
) -> Verdict:
    """Compare a walk with what it owed; ``since`` skips changes made before the walk."""
    owed = matched_throughout(initial, emulator.changes[since:], status=status)
    got = [item.id for item in delivered]
    seen = set(got)
    keys = [(-item.started_at_ns, item.id) for item in delivered]
    return Verdict(
        owed=len(owed),
        lost=sum(1 for i in owed if i not in seen),
        duplicated=len(got) - len(seen),
        reordered=sum(1 for a, b in itertools.pairwise(keys) if not a < b),
    )


async def naive_walk(
    client: AsyncKernel, *, limit: int, budget: int = 10_000, **filters: Any
) -> tuple[list[Invocation], int]:
    """What users write by hand (and the official SDK does): follow ``X-Next-Offset``, one
    page at a time. Returns what it delivered and how many requests it made (at most
    ``budget``: a list that grows faster than it is walked is never walked to the end)."""
    delivered: list[Invocation] = []
    offset: int | None = 0
    requests = 0
    while offset is not None and requests < budget:
        page = await client.invocations.list_page(limit=limit, offset=offset, **filters)
        requests += 1
        delivered.extend(page.items)
        offset = page.next_offset if page.has_more else None
    return delivered, requests


def api_order(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invocations (JSON form) in the API's order: newest first by started_at, then id."""
    return sorted(items, key=lambda i: (-rfc3339_to_epoch_ns(i["started_at"]), i["id"]))


def one_instant(count: int) -> list[dict[str, Any]]:
    """``count`` invocations started at one instant (ties; the emulator orders them by id)."""
    return [
        make_invocation(id=f"t{n:05d}", started_at="2026-05-01T00:00:00Z") for n in range(count)
    ]


def started_since(count: int, *, at: str = "2026-06-02T00:00:00") -> list[dict[str, Any]]:
    """``count`` invocations newer than the generated data and ``one_instant``'s tie."""
    return [make_invocation(id=f"new{n:06d}", started_at=f"{at}.{n:06d}Z") for n in range(count)]
