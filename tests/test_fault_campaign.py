"""The fault campaign: hundreds of seeded walks through injected faults, nothing lost.

Each walk draws its size (0-500 invocations), page size (1-100), prefetch (1-16) and fault
schedule from its seed. Most walks are *recoverable* (no page fails more often than the retry
budget): they must yield exactly the server's list. The rest are not: they must end in a typed
kernel-async error (or CancelledError, for walks cancelled midway), after delivering an exact
prefix, and resume from ``resume_offset`` to the exact remainder. No page may see more than
``max_retries + 1`` attempts, and afterwards nothing may be left: no task, no file descriptor,
no warning.

Some walks have their client closed midway, from another task: they must end with
``ClientClosedError`` after an exact prefix, no request may start after the close, and a new
client resumes them to the exact remainder. Every client's pool is as small as the walk allows
(``max_connections`` between ``prefetch`` and 16), and the server never works on more requests
at once than that.

Reproduce or scale it: ``KERNEL_ASYNC_CAMPAIGN_WALKS=1000 pytest tests/test_fault_campaign.py``
(the summary is printed with ``-s``).
"""

import asyncio
import gc
import os
import random
from collections import Counter
from typing import Any

import aiohttp

from kernel_async import ClientClosedError, KernelError, RetryPolicy, Timeout
from kernel_async._client import RETRY_COUNT_HEADER
from kernel_async.testing import (
    RECOVERABLE_FAULTS,
    Fault,
    FaultKind,
    FaultSchedule,
    KernelEmulator,
    generate_invocations,
)

from conftest import NOW

WALKS = int(os.environ.get("KERNEL_ASYNC_CAMPAIGN_WALKS", "220"))
RETRIES = 3
POLICY = RetryPolicy(max_retries=RETRIES, initial_delay=0.001, max_delay=0.008)
# A stall lasts 1 s; the read timeout ends it after 0.25 s. Generous enough for a busy
# 2-core CI machine not to time out healthy responses.
TIMEOUT = Timeout(total=3.0, connect=2.0, read=0.25)
FATAL = (
    Fault(kind=FaultKind.STATUS, status=400),
    Fault(kind=FaultKind.STATUS, status=404),
    Fault(kind=FaultKind.STATUS, status=503, should_retry="false"),
)
FAULTS = tuple(
    Fault(
        kind=f.kind,
        status=f.status,
        retry_after=f.retry_after,
        retry_after_ms=f.retry_after_ms,
        should_retry=f.should_retry,
        seconds=1.0 if f.kind is FaultKind.STALL else f.seconds,
    )
    for f in RECOVERABLE_FAULTS
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def one_walk(seed: int, totals: Counter[str]) -> None:
    rng = random.Random(seed)
    total, limit, prefetch = rng.randint(0, 500), rng.randint(1, 100), rng.randint(1, 16)
    recoverable = rng.random() < 0.85
    cancel_midway = not recoverable and rng.random() < 0.3
    schedule = FaultSchedule(
        seed=seed,
        rate=rng.uniform(0.15, 0.45),
        faults=FAULTS if recoverable else FAULTS + FATAL,
        max_per_request=RETRIES if recoverable else None,
    )
    close_midway = not cancel_midway and rng.random() < 0.1
    max_connections = rng.randint(prefetch, 16)
    closed_at_start: list[bool] = []  # for every request the client started: was it closed?

    async def on_request_start(*_: Any) -> None:
        closed_at_start.append(client.closed)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    data = generate_invocations(total, seed=seed, now=NOW)
    async with (
        KernelEmulator(data, now=NOW, faults=schedule) as emulator,
        emulator.client(
            retry=POLICY, timeout=TIMEOUT, max_connections=max_connections, trace_configs=[trace]
        ) as client,
    ):
        expected = [i["id"] for i in emulator.invocations]
        got: list[str] = []
        listing = client.invocations.list(limit=limit, prefetch=prefetch)

        async def walk() -> None:
            async with listing:
                async for invocation in listing:
                    got.append(invocation.id)
                    if cancel_midway and len(got) == total // 2:
                        await asyncio.sleep(10)  # cancelled here

        task = asyncio.create_task(walk())
        if cancel_midway or close_midway:
            while len(got) < total // 2 and not task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            if cancel_midway:
                task.cancel()
            else:
                await client.aclose()
        try:
            await task
            outcome = "complete"
        except asyncio.CancelledError:
            outcome = "cancelled"
        except KernelError as error:
            outcome = f"failed: {type(error).__name__}"
        except BaseException as error:  # anything else is a bug
            raise AssertionError(f"seed {seed}: untyped {type(error).__name__}: {error}") from error

        assert listing.in_flight == 0, f"seed {seed}: requests left running"
        assert got == expected[: len(got)], f"seed {seed}: lost, duplicated or reordered"
        assert emulator.max_in_flight <= max_connections, f"seed {seed}: more than the pool"
        if close_midway:
            await client.aclose()  # the abandoned requests are ended too
            assert True not in closed_at_start, f"seed {seed}: a request after aclose()"
            closed = f"failed: {ClientClosedError.__name__}"
            if recoverable:  # nothing else could end it
                assert outcome in ("complete", closed), f"seed {seed}: {outcome}"
            totals["closed midway"] += outcome == closed
        elif recoverable:
            assert outcome == "complete", f"seed {seed}: a recoverable walk ended {outcome}"
            assert got == expected
        if outcome != "complete":
            # Carry on from where it stopped, with a new client and no faults: the rest, exactly.
            assert listing.resume_offset == len(got), f"seed {seed}: wrong resume offset"
            emulator.faults = None
            async with (
                emulator.client() as fresh,
                fresh.invocations.list(offset=len(got), limit=limit) as rest,
            ):
                got += [i.id async for i in rest]
            assert got == expected, f"seed {seed}: the resumed walk is not the remainder"

        attempts: dict[tuple[Any, ...], set[str]] = {}
        for request in emulator.requests:
            key = tuple(sorted(request.query.items()))
            attempts.setdefault(key, set()).add(request.headers[RETRY_COUNT_HEADER])
        assert max((len(a) for a in attempts.values()), default=0) <= RETRIES + 1

    totals["walks"] += 1
    totals[outcome.split(":")[0]] += 1
    totals["items"] += len(got)
    totals["requests"] += len(emulator.requests)
    totals["faults"] += schedule.total_injected
    if recoverable:
        totals["recoverable faults"] += schedule.total_injected
    for kind, count in schedule.injected.items():
        totals[f"fault {kind}"] += count


async def test_fault_campaign() -> None:
    gc.collect()
    baseline = open_fds()
    totals: Counter[str] = Counter()
    for seed in range(WALKS):
        await one_walk(seed, totals)
    gc.collect()
    await asyncio.sleep(0)
    print("\nfault campaign:", dict(sorted(totals.items())))
    assert totals["walks"] == WALKS >= 200 or WALKS < 200
    assert totals["recoverable faults"] >= 1000 or WALKS < 200
    assert (totals["failed"] > 0 and totals["cancelled"] > 0) or WALKS < 200
    assert totals["closed midway"] > 0 or WALKS < 200
    assert open_fds() <= baseline, "file descriptors leaked"
