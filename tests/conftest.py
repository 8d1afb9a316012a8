"""Shared fixtures: a strict event loop, a fixed clock and a canary API key.

Every async test runs with a loop exception handler that fails the test (aiohttp reports an
unclosed session or connector through it), and must leave no task of its own pending.
Warnings are errors (pyproject.toml), and pytest turns unraisable ``__del__`` warnings, such
as a ResourceWarning, into failures too.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import pytest
from aiohttp import web

from kernel_async import (
    APIStatusError,
    AsyncKernel,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from kernel_async.testing import KernelEmulator

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
"""The emulator's fixed clock in tests, so `since` and generated data are reproducible."""

pytest_plugins = ["pytester"]

CANARY_KEY = "sk-canary-8d1f0c5e-do-not-leak"
"""An API key that must never show up in any repr, str, log line or message."""


STATUS_ERRORS: list[tuple[int, type[APIStatusError]]] = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (503, InternalServerError),
]
"""The official SDK's status-to-error names, which kernel-async keeps."""


def exception_graph(error: BaseException) -> list[BaseException]:
    """Every exception reachable from ``error``: causes, contexts and group members."""
    found: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions
    return found


async def until(condition: Callable[[], object], *, polls: int = 2000) -> None:
    """Yield to the loop until ``condition()`` holds; fail instead of hanging (after ~10 s)."""
    for _ in range(polls):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


def ids(items: Any) -> list[str]:
    """The ids of invocations, given as models or as JSON dicts."""
    return [item["id"] if isinstance(item, dict) else item.id for item in items]


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never see a developer's real key or base URL.
    monkeypatch.delenv("KERNEL_API_KEY", raising=False)
    monkeypatch.delenv("KERNEL_BASE_URL", raising=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every async test runs with the strict loop below; sync tests need no loop (and no
    # gc.collect() after each, which is most of what the fixture costs).
    for item in items:
        function = getattr(item, "function", None)
        coroutine = function is not None and inspect.iscoroutinefunction(function)
        if coroutine or item.get_closest_marker("asyncio") is not None:
            item.fixturenames.insert(0, "_strict_loop")  # type: ignore[attr-defined]


@pytest.fixture
async def _strict_loop() -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    before = set(asyncio.all_tasks())
    yield
    gc.collect()
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for task in leftover:
        task.cancel()
    assert not leftover, f"tasks left pending: {leftover}"
    assert not reported, f"the loop reported errors: {reported}"


@pytest.fixture
def fixed_now() -> datetime:
    return NOW


@pytest.fixture
async def emulator() -> AsyncIterator[KernelEmulator]:
    async with KernelEmulator(count=137, seed=11, now=NOW, api_key=CANARY_KEY) as emu:
        yield emu


@pytest.fixture
async def client(emulator: KernelEmulator) -> AsyncIterator[AsyncKernel]:
    # No retries: these tests look at single responses (retries have their own tests).
    async with emulator.client(max_retries=0) as kernel:
        yield kernel


class LoopbackServer:
    """A small aiohttp server on 127.0.0.1 around one handler, counting what it works on.

    Unlike the emulator, it keeps working on a request after the client hangs up, as real
    servers do (aiohttp's default), so ``max_in_flight`` is what a server would see at once.
    """

    def __init__(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self._handler = handler
        self.received = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _count(self, request: web.Request) -> web.StreamResponse:
        self.received += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._handler(request)
        finally:
            self.in_flight -= 1

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/invocations", self._count)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
