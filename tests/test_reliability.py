"""Retries, shared backoff, deadlines, size caps and logging, against the emulator."""

import asyncio
import gzip
import logging
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kernel_async import (
    APIResponseTooLargeError,
    APITimeoutError,
    AsyncKernel,
    BadRequestError,
    InternalServerError,
    PaginationError,
    RateLimitError,
    RetryPolicy,
    Timeout,
)
from kernel_async._client import RETRY_COUNT_HEADER
from kernel_async.testing import (
    RECOVERABLE_FAULTS,
    Fault,
    FaultKind,
    FaultSchedule,
    KernelEmulator,
    ScriptedResponse,
)

from conftest import CANARY_KEY, NOW, LoopbackServer, ids

FAST = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.004)
SHORT = Timeout(total=2.0, connect=1.0, read=0.2)


def retry_counts(emulator: KernelEmulator) -> list[str]:
    return [r.headers[RETRY_COUNT_HEADER] for r in emulator.requests]


@pytest.mark.parametrize("fault", RECOVERABLE_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_each_recoverable_fault_is_retried_and_the_page_delivered_once(fault: Fault) -> None:
    schedule = FaultSchedule(seed=0, rate=1.0, faults=[fault], max_per_request=1)
    async with (
        KernelEmulator(count=30, now=NOW, faults=schedule) as emu,
        emu.client(retry=FAST, timeout=SHORT) as client,
    ):
        page = await client.invocations.list_page(limit=30)
    assert ids(page) == ids(emu.invocations)
    # aiohttp resends a GET once by itself when the connection is reset before a response
    # (RFC 9112 section 9.3.1.1); that resend carries the same retry count.
    attempts = sorted(set(retry_counts(emu)))
    if fault.kind in (FaultKind.DRIP, FaultKind.LATENCY_SPIKE):
        assert attempts == ["0"]  # slow, not failed
    else:
        assert attempts == ["0", "1"]
    assert schedule.total_injected == retry_counts(emu).count("0")  # every first attempt failed


async def test_a_400_is_not_retried_and_says_so() -> None:
    schedule = FaultSchedule(seed=0, rate=1.0, faults=[Fault(kind=FaultKind.STATUS, status=400)])
    async with KernelEmulator(count=3, faults=schedule) as emu, emu.client(retry=FAST) as client:
        with pytest.raises(BadRequestError):
            await client.invocations.list_page()
    assert retry_counts(emu) == ["0"]


async def test_retries_stop_at_max_retries_with_a_note() -> None:
    schedule = FaultSchedule(seed=0, rate=1.0, faults=[Fault(kind=FaultKind.STATUS, status=500)])
    async with KernelEmulator(count=3, faults=schedule) as emu, emu.client(retry=FAST) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.invocations.list_page()
        assert retry_counts(emu) == ["0", "1", "2"]
        assert any("none left" in note for note in caught.value.__notes__)
        with pytest.raises(InternalServerError):
            await client.invocations.list_page(max_retries=0)
        assert retry_counts(emu)[3:] == ["0"]


async def test_a_retry_after_beyond_the_cap_fails_fast_with_the_status_error() -> None:
    fault = Fault(kind=FaultKind.STATUS, status=429, retry_after="3600")
    schedule = FaultSchedule(seed=0, rate=1.0, faults=[fault])
    async with KernelEmulator(count=3, faults=schedule) as emu, emu.client() as client:
        with pytest.raises(RateLimitError) as caught:
            await client.invocations.list_page()
    assert len(emu.requests) == 1
    assert caught.value.headers["Retry-After"] == "3600"
    assert "cap" in caught.value.__notes__[0]


@pytest.mark.parametrize("name", ["retry-after", "RETRY-AFTER", "Retry-After"])
async def test_a_hint_beyond_the_cap_fails_fast_whatever_the_spelling_on_the_wire(
    name: str,
) -> None:
    async with KernelEmulator(count=3) as emu, emu.client(retry=FAST) as client:
        emu.script(
            *[ScriptedResponse(status=503, body=b"busy", headers={name: "120"})] * 3,
        )
        with pytest.raises(InternalServerError) as caught:
            await client.invocations.list_page()
    assert len(emu.requests) == 1
    assert caught.value.headers["retry-after"] == "120"
    assert "cap" in caught.value.__notes__[0]


async def test_gos_retry_after_ms_spelling_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kernel_async")
    async with KernelEmulator(count=3) as emu, emu.client(retry=FAST) as client:
        emu.script(ScriptedResponse(status=429, body=b"", headers={"Retry-After-Ms": "5"}))
        page = await client.invocations.list_page()
    assert len(page) == 3
    assert "in 0.01 s (as the server asked)" in caplog.text  # 5 ms, not FAST's backoff


@pytest.mark.parametrize(
    "value",
    [
        "1e309",
        "9" * 5000,
        "NaN",
        "-5",
        "Sun, 06 Nov 1994 99999999999999:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 +" + "9" * 400,  # a zone past any float
    ],
)
async def test_a_malformed_retry_after_backs_off_and_raises_the_typed_error(value: str) -> None:
    async with KernelEmulator(count=3) as emu, emu.client(retry=FAST) as client:
        emu.script(
            *[ScriptedResponse(status=503, body=b"busy", headers={"Retry-After": value})] * 3
        )
        with pytest.raises(InternalServerError) as caught:
            await client.invocations.list_page()
    assert len(emu.requests) == 3  # retried with the backoff: the hint is no hint
    assert caught.value.status == 503


async def test_a_retry_after_beyond_the_deadline_fails_fast() -> None:
    fault = Fault(kind=FaultKind.STATUS, status=503, retry_after="30")
    schedule = FaultSchedule(seed=0, rate=1.0, faults=[fault])
    async with KernelEmulator(count=3, faults=schedule) as emu, emu.client() as client:
        with pytest.raises(InternalServerError) as caught:
            await client.invocations.list_page(deadline=5.0)
    assert len(emu.requests) == 1
    assert "deadline" in caught.value.__notes__[0]


async def test_a_throttled_page_slows_the_whole_window() -> None:
    hint = 0.3
    throttled = {"at": 0.0}

    async with KernelEmulator(count=800, now=NOW) as emu:
        emu.script(
            ScriptedResponse(
                status=429,
                body=b'{"code":"rate_limited","message":"slow down"}',
                headers={"retry-after-ms": str(int(hint * 1000))},
                offset=297,
            )
        )
        original_latency = emu.latency

        def latency(request: Any) -> float:
            if request.offset == 297 and not throttled["at"]:
                throttled["at"] = time.monotonic()
            return original_latency if isinstance(original_latency, float) else 0.0

        emu.latency = latency
        async with emu.client() as client, client.invocations.list(prefetch=8) as listing:
            got = [i async for i in listing]
    assert ids(got) == ids(emu.invocations)
    during = [
        r for r in emu.requests if throttled["at"] < r.received_at < throttled["at"] + hint * 0.9
    ]
    # Requests already in flight when the 429 arrived may land; nothing new is sent after it.
    assert len(during) <= 7
    after = [r for r in emu.requests if r.received_at >= throttled["at"] + hint * 0.9]
    assert any(r.offset == 297 for r in after)


async def test_a_stall_is_a_read_timeout_and_is_retried() -> None:
    stall = Fault(kind=FaultKind.STALL, seconds=5.0)
    schedule = FaultSchedule(seed=0, rate=1.0, faults=[stall], max_per_request=1)
    async with (
        KernelEmulator(count=5, faults=schedule) as emu,
        emu.client(retry=FAST, timeout=Timeout(total=10, read=0.1)) as client,
    ):
        assert len(await client.invocations.list_page()) == 5
    assert retry_counts(emu) == ["0", "1"]


def attempt_clock() -> tuple[aiohttp.TraceConfig, list[float]]:
    """A TraceConfig recording, on the client's clock, when each attempt started."""
    started: list[float] = []

    async def on_start(*_: Any) -> None:
        started.append(asyncio.get_running_loop().time())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    return trace, started


# The test reads the clock just before the call, the call just after: a hair apart.
CLOCK_SLACK = 0.005


@pytest.mark.parametrize(
    "fault",
    [Fault(kind=FaultKind.STALL, seconds=5.0), Fault(kind=FaultKind.DRIP, seconds=5.0)],
    ids=["stall", "drip"],
)
async def test_a_call_never_outlives_its_deadline(fault: Fault) -> None:
    schedule = FaultSchedule(seed=0, rate=1.0, faults=[fault])
    trace, started = attempt_clock()
    async with (
        KernelEmulator(count=50, faults=schedule) as emu,
        emu.client(retry=FAST, trace_configs=[trace]) as client,
    ):
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + 0.3
        with pytest.raises(APITimeoutError) as caught:
            await client.invocations.list_page(deadline=0.3)
        ended = loop.time()
    assert caught.value.limit == "deadline"
    assert started  # at least one attempt was made
    assert all(t < deadline_at + CLOCK_SLACK for t in started)  # no attempt after it
    assert ended >= deadline_at  # it was the deadline that ended it, not something else


async def test_a_walk_never_outlives_its_deadline() -> None:
    trace, started = attempt_clock()
    async with (
        KernelEmulator(count=2000, latency=0.05, now=NOW) as emu,
        emu.client(trace_configs=[trace]) as client,
    ):
        loop = asyncio.get_running_loop()
        got = []
        listing = client.invocations.list(limit=20, prefetch=2, deadline=0.4)
        deadline_at = loop.time() + 0.4
        with pytest.raises(APITimeoutError) as caught:
            async with listing:
                async for invocation in listing:
                    got.append(invocation)
        ended = loop.time()
    assert caught.value.limit == "deadline"
    assert all(t < deadline_at + CLOCK_SLACK for t in started)
    assert ended >= deadline_at
    assert ids(got) == ids(emu.invocations[: len(got)])
    assert listing.resume_offset == len(got)


async def test_a_slow_consumer_does_not_stretch_a_walks_deadline() -> None:
    async with KernelEmulator(count=300, now=NOW) as emu, emu.client() as client:
        got = []
        with pytest.raises(APITimeoutError, match="deadline") as caught:
            async with client.invocations.list(limit=10, prefetch=2, deadline=0.2) as listing:
                async for invocation in listing:
                    got.append(invocation)
                    await asyncio.sleep(0.01)
    assert caught.value.limit == "deadline"
    assert 0 < len(got) < 300
    assert ids(got) == ids(emu.invocations[: len(got)])


async def test_a_body_over_the_cap_is_a_typed_error_and_not_retried() -> None:
    async with (
        KernelEmulator(count=100, now=NOW) as emu,
        emu.client(max_response_bytes=2000) as client,
    ):
        with pytest.raises(APIResponseTooLargeError, match="over the 2000-byte limit") as caught:
            await client.invocations.list_page(limit=100)
        assert caught.value.max_bytes == 2000
        assert len(emu.requests) == 1
        assert len(await client.invocations.list_page(limit=1)) == 1  # small pages still work


async def test_a_chunked_body_over_the_cap_is_stopped_while_streaming() -> None:
    sent = {"bytes": 0}

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b" " * 4096)
            sent["bytes"] += 4096
        return response

    app = web.Application()
    app.router.add_get("/invocations", endless)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        async with AsyncKernel("k", base_url=url, max_response_bytes=50_000) as client:
            with pytest.raises(APIResponseTooLargeError):
                await client.invocations.list_page()
    finally:
        await runner.cleanup()
    assert sent["bytes"] < 4_096_000  # the client hung up long before the end


async def test_a_compressed_body_is_capped_by_its_decoded_size() -> None:
    inflated = b"[" + b" " * (4 << 20) + b"]"  # 4 MiB once decoded, a few KiB on the wire
    body = gzip.compress(inflated)

    async def handler(request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "X-Request-Id": "req_gz"}
        return web.Response(body=body, headers=headers, content_type="application/json")

    async with (
        LoopbackServer(handler) as server,
        AsyncKernel("k", base_url=server.url, max_response_bytes=1 << 20) as client,
    ):
        with pytest.raises(APIResponseTooLargeError, match="decoded") as caught:
            await client.invocations.list_page()
    assert caught.value.request_id == "req_gz"
    assert server.received == 1  # not retried


async def test_retries_are_logged_with_request_ids_and_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kernel_async")
    schedule = FaultSchedule(
        seed=0, rate=1.0, faults=[Fault(kind=FaultKind.STATUS, status=502)], max_per_request=1
    )
    async with (
        KernelEmulator(count=5, faults=schedule, api_key=CANARY_KEY) as emu,
        emu.client(retry=FAST) as client,
    ):
        await client.invocations.list_page()
    retries = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(retries) == 1
    assert "req_emu_000001" in retries[0].getMessage()
    assert "retry 1 of 2" in retries[0].getMessage()
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("-> 200" in line and "req_emu_000002" in line for line in debug)
    assert CANARY_KEY not in caplog.text


async def test_trace_configs_reach_the_session() -> None:
    started: list[str] = []

    async def on_start(
        _session: Any, _context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with KernelEmulator(count=3) as emu, emu.client(trace_configs=[trace]) as client:
        await client.invocations.list_page()
    assert len(started) == 1
    with pytest.raises(ValueError, match="trace_configs"):
        AsyncKernel(
            "k", session=aiohttp.ClientSession.__new__(aiohttp.ClientSession), trace_configs=[trace]
        )


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_retries": -1}, ValueError),
        ({"deadline": 0}, ValueError),
        ({"deadline": float("inf")}, ValueError),
        ({"deadline": "5"}, TypeError),
    ],
)
async def test_per_call_settings_are_checked_before_sending(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with KernelEmulator(count=3) as emu, emu.client() as client:
        with pytest.raises(error):
            await client.invocations.list_page(**kwargs)
        with pytest.raises(error):
            client.invocations.list(**kwargs)
    assert emu.requests == []


def test_client_retry_settings() -> None:
    assert AsyncKernel("k").retry == RetryPolicy()
    assert AsyncKernel("k", max_retries=5).retry.max_retries == 5
    assert AsyncKernel("k", retry=FAST, max_retries=0).retry == RetryPolicy(
        max_retries=0, initial_delay=0.001, max_delay=0.004
    )
    with pytest.raises(TypeError, match="RetryPolicy"):
        AsyncKernel("k", retry={"max_retries": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_response_bytes"):
        AsyncKernel("k", max_response_bytes=0)


async def test_a_next_offset_past_int64_is_never_requested() -> None:
    # The walk once followed X-Next-Offset 2**63 and sent offset=9223372036854775808.
    past = ScriptedResponse(body=b"[]", headers={"X-Has-More": "true", "X-Next-Offset": str(2**63)})
    async with KernelEmulator(count=3) as emu, emu.client(max_retries=0) as client:
        emu.script(*[past] * 20)
        with pytest.raises(PaginationError, match=r"past 2\*\*63 - 1"):
            async for _ in client.invocations.list(limit=5):
                pass
    assert emu.requests
    assert all(int(r.query["offset"]) < 2**63 for r in emu.requests)
