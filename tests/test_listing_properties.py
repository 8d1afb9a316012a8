"""Property: on a static data set, a concurrent walk yields exactly what the server lists.

For any total (0, 1, multiples of the page size and one more), page size, prefetch, server
cap on ``limit``, start offset, ``max_items`` and per-page latency pattern (slow early pages,
fast later ones), the walk equals the emulator's own filtered list: same items, same order,
no duplicates, no gaps, and never more than ``prefetch`` requests in flight.
"""

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel_async.testing import KernelEmulator, RecordedRequest, generate_invocations

from conftest import NOW

EXAMPLES = int(os.environ.get("KERNEL_ASYNC_PROPERTY_EXAMPLES", "200"))


@st.composite
def walks(draw: st.DrawFn) -> dict[str, Any]:
    limit = draw(st.integers(1, 100))
    total = draw(
        st.one_of(
            st.sampled_from([0, 1]),
            st.integers(1, 4).map(lambda k: k * limit),
            st.integers(0, 4).map(lambda k: k * limit + 1),
            st.integers(0, 300),
        ).filter(lambda n: n <= 400 and n // max(limit, 1) <= 60)
    )
    return {
        "total": total,
        "limit": limit,
        "cap": draw(st.one_of(st.none(), st.integers(1, 100))),
        "prefetch": draw(st.integers(1, 16)),
        "start": draw(st.one_of(st.just(0), st.integers(0, total + 5))),
        "max_items": draw(st.one_of(st.none(), st.integers(0, total + 5))),
        "status": draw(st.one_of(st.none(), st.sampled_from(["succeeded", "failed"]))),
        # Seconds per request by page number: the first pages may be the slow ones.
        "delays": draw(st.lists(st.sampled_from([0.0, 0.0, 0.001, 0.004]), min_size=1, max_size=6)),
        "seed": draw(st.integers(0, 3)),
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
@given(walk=walks())
async def test_a_walk_equals_the_servers_list(walk: dict[str, Any]) -> None:
    delays = walk["delays"]

    def latency(request: RecordedRequest) -> float:
        page_number = (request.offset or 0) // max(request.limit or 20, 1)
        return float(delays[min(page_number, len(delays) - 1)])

    data = generate_invocations(walk["total"], seed=walk["seed"], now=NOW)
    filters = {"status": walk["status"]} if walk["status"] else {}
    async with (
        KernelEmulator(data, latency=latency, limit_cap=walk["cap"], now=NOW) as emulator,
        emulator.client() as client,
    ):
        expected = emulator.list_invocations(**filters)[walk["start"] :]
        if walk["max_items"] is not None:
            expected = expected[: walk["max_items"]]
        async with client.invocations.list(
            **filters,
            limit=walk["limit"],
            offset=walk["start"],
            prefetch=walk["prefetch"],
            max_items=walk["max_items"],
        ) as listing:
            got = [invocation.id async for invocation in listing]
        assert got == [i["id"] for i in expected]
        # The walk keeps at most `prefetch` pages in flight; a request it gave up on (a page
        # past a short page's end) may still be worked on by the server until it answers:
        # it keeps its connection slot meanwhile, and the walk counts it as wasted.
        assert emulator.max_in_flight <= walk["prefetch"] + listing.stats.wasted
        assert listing.in_flight == 0
