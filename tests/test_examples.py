"""The examples, run for real: FastAPI under uvicorn on loopback, the agent script as a script."""

import asyncio
import importlib.util
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
import uvicorn

from kernel_async.testing import KernelEmulator

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
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, KernelEmulator]]:
    async with KernelEmulator(count=450, seed=5, now=NOW) as emulator:
        monkeypatch.setenv("KERNEL_API_KEY", emulator.api_key)
        monkeypatch.setenv("KERNEL_BASE_URL", emulator.url)
        app = load("fastapi_app").app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
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


async def test_a_client_disconnect_stops_the_walk(served: tuple[str, KernelEmulator]) -> None:
    base, emulator = served
    emulator.latency = 0.02  # keep the walk busy while the client leaves
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{base}/invocations.ndjson")
        first = await response.content.readline()
        assert json.loads(first)["id"] == emulator.invocations[0]["id"]
        response.close()  # hang up mid-stream
    for _ in range(200):  # the server notices the disconnect on its next write
        if not walk_tasks() and emulator.in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert walk_tasks() == []
    assert emulator.in_flight == 0
    served_so_far = len(emulator.requests)
    await asyncio.sleep(0.1)
    assert len(emulator.requests) == served_so_far  # nothing more is fetched


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
