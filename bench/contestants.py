"""One benchmark measurement, run in a fresh process: walk every invocation, print JSON.

    python bench/contestants.py CONTESTANT --url URL [--prefetch N] [--limit 100] [--memory]

Contestants:
  kernel-async         this package (orjson when installed, as with the ``fast`` extra);
                       ``--prefetch N`` fixes the window, no ``--prefetch`` is the adaptive
                       default
  kernel-async-stdlib  this package, with orjson hidden (stdlib json)
  official-httpx       the official ``kernel`` SDK, default httpx transport
  official-aiohttp     the official ``kernel`` SDK with its aiohttp extra
  raw                  aiohttp + json.loads into dicts: no models, no validation (the floor);
                       ``--prefetch 1`` walks sequentially, more keeps that many pages in flight

Every contestant does the same work shape: it counts the invocations as they arrive and keeps
none of them. The timer covers the walk only (client set-up included, imports excluded). With
``--memory`` tracemalloc records the peak of traced memory during the walk.

A walk that fails (the retry budget spent against a throttling server, say) is reported, not
raised: ``"error"`` names the exception and ``items`` says how far it got.
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


class Walk:
    """What one walk saw: items so far, and what the contestant can tell about its requests."""

    def __init__(self) -> None:
        self.items = 0
        self.stats: dict[str, Any] = {}


async def walk_kernel_async(url: str, prefetch: int | None, limit: int, walk: Walk) -> None:
    from kernel_async import AsyncKernel

    async with AsyncKernel(API_KEY, base_url=url) as client:
        listing = client.invocations.list(limit=limit, prefetch=prefetch)
        count = 0
        try:
            async with listing:
                async for _ in listing:
                    count += 1
        finally:
            walk.items = count
            stats = listing.stats
            walk.stats = {
                "requests": stats.requests,
                "wasted": stats.wasted,
                "bridges": stats.bridges,
                "window": stats.window,
                "peak_window": stats.peak_window,
                "pushbacks": client.pushbacks,
            }


async def walk_official(url: str, limit: int, walk: Walk, *, aiohttp_transport: bool) -> None:
    from kernel import AsyncKernel, DefaultAioHttpClient

    http_client = DefaultAioHttpClient() if aiohttp_transport else None
    count = 0
    try:
        async with AsyncKernel(api_key=API_KEY, base_url=url, http_client=http_client) as client:
            async for _ in client.invocations.list(limit=limit):
                count += 1
    finally:
        walk.items = count


async def walk_raw(url: str, prefetch: int, limit: int, walk: Walk) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {API_KEY}"}
    endpoint = f"{url.rstrip('/')}/invocations"
    async with aiohttp.ClientSession(headers=headers) as session:

        async def fetch(offset: int) -> RawPage:
            params = {"limit": str(limit), "offset": str(offset)}
            async with session.get(endpoint, params=params) as response:
                response.raise_for_status()
                body = json.loads(await response.read())
                more = response.headers.get("X-Has-More") == "true"
                return body, more, int(response.headers.get("X-Next-Offset", "0"))

        requests, count = 1, 0
        items, more, next_offset = await fetch(0)
        for _ in items:
            count += 1
        step, offset = next_offset, next_offset
        window: deque[asyncio.Task[RawPage]] = deque()
        try:
            while more:
                while len(window) < prefetch:
                    window.append(asyncio.ensure_future(fetch(offset)))
                    requests += 1
                    offset += step
                items, more, _ = await window.popleft()
                for _ in items:
                    count += 1
        finally:
            walk.items = count
            for task in window:
                task.cancel()
            await asyncio.gather(*window, return_exceptions=True)
            walk.stats = {"requests": requests, "wasted": len(window)}


async def run(args: argparse.Namespace, walk: Walk) -> None:
    name = args.contestant
    if name in ("kernel-async", "kernel-async-stdlib"):
        await walk_kernel_async(args.url, args.prefetch, args.limit, walk)
    elif name in ("official-httpx", "official-aiohttp"):
        aiohttp_transport = name.endswith("aiohttp")
        await walk_official(args.url, args.limit, walk, aiohttp_transport=aiohttp_transport)
    elif name == "raw":
        await walk_raw(args.url, args.prefetch or 1, args.limit, walk)
    else:
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
    # Imports happen before the timer: start-up is a scenario of its own.
    if args.contestant.startswith("kernel-async"):
        # The package loads its names on first use: this loads the client and aiohttp.
        from kernel_async import AsyncKernel  # noqa: F401
    elif args.contestant.startswith("official"):
        import kernel  # noqa: F401
    else:
        import aiohttp  # noqa: F401
    if args.memory:
        tracemalloc.start()
    walk, error = Walk(), None
    started = time.perf_counter()
    try:
        asyncio.run(run(args, walk))
    except Exception as exc:  # reported: a walk that gives up is a result, not a crash
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if args.memory else None
    result = {
        "seconds": seconds,
        "items": walk.items,
        "error": error,
        **walk.stats,
        "peak_traced": peak,
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
