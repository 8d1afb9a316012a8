"""Walks against servers that push back: they finish where a walk of one page at a time does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from kernel_async import APITimeoutError, AsyncKernel, ClientClosedError
from kernel_async.testing import KernelEmulator, ScriptedResponse, generate_invocations

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
    # The first window's burst, then about one a round (a probe), not one per waiting page
    # each round.
    assert pushed_back <= 8 + len(answered)


async def test_the_emulator_at_two_requests_a_second_lets_the_default_walk_finish() -> None:
    async with (
        KernelEmulator(count=500, rate_limit=2.0) as emulator,
        emulator.client() as client,
        client.invocations.list(limit=50) as listing,
    ):
        got = [invocation.id async for invocation in listing]
    assert len(got) == 500


# -- what ends a wait for a turn ----------------------------------------------------------------


def second_pushed_back_for(seconds: float) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Both first attempts pushed back briefly; the one let out then, for ``seconds``."""
    count = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal count
        count += 1
        if count <= 2:
            return too_many(0.1)
        if count == 3:
            await asyncio.sleep(0.2)  # the other waits for its turn meanwhile
            return too_many(seconds)
        return web.json_response([])

    return handler


def too_many(retry_after: float) -> web.Response:
    return web.json_response(
        {"code": "rate_limited", "message": "slow down"},
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


async def test_closing_the_client_ends_a_request_waiting_for_its_turn() -> None:
    # Review r13, F1: aclose() waited out the whole Retry-After (up to its 60 s cap) for a
    # request queued for its turn.
    async with LoopbackServer(second_pushed_back_for(30)) as server:
        client = AsyncKernel("k", base_url=server.url)
        calls = [
            asyncio.create_task(client.invocations.list_page(limit=10, offset=offset))
            for offset in (0, 10)
        ]
        loop = asyncio.get_running_loop()
        # Polls the server's count and the client's wait: neither offers an event.
        while server.received < 3 or client._throttle.until - loop.time() < 5:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        async with asyncio.timeout(10):  # a generous bound, far below the 30 s asked for
            await client.aclose()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [ClientClosedError, ClientClosedError]
    assert server.received == 3  # nothing sent after the close


async def test_a_pushback_past_a_waiting_calls_deadline_ends_it_at_once() -> None:
    # Review r13, F3: a call queued for its turn slept until its own deadline instead.
    second_try = asyncio.Event()
    tries = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal tries
        if request.query["offset"] != "0":
            return web.json_response([])
        tries += 1
        if tries == 1:
            return too_many(0.05)
        second_try.set()  # let out, one at a time: another call now waits for its turn
        await asyncio.sleep(0.2)
        return too_many(50)

    async with (
        LoopbackServer(handler) as server,
        AsyncKernel("k", base_url=server.url) as client,
    ):
        first = asyncio.create_task(client.invocations.list_page(limit=10, offset=0))
        await second_try.wait()
        with pytest.raises(APITimeoutError, match="past the deadline"):
            async with asyncio.timeout(20):  # generous; the call's own deadline is 30 s
                await client.invocations.list_page(limit=10, offset=10, deadline=30)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)


def test_a_throttled_in_memory_client_serves_a_second_event_loop() -> None:
    # Review r13, F4: a loop that ended with a wake of the queue pending left the next loop's
    # requests waiting for a turn that never came. (The in-memory client takes any loop.)
    emulator = KernelEmulator(count=30, latency=0.1)
    client = emulator.client(in_memory=True)

    def slow_down(seconds: str) -> ScriptedResponse:
        body = b'{"code": "rate_limited", "message": "slow down"}'
        return ScriptedResponse(status=429, body=body, headers={"Retry-After": seconds})

    emulator.script(slow_down("0.05"), slow_down("0.05"), slow_down("0.5"))

    async def first_loop() -> None:
        calls = [
            asyncio.create_task(client.invocations.list_page(limit=10, offset=offset))
            for offset in (0, 10)
        ]
        # One let out and pushed back for 0.5 s, the other queued for its turn.
        await asyncio.sleep(0.3)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    async def second_loop() -> int:
        await asyncio.sleep(0.3)
        async with asyncio.timeout(10), client:
            page = await client.invocations.list_page(limit=10)
        return len(page.items)

    asyncio.run(first_loop())
    assert asyncio.run(second_loop()) == 10
