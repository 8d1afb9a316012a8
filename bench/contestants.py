"""One benchmark measurement, run in a fresh process: walk every invocation, print JSON.

    python bench/contestants.py CONTESTANT --url URL [--prefetch N] [--limit 100] [--memory]

Contestants:
  kernel-async         this package (orjson when installed, as with the ``fast`` extra)
  kernel-async-stdlib  this package, with orjson hidden (stdlib json)
  official-httpx       the official ``kernel`` SDK, default httpx transport
  official-aiohttp     the official ``kernel`` SDK with its aiohttp extra
  raw                  aiohttp + json.loads into dicts: no models, no validation (the floor);
                       ``--prefetch 1`` walks sequentially, more keeps that many pages in flight

The timer covers the walk only (client set-up included, imports excluded). With ``--memory``
tracemalloc records the peak of traced memory during the walk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import tracemalloc
from collections import deque
from typing import Any

API_KEY = "kernel-emulator-key"
RawPage = tuple[list[dict[str, Any]], bool, int]  # items, has more, next offset


REQUESTS = {"made": 0}  # page requests the walk made, where the contestant can tell


async def walk_kernel_async(url: str, prefetch: int, limit: int) -> int:
    from kernel_async import AsyncKernel

    count = 0
    async with (
        AsyncKernel(API_KEY, base_url=url) as client,
        client.invocations.list(limit=limit, prefetch=prefetch) as listing,
    ):
        async for _ in listing:
            count += 1
    REQUESTS["made"] = listing.stats.requests
    return count


async def walk_official(url: str, limit: int, *, aiohttp_transport: bool) -> int:
    from kernel import AsyncKernel, DefaultAioHttpClient

    http_client = DefaultAioHttpClient() if aiohttp_transport else None
    count = 0
    async with AsyncKernel(api_key=API_KEY, base_url=url, http_client=http_client) as client:
        async for _ in client.invocations.list(limit=limit):
            count += 1
    return count


async def walk_raw(url: str, prefetch: int, limit: int) -> int:
    import aiohttp

    headers = {"Authorization": f"Bearer {API_KEY}"}
    endpoint = f"{url.rstrip('/')}/invocations"
    async with aiohttp.ClientSession(headers=headers) as session:

        async def fetch(offset: int) -> RawPage:
            params = {"limit": str(limit), "offset": str(offset)}
            async with session.get(endpoint, params=params) as response:
                body = json.loads(await response.read())
                more = response.headers.get("X-Has-More") == "true"
                return body, more, int(response.headers.get("X-Next-Offset", "0"))

        items, more, next_offset = await fetch(0)
        REQUESTS["made"] = 1
        count = sum(1 for _ in items)
        step, offset = next_offset, next_offset
        window: deque[asyncio.Task[RawPage]] = deque()
        while more:
            while len(window) < prefetch:
                window.append(asyncio.ensure_future(fetch(offset)))
                REQUESTS["made"] += 1
                offset += step
            items, more, _ = await window.popleft()
            count += sum(1 for _ in items)
        for task in window:
            task.cancel()
        await asyncio.gather(*window, return_exceptions=True)
    return count


async def run(args: argparse.Namespace) -> int:
    name = args.contestant
    if name in ("kernel-async", "kernel-async-stdlib"):
        return await walk_kernel_async(args.url, args.prefetch, args.limit)
    if name in ("official-httpx", "official-aiohttp"):
        aiohttp_transport = name.endswith("aiohttp")
        return await walk_official(args.url, args.limit, aiohttp_transport=aiohttp_transport)
    if name == "raw":
        return await walk_raw(args.url, args.prefetch, args.limit)
    raise SystemExit(f"unknown contestant {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contestant")
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefetch", type=int, default=None)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    if args.contestant == "kernel-async-stdlib":
        sys.modules["orjson"] = None  # type: ignore[assignment]  # import fails: stdlib json
    # Imports happen before the timer: import time is a scenario of its own.
    if args.contestant.startswith("kernel-async"):
        # The package loads its names on first use: this loads the client and aiohttp.
        from kernel_async import AsyncKernel  # noqa: F401
    elif args.contestant.startswith("official"):
        import kernel  # noqa: F401
    else:
        import aiohttp  # noqa: F401
    if args.memory:
        tracemalloc.start()
    started = time.perf_counter()
    items = asyncio.run(run(args))
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if args.memory else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "seconds": seconds,
        "items": items,
        "requests": REQUESTS["made"] or None,
        "peak_traced": peak,
        "max_rss_kib": rss,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
