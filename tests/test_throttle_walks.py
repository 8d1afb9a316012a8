"""Walks against servers that push back: they finish where a walk of one page at a time does."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from kernel_async import AsyncKernel
from kernel_async.testing import KernelEmulator, generate_invocations

from conftest import NOW, LoopbackServer

# -- end to end: a server that takes so many requests per window ---------------------------------

DATA = generate_invocations(400, seed=9, now=NOW)
WINDOW = 0.2  # seconds: the server takes TAKEN requests in any such window


def rate_limited(taken: int) -> tuple[web.Application, list[float], list[int]]:
    """A handler taking ``taken`` requests a window, 429 with ``Retry-After`` for the rest."""
    answered: list[float] = []
    retry_counts: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        now = loop.time()
        retry_counts.append(int(request.headers.get("X-Stainless-Retry-Count", "0")))
        if len([t for t in answered if now - t < WINDOW]) >= taken:
            return web.json_response(
                {"code": "rate_limited", "message": "slow down"},
                status=429,
                headers={"Retry-After": str(WINDOW)},
            )
        answered.append(now)
        offset, limit = int(request.query.get("offset", "0")), int(request.query["limit"])
        end = min(offset + limit, len(DATA))
        more = end < len(DATA)
        headers = {"X-Has-More": str(more).lower(), "X-Next-Offset": str(end if more else 0)}
        return web.Response(
            body=json.dumps(DATA[offset:end]), headers=headers, content_type="application/json"
        )

    return handler, answered, retry_counts  # type: ignore[return-value]


@pytest.mark.parametrize("prefetch", [None, 8])
async def test_a_concurrent_walk_finishes_where_a_sequential_one_does(prefetch: int | None) -> None:
    # Review r11: with eight pages in flight against a server taking two requests a window,
    # the retries after the shared wait went out together and were pushed back together,
    # until three pages ran out of retries (RateLimitError after 295 of 1,000 items).
    handler, answered, retry_counts = rate_limited(taken=2)
    async with (
        LoopbackServer(handler) as server,
        AsyncKernel("k", base_url=server.url) as client,
        client.invocations.list(limit=25, prefetch=prefetch) as listing,
    ):
        got = [invocation.id async for invocation in listing]
    assert got == [i["id"] for i in DATA]
    assert client.pushbacks > 0
    pushed_back = len(retry_counts) - len(answered)
    assert pushed_back <= len(answered)  # about one a round of the window, not a storm


async def test_the_emulator_at_two_requests_a_second_lets_the_default_walk_finish() -> None:
    async with (
        KernelEmulator(count=500, rate_limit=2.0) as emulator,
        emulator.client() as client,
        client.invocations.list(limit=50) as listing,
    ):
        got = [invocation.id async for invocation in listing]
    assert len(got) == 500
