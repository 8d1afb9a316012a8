"""A pytest plugin with a running Kernel emulator and a client bound to it.

It is registered through the ``pytest11`` entry point but only defines fixtures, so it costs
nothing in test suites that do not use them (``-p no:kernel_async`` turns it off). It needs
pytest-asyncio (or another plugin that runs ``async def`` fixtures)::

    from kernel_async.testing import make_invocation

    async def test_failed_invocations(kernel_emulator, kernel_client):
        kernel_emulator.add_invocation(make_invocation(status="failed"))
        page = await kernel_client.invocations.list_page(status="failed")
        assert ...

Override ``kernel_emulator_options`` to change the data::

    @pytest.fixture
    def kernel_emulator_options():
        return {"count": 500, "seed": 3, "latency": 0.01}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kernel_async._client import AsyncKernel
from kernel_async.testing._emulator import KernelEmulator

__all__ = ["kernel_client", "kernel_emulator", "kernel_emulator_options"]


@pytest.fixture
def kernel_emulator_options() -> dict[str, Any]:
    """Keyword arguments for :class:`KernelEmulator`; override to change the data."""
    return {"count": 100, "seed": 0}


@pytest.fixture
async def kernel_emulator(kernel_emulator_options: dict[str, Any]) -> AsyncIterator[KernelEmulator]:
    """A running :class:`KernelEmulator` on 127.0.0.1, closed after the test."""
    async with KernelEmulator(**kernel_emulator_options) as emulator:
        yield emulator


@pytest.fixture
async def kernel_client(kernel_emulator: KernelEmulator) -> AsyncIterator[AsyncKernel]:
    """An :class:`AsyncKernel` bound to :func:`kernel_emulator`, closed after the test."""
    async with kernel_emulator.client() as client:
        yield client
