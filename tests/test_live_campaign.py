"""The live-data campaign: a thousand seeded walks while the data changes under them.

Each walk draws from its seed: the data (0-300 invocations, in one walk of five with many
``started_at`` ties), a ``status`` filter or none, the page size (1-100, small ones often), the
window (a fixed prefetch of 1-16, or adaptive up to 1-16), and a live-data mode: random inserts
at the head and in the middle, deletes and status changes at a random rate, with concurrent
requests answered in a seeded random order, each from the data at its turn. The walk runs in
process (``emulator.client(in_memory=True)``), so every seed with a fixed prefetch replays
exactly (the adaptive window steers by the time pages take).

For every walk: no invocation that matched the filters for the whole walk is lost, none is
delivered twice, none out of the API's order; ``possible_gaps`` stays 0. Up to the churn rate
the docs state, the walk makes at most 1.5x the requests of a sequential walk plus one window.
The same data and changes, walked the naive way (one page at a time by ``X-Next-Offset``, what
the official SDK does), are judged the same way and printed beside.

Scale it: ``KERNEL_ASYNC_LIVE_WALKS=10000 pytest tests/test_live_campaign.py -s``.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from datetime import timedelta

import attrs

from kernel_async.testing import Churn, KernelEmulator, LiveData, generate_invocations

from conftest import NOW
from live import judge, naive_walk

WALKS = int(os.environ.get("KERNEL_ASYNC_LIVE_WALKS", "1000"))
STATED_CHURN = 0.2
"""Changes per request up to which a walk loses nothing, checks every boundary, and keeps
within 1.5x a sequential walk's requests plus one window (docs/pagination.md)."""


@attrs.frozen
class Walk:
    seed: int
    total: int
    limit: int
    prefetch: int | None  # None: the adaptive window, up to max_prefetch
    max_prefetch: int
    status: str | None
    rate: float
    kinds: dict[Churn, float]
    hold_steps: int
    ties: bool

    @classmethod
    def draw(cls, seed: int) -> Walk:
        rng = random.Random(seed)
        limit = rng.choice([rng.randint(1, 10), rng.randint(5, 30), rng.randint(1, 100)])
        kinds = {kind: rng.choice([0.0, 1.0, 1.0, 3.0]) for kind in Churn}
        if not any(kinds.values()):
            kinds[Churn.DELETE] = 1.0
        return cls(
            seed=seed,
            total=rng.choice([rng.randint(0, 40), rng.randint(0, 300), rng.randint(100, 300)]),
            limit=limit,
            prefetch=rng.choice([rng.randint(1, 16), None]),
            max_prefetch=rng.randint(1, 16),
            status=rng.choice([None, None, "running", "failed", "succeeded", "queued"]),
            # Up to a change per response, and below a quarter of the page size: where the
            # list grows as fast as any walk moves, no walk ends (a sequential one neither).
            rate=min(rng.choice([0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.6, 1.0]), limit / 4),
            kinds=kinds,
            hold_steps=rng.randint(0, 6),
            ties=rng.random() < 0.2,
        )

    def emulator(self) -> KernelEmulator:
        live = LiveData(
            seed=self.seed,
            rate=self.rate,
            kinds=self.kinds,
            reorder=True,
            hold_steps=self.hold_steps,
        )
        data = generate_invocations(self.total, seed=self.seed, now=NOW)
        if self.ties:
            # Whole minutes within a short span: many invocations share a started_at, which
            # the API orders in a stable order of its own (the emulator: by id).
            rng = random.Random(self.seed)
            for item in data:
                minutes = rng.randrange(self.total // 4 + 1)
                item["started_at"] = (NOW - timedelta(minutes=minutes)).isoformat()
        return KernelEmulator(data, now=NOW, live=live)

    @property
    def window(self) -> dict[str, int | None]:
        if self.prefetch is None:
            return {"prefetch": None, "max_prefetch": self.max_prefetch}
        return {"prefetch": self.prefetch}

    @property
    def in_flight(self) -> int:
        return self.prefetch or self.max_prefetch

    @property
    def filters(self) -> dict[str, str]:
        return {"status": self.status} if self.status else {}


async def walk_ours(walk: Walk, totals: Counter[str]) -> None:
    emulator = walk.emulator()
    initial = emulator.list_invocations(**walk.filters)
    async with emulator.client(in_memory=True) as client:
        listing = client.invocations.list(limit=walk.limit, **walk.window, **walk.filters)
        async with listing:
            delivered = [invocation async for invocation in listing]
    verdict = judge(delivered, initial, emulator, status=walk.status)
    requests, changes = len(emulator.requests), len(emulator.changes)
    stats = listing.stats
    assert verdict.duplicated == 0, f"{walk}: {verdict.duplicated} duplicated"
    assert verdict.reordered == 0, f"{walk}: {verdict.reordered} out of order"
    # Never a silent loss: a walk that lost anything said so.
    assert verdict.lost == 0 or stats.possible_gaps > 0, f"{walk}: lost {verdict.lost} silently"
    assert listing.in_flight == 0
    totals["walks"] += 1
    totals["walks with ties"] += walk.ties
    totals["adaptive walks"] += walk.prefetch is None
    assert stats.peak_window <= walk.in_flight
    totals["changes"] += changes
    totals["requests"] += requests
    totals["owed"] += verdict.owed
    totals["lost"] += verdict.lost
    totals["bridges"] += stats.bridges
    totals["possible gaps"] += stats.possible_gaps
    totals["walks with a possible gap"] += bool(stats.possible_gaps)
    totals["reduced-window pages"] += stats.reduced_window_pages
    totals["unchecked pages"] += stats.unchecked_pages
    if requests and changes / requests <= STATED_CHURN and walk.limit >= 5:
        # Within the stated churn: nothing lost, nothing unchecked, and at most 1.5x the
        # requests of a sequential walk plus the speculation past the end (one window).
        assert verdict.lost == stats.possible_gaps == 0, f"{walk}: {stats}"
        sequential = -(-max(len(initial), 1) // walk.limit) + 1
        assert requests <= 1.5 * sequential + walk.in_flight, (
            f"{walk}: {requests} requests, a sequential walk needs about {sequential}"
        )
        totals["walks within the stated churn"] += 1


async def walk_naive(walk: Walk, totals: Counter[str]) -> None:
    emulator = walk.emulator()
    initial = emulator.list_invocations(**walk.filters)
    async with emulator.client(in_memory=True) as client:
        budget = 10 * (len(emulator.invocations) // walk.limit + 2)
        delivered, requests = await naive_walk(
            client, limit=walk.limit, budget=budget, **walk.filters
        )
    totals["naive walks that did not end"] += requests >= budget
    verdict = judge(delivered, initial, emulator, status=walk.status)
    totals["naive owed"] += verdict.owed
    totals["naive lost"] += verdict.lost
    totals["naive duplicated"] += verdict.duplicated
    totals["naive reordered"] += verdict.reordered
    totals["naive requests"] += len(emulator.requests)
    totals["naive walks that lost"] += bool(verdict.lost)


async def test_live_data_campaign() -> None:
    totals: Counter[str] = Counter()
    for seed in range(WALKS):
        walk = Walk.draw(seed)
        await walk_ours(walk, totals)
        await walk_naive(walk, totals)
    print("\nlive-data campaign:", dict(sorted(totals.items())))
    assert totals["walks"] == WALKS
    if WALKS >= 1000:
        # The campaign must exercise what it claims: changes, and a naive walk that suffers.
        assert totals["changes"] >= 2_500
        assert totals["walks within the stated churn"] >= WALKS // 2
        assert totals["naive lost"] > 0
        assert totals["bridges"] > 0
