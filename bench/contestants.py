"""One benchmark measurement, run in a fresh process: walk every invocation, print JSON.

    python bench/contestants.py CONTESTANT --url URL [--prefetch N] [--limit 100] [--memory]

Contestants:
  kernel-async         this package (orjson and msgspec when installed: the ``fast`` extra);
                       ``--prefetch N`` fixes the window, no ``--prefetch`` is the adaptive
                       default
  kernel-async-stdlib  this package, with orjson and msgspec hidden (stdlib json)
  official-httpx       the official ``kernel`` SDK, default httpx transport
  official-aiohttp     the official ``kernel`` SDK with its aiohttp extra
  raw                  aiohttp + json.loads into dicts: no models, no validation (the floor);
                       ``--prefetch 1`` walks sequentially, more keeps that many pages in flight
  layer-transport      where (b)'s time goes, layer by layer, all with stdlib json and raw's
  layer-pages          window loop: kernel-async's transport + json.loads into dicts, then
                       kernel-async's page fetch (retries, headers, strict models); the
                       listing's walk is kernel-async-stdlib itself. These reach into the
                       package's private API, as only a benchmark should.

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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

API_KEY = "kernel-emulator-key"
LAYERS = ("layer-transport", "layer-pages")
RawPage = tuple[Sequence[Any], bool, int]  # items (dicts, or invocations), has more, next offset
Fetch = Callable[[int], Awaitable[RawPage]]


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


async def walk_window(fetch: Fetch, prefetch: int, walk: Walk) -> None:
    """Raw's walk: the first page, then ``prefetch`` pages in flight, each counted in turn."""
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


async def walk_layer(url: str, prefetch: int, limit: int, walk: Walk, layer: str) -> None:
    """Raw's walk over one of kernel-async's layers (private API: a benchmark's licence)."""
    from kernel_async import AsyncKernel
    from kernel_async._params import InvocationFilters
    from kernel_async._transport import RawRequest

    async with AsyncKernel(API_KEY, base_url=url) as client:
        config, transport = client._config, client._transport
        filters = InvocationFilters.create()

        async def through_transport(offset: int) -> RawPage:
            query = {"limit": str(limit), "offset": str(offset)}
            request = RawRequest(
                url=config.invocations_url.with_query(query),
                headers=client._first_attempt_headers,
                timeout=config.timeout,
                max_response_bytes=config.max_response_bytes,
            )
            response = await transport.send(request)
            body = json.loads(response.body)
            more = response.headers.get("X-Has-More") == "true"
            return body, more, int(response.headers.get("X-Next-Offset", "0"))

        async def through_pages(offset: int) -> RawPage:
            page = await client._fetch_invocations_page(filters, limit=limit, offset=offset)
            return page.items, page.has_more, page.next_offset or 0

        fetch = through_transport if layer == "layer-transport" else through_pages
        await walk_window(fetch, prefetch, walk)


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

        await walk_window(fetch, prefetch, walk)


async def run(args: argparse.Namespace, walk: Walk) -> None:
    name = args.contestant
    if name in ("kernel-async", "kernel-async-stdlib"):
        await walk_kernel_async(args.url, args.prefetch, args.limit, walk)
    elif name in ("official-httpx", "official-aiohttp"):
        aiohttp_transport = name.endswith("aiohttp")
        await walk_official(args.url, args.limit, walk, aiohttp_transport=aiohttp_transport)
    elif name == "raw":
        await walk_raw(args.url, args.prefetch or 1, args.limit, walk)
    elif name in LAYERS:
        await walk_layer(args.url, args.prefetch or 1, args.limit, walk, name)
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
    if args.contestant == "kernel-async-stdlib" or args.contestant in LAYERS:
        # Their imports fail: stdlib json, and the standard path for pages.
        sys.modules["orjson"] = None  # type: ignore[assignment]
        sys.modules["msgspec"] = None  # type: ignore[assignment]
    # Imports happen before the timer: start-up is a scenario of its own.
    if args.contestant.startswith("kernel-async") or args.contestant in LAYERS:
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
