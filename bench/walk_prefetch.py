"""How prefetch and page size change a walk's wall time, against an emulator in its own process.

    python bench/walk_prefetch.py [--count 5000] [--latency 0.02] [--repeat 3]

The emulator runs in a separate process (so its CPU does not count against the client), with a
fixed latency per request. Each configuration walks every invocation; the table gives the
median wall time, the requests sent, the most requests in flight at once (counted on the client
through aiohttp's TraceConfig) and the speed-up over prefetch 1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from kernel_async import AsyncKernel
from kernel_async.testing import DEFAULT_API_KEY


@asynccontextmanager
async def emulator_process(count: int, latency: float) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kernel_async",
        "emulator",
        "--port",
        "0",
        "--count",
        str(count),
        "--latency",
        str(latency),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = (await process.stdout.readline()).decode()
        yield banner.rsplit(" at ", 1)[1].strip()
    finally:
        process.terminate()
        await process.wait()


class InFlight:
    def __init__(self) -> None:
        self.now = self.peak = self.requests = 0
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._start)
        self.trace.on_request_end.append(self._end)
        self.trace.on_request_exception.append(self._end)

    async def _start(self, *_: Any) -> None:
        self.now += 1
        self.requests += 1
        self.peak = max(self.peak, self.now)

    async def _end(self, *_: Any) -> None:
        self.now -= 1


async def walk(url: str, *, prefetch: int, limit: int) -> tuple[float, int, int, int]:
    counter = InFlight()
    async with (
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        AsyncKernel(DEFAULT_API_KEY, base_url=url, session=session) as client,
    ):
        started = time.perf_counter()
        async with client.invocations.list(prefetch=prefetch, limit=limit) as listing:
            items = sum([1 async for _ in listing])
        elapsed = time.perf_counter() - started
    return elapsed, items, counter.requests, counter.peak


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configs = [(1, 100), (2, 100), (4, 100), (8, 100), (16, 100), (8, 20)]
    async with emulator_process(args.count, args.latency) as url:
        await walk(url, prefetch=8, limit=100)  # warm up
        rows = []
        for prefetch, limit in configs:
            runs = [await walk(url, prefetch=prefetch, limit=limit) for _ in range(args.repeat)]
            median = statistics.median(r[0] for r in runs)
            rows.append((prefetch, limit, median, runs[0][1], runs[0][2], max(r[3] for r in runs)))
    base = rows[0][2]
    print(
        f"{args.count} invocations, {args.latency * 1000:.0f} ms per request, "
        f"median of {args.repeat}"
    )
    print(
        f"{'prefetch':>8} {'limit':>5} {'wall s':>8} {'items':>6} {'requests':>8} "
        f"{'max in flight':>13} {'speed-up':>8}"
    )
    for prefetch, limit, median, items, requests, peak in rows:
        print(
            f"{prefetch:>8} {limit:>5} {median:>8.3f} {items:>6} {requests:>8} {peak:>13} "
            f"{base / median:>7.1f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
