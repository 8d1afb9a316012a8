"""The examples, run for real: FastAPI under uvicorn on loopback, the agent script as a script."""

import asyncio
import importlib.util
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import attrs
import pytest
import uvicorn

from kernel_async.testing import KernelEmulator, LiveData, ScriptedResponse, make_invocation

from conftest import NOW

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def walk_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("kernel-async")]


@pytest.fixture
def emulator_count() -> int:
    return 450


@pytest.fixture
async def served(
    monkeypatch: pytest.MonkeyPatch, emulator_count: int
) -> AsyncIterator[tuple[str, KernelEmulator]]:
    async with KernelEmulator(count=emulator_count, seed=5, now=NOW) as emulator:
        monkeypatch.setenv("KERNEL_API_KEY", emulator.api_key)
        monkeypatch.setenv("KERNEL_BASE_URL", emulator.url)
        app = load("fastapi_app").app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            # log_config=None: uvicorn's records reach pytest's caplog (through the root logger).
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}", emulator
        finally:
            server.should_exit = True
            await serving


async def test_the_ndjson_stream_is_every_invocation(served: tuple[str, KernelEmulator]) -> None:
    base, emulator = served
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/invocations.ndjson", params={"status": "failed"}) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        rows = [json.loads(line) async for line in response.content]
    assert [r["id"] for r in rows] == [i["id"] for i in emulator.list_invocations(status="failed")]


def failed_writes(caplog: pytest.LogCaptureFixture) -> int:
    return sum("socket.send() raised exception" in r.getMessage() for r in caplog.records)


def server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")]


# Enough data that the stream outlasts the sockets' buffers: the client leaves mid-stream.
@pytest.mark.parametrize("emulator_count", [12_000])
@pytest.mark.parametrize("latency", [0.02, 0.0])
async def test_a_client_disconnect_stops_the_walk(
    served: tuple[str, KernelEmulator], caplog: pytest.LogCaptureFixture, latency: float
) -> None:
    base, emulator = served
    emulator.latency = latency  # a walk waiting for pages, or one with pages buffered
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{base}/invocations.ndjson")
        first = await response.content.readline()
        assert json.loads(first)["id"] == emulator.invocations[0]["id"]
        for _ in range(2_000):  # read along, as `curl ... | head` does, so the server
            await response.content.readline()  # is writing, not waiting, when we leave
        response.close()  # hang up mid-stream
    # From now on a request the walk sends is answered only after the test would have failed:
    # the walk's requests must be cancelled, not awaited to their end.
    emulator.latency = 30.0
    # The server notices the disconnect on its next write. Until then the walk goes on, and
    # between two requests (none in flight, no page task) it looks stopped: it has stopped
    # once nothing changed for 0.1 s as well.
    counts: list[int] = []
    for _ in range(250):
        counts.append(len(emulator.requests))
        if not walk_tasks() and emulator.in_flight == 0 and counts[-6:] == [counts[-1]] * 6:
            break
        await asyncio.sleep(0.02)
    assert walk_tasks() == []
    assert emulator.in_flight == 0
    served_so_far = len(emulator.requests)
    await asyncio.sleep(0.1)
    assert len(emulator.requests) == served_so_far  # nothing more is fetched
    # Stopped mid-walk, not at its end: a whole walk takes a request per 100 invocations.
    assert served_so_far < len(emulator.invocations) // 100
    assert failed_writes(caplog) <= 1  # not one warning per line still written
    assert server_errors(caplog) == []


UNAUTHORIZED = json.dumps({"code": "unauthorized", "message": "invalid API key"}).encode()


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        (ScriptedResponse(status=401, body=UNAUTHORIZED), 401),
        (ScriptedResponse(status=503, body=b"<html>", headers={"x-should-retry": "false"}), 502),
    ],
    ids=["401", "503"],
)
# The event stream too: a browser's EventSource reconnects after a 200 stream that ends (with
# every reconnection one more request upstream, with the wrong key), and gives up on a 401.
@pytest.mark.parametrize("path", ["/invocations.ndjson", "/invocations/events"])
async def test_an_upstream_error_before_streaming_is_a_json_status(
    served: tuple[str, KernelEmulator],
    caplog: pytest.LogCaptureFixture,
    upstream: ScriptedResponse,
    expected: int,
    path: str,
) -> None:
    base, emulator = served
    emulator.script(upstream)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}{path}") as response,
    ):
        assert response.status == expected
        assert response.headers["Content-Type"] == "application/json"
        body = await response.json()
    assert str(upstream.status) in body["detail"]
    assert body["request_id"].startswith("req_emu_")
    assert walk_tasks() == []
    assert server_errors(caplog) == []  # no "Exception in ASGI application"


async def test_an_upstream_error_after_streaming_began_ends_with_an_error_line(
    served: tuple[str, KernelEmulator], caplog: pytest.LogCaptureFixture
) -> None:
    base, emulator = served
    broken = ScriptedResponse(status=500, body=b"oops", headers={"x-should-retry": "false"})
    emulator.script(attrs.evolve(broken, offset=198))  # the third page of 100 (overlapping)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/invocations.ndjson") as response,
    ):
        assert response.status == 200
        rows = [json.loads(line) async for line in response.content]
    *items, last = rows
    assert [r["id"] for r in items] == [i["id"] for i in emulator.invocations[:199]]
    assert "500" in last["error"]["detail"]
    assert last["error"]["request_id"].startswith("req_emu_")
    assert walk_tasks() == []
    assert server_errors(caplog) == []


async def test_one_page_passes_the_pagination_headers_through(
    served: tuple[str, KernelEmulator],
) -> None:
    base, emulator = served
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/invocations", params={"limit": "50", "offset": "100"}) as response,
    ):
        assert response.status == 200
        body = await response.json()
        headers = response.headers
    assert [r["id"] for r in body] == [i["id"] for i in emulator.invocations[100:150]]
    assert (headers["X-Has-More"], headers["X-Next-Offset"], headers["X-Limit"]) == (
        "true",
        "150",
        "50",
    )
    assert headers["X-Request-Id"].startswith("req_emu_")


async def test_bad_filters_are_422_before_any_request(served: tuple[str, KernelEmulator]) -> None:
    base, emulator = served
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/invocations.ndjson", params={"since": "last tuesday"}) as response,
    ):
        assert response.status == 422
        assert "since" in (await response.json())["detail"]
    assert emulator.requests == []


async def test_the_agent_example_lists_failures_per_app() -> None:
    async with KernelEmulator(count=400, seed=6) as emulator:
        env = {**os.environ, "KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "agent_failures.py"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        for app in ("invoice-bot", "web-scraper", "form-filler"):
            count = len(emulator.list_invocations(app_name=app, status="failed", since="168h"))
            assert f"{app}: {count} failed" in out.decode()
        # Three walks at once, sharing one client.
        assert {r.query["app_name"] for r in emulator.requests} == {
            "invoice-bot",
            "web-scraper",
            "form-filler",
        }


async def server_sent_events(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """The first ``count`` events of a Server-Sent Events stream, parsed."""
    events: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        events.append({"event": fields["event"], **json.loads(fields["data"])})
        fields = {}
        if len(events) == count:
            break
    return events


async def test_the_event_stream_follows_invocations_and_stops_when_the_client_goes(
    served: tuple[str, KernelEmulator], caplog: pytest.LogCaptureFixture
) -> None:
    base, emulator = served
    emulator.live = LiveData(seed=4, rate=1.0, kinds={"head_insert": 1, "status_change": 2})
    since = (NOW - timedelta(hours=2)).isoformat()
    async with aiohttp.ClientSession() as session:
        response = await session.get(
            f"{base}/invocations/events", params={"since": since, "interval": "0.1"}
        )
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = await server_sent_events(response, 30)
        response.close()  # the browser goes away
    kinds = {event["event"] for event in events}
    assert kinds >= {"seen", "changed"}  # what started since, then what moved
    changed = [e for e in events if e["event"] == "changed"]
    assert all(e["previous_status"] != e["invocation"]["status"] for e in changed)
    ids_seen = [e["invocation"]["id"] for e in events if e["event"] == "seen"]
    assert len(ids_seen) == len(set(ids_seen))  # each seen once
    # The watch stops with the stream: no more polls once the server has noticed.
    for _ in range(200):
        before = len(emulator.requests)
        await asyncio.sleep(0.3)  # longer than the interval: a live watch would poll
        if len(emulator.requests) == before:
            break
    else:
        raise AssertionError("the watch kept polling after the client left")
    assert server_errors(caplog) == []


async def test_the_event_stream_refuses_bad_arguments_before_polling(
    served: tuple[str, KernelEmulator],
) -> None:
    base, emulator = served
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/invocations/events", params={"since": "soon"}) as response,
    ):
        assert response.status == 422
    assert emulator.requests == []


async def test_the_agent_waits_for_its_runs_and_hears_of_failures() -> None:
    runs = [
        make_invocation(id=f"inv_run{n}", status="queued", started_at=NOW - timedelta(minutes=n))
        for n in range(3)
    ]

    def progress(emulator: KernelEmulator) -> None:
        # After both first polls (six requests): a failure stream started with since=None
        # follows what is in flight at its first poll, and reports what moves after.
        served = emulator.served
        if served == 12:
            emulator.set_status("inv_run0", "running")
            emulator.set_status("inv_run1", "failed", status_reason="Selector not found")
        elif served == 20:
            emulator.set_status("inv_run0", "succeeded")
            emulator.remove_invocation("inv_run2")

    live = LiveData(script=dict.fromkeys(range(24), progress))
    async with KernelEmulator(runs, now=NOW, live=live) as emulator:
        env = {**os.environ, "KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "agent_wait.py"),
            "inv_run0",
            "inv_run1",
            "inv_run2",
            "--interval",
            "0.05",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[-3:] == [
        "inv_run0: succeeded",
        "inv_run1: failed (Selector not found)",
        "inv_run2: deleted before it finished",
    ]
    assert "failed meanwhile: inv_run1 (Selector not found)" in lines
