"""The official SDK and kernel-async, walking the emulator in every live-data mode.

    nox -s conformance            (or: python bench/conformance.py [--seeds 20])

For each mode the emulator's data changes while it serves (inserts at the head or in the
middle, deletes, status changes moving invocations into and out of a ``status`` filter, and
everything at once with concurrent requests answered out of order). The official ``kernel``
SDK walks it the way its README shows (``async for invocation in client.invocations.list()``,
one page at a time); kernel-async walks the same data with the same changes concurrently.
Each walk is judged against the emulator's log of changes: of the invocations that matched the
filters for the whole walk, how many were lost, how many delivered twice, how many out of the
API's order. The official SDK is a reference here, never a dependency of kernel-async.

Exits 1 if the official walk fails to complete in any mode, or if kernel-async loses,
repeats or reorders anything.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kernel_async.testing import (
    Churn,
    KernelEmulator,
    LiveData,
    generate_invocations,
    matched_throughout,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
MODES: dict[str, tuple[dict[Churn, float], str | None, bool]] = {
    "head inserts": ({Churn.HEAD_INSERT: 1.0}, None, False),
    "middle inserts": ({Churn.MIDDLE_INSERT: 1.0}, None, False),
    "deletes": ({Churn.DELETE: 1.0}, None, False),
    "status changes, status=running": ({Churn.STATUS_CHANGE: 1.0}, "running", False),
    "status changes, status=failed": ({Churn.STATUS_CHANGE: 1.0}, "failed", False),
    "all of them, out of order": (dict.fromkeys(Churn, 1.0), None, True),
}


def judge(ids: list[str], keys: list[tuple[int, str]], owed: list[str]) -> Counter[str]:
    seen = set(ids)
    return Counter(
        owed=len(owed),
        lost=sum(1 for i in owed if i not in seen),
        duplicated=len(ids) - len(seen),
        reordered=sum(1 for a, b in itertools.pairwise(keys) if not a < b),
    )


async def official_walk(url: str, api_key: str, **filters: Any) -> tuple[list[str], list[Any]]:
    from kernel import AsyncKernel  # the reference, installed by `nox -s conformance`

    ids, keys = [], []
    async with AsyncKernel(api_key=api_key, base_url=url, max_retries=0) as client:
        async for invocation in client.invocations.list(limit=10, **filters):
            ids.append(invocation.id)
            keys.append((-invocation.started_at.timestamp(), invocation.id))
    return ids, keys


async def ours_walk(emulator: KernelEmulator, **filters: Any) -> tuple[list[str], list[Any]]:
    async with (
        emulator.client(max_retries=0) as client,
        client.invocations.list(limit=10, prefetch=8, **filters) as listing,
    ):
        delivered = [invocation async for invocation in listing]
    return [i.id for i in delivered], [(-i.started_at_ns, i.id) for i in delivered]


async def one(mode: str, seed: int, walker: str) -> Counter[str]:
    kinds, status, reorder = MODES[mode]
    filters = {"status": status} if status else {}
    live = LiveData(seed=seed, rate=0.3, kinds=kinds, reorder=reorder, hold=0.002)
    data = generate_invocations(150, seed=seed, now=NOW)
    async with KernelEmulator(data, now=NOW, live=live) as emulator:
        initial = emulator.list_invocations(**filters)
        if walker == "official":
            ids, keys = await official_walk(emulator.url, emulator.api_key, **filters)
        else:
            ids, keys = await ours_walk(emulator, **filters)
        owed = matched_throughout(initial, emulator.changes, status=status)
        result = judge(ids, keys, owed)
        result["requests"] = len(emulator.requests)
        result["changes"] = len(emulator.changes)
        return result


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="walks per mode and walker")
    args = parser.parse_args(argv)
    failed = False
    print(f"{args.seeds} walks per mode, 150 invocations, pages of 10, 0.3 changes per response")
    print(f"| {'mode':32} | {'walker':13} | owed | lost | duplicated | out of order | requests |")
    print(f"| {'-' * 32} | {'-' * 13} | ---: | ---: | ---: | ---: | ---: |")
    for mode in MODES:
        for walker in ("official", "kernel-async"):
            totals: Counter[str] = Counter()
            for seed in range(args.seeds):
                try:
                    totals += await one(mode, seed, walker)
                except Exception as error:
                    print(f"{walker} failed in {mode!r}, seed {seed}: {error!r}")
                    failed = True
            print(
                f"| {mode:32} | {walker:13} | {totals['owed']:4} | {totals['lost']:4} | "
                f"{totals['duplicated']:4} | {totals['reordered']:4} | {totals['requests']:4} |"
            )
            if walker == "kernel-async" and (
                totals["lost"] or totals["duplicated"] or totals["reordered"]
            ):
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
