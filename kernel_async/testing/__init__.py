"""Testing support: a local Kernel API emulator and a seeded data generator.

Shipped in the package so you can test your own code without a network or an API key::

    from kernel_async.testing import KernelEmulator

    async with KernelEmulator(count=50, seed=1) as emulator, emulator.client() as client:
        page = await client.invocations.list_page(status="failed")

The pytest plugin (:mod:`kernel_async.testing.pytest_plugin`) wraps it in fixtures.
"""

from kernel_async.testing._data import deployment_id_for, generate_invocations, make_invocation
from kernel_async.testing._emulator import DEFAULT_API_KEY, KernelEmulator
from kernel_async.testing._faults import RECOVERABLE_FAULTS, Fault, FaultKind, FaultSchedule
from kernel_async.testing._live import Churn, LiveData
from kernel_async.testing._requests import RecordedRequest, ScriptedResponse
from kernel_async.testing._store import Change, ChangeKind, matched_throughout

__all__ = [
    "DEFAULT_API_KEY",
    "RECOVERABLE_FAULTS",
    "Change",
    "ChangeKind",
    "Churn",
    "Fault",
    "FaultKind",
    "FaultSchedule",
    "KernelEmulator",
    "LiveData",
    "RecordedRequest",
    "ScriptedResponse",
    "deployment_id_for",
    "generate_invocations",
    "make_invocation",
    "matched_throughout",
]
