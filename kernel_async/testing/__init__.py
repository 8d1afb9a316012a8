"""Testing support: a local Kernel API emulator and a seeded data generator.

Shipped in the package so you can test your own code without a network or an API key::

    from kernel_async.testing import KernelEmulator

    async with KernelEmulator(count=50, seed=1) as emulator, emulator.client() as client:
        page = await client.invocations.list_page(status="failed")

The pytest plugin (:mod:`kernel_async.testing.pytest_plugin`) wraps it in fixtures.
"""

from typing import TYPE_CHECKING

from kernel_async._lazy import load_on_first_use

if TYPE_CHECKING:
    from kernel_async.testing._data import (
        deployment_id_for,
        generate_invocations,
        make_invocation,
    )
    from kernel_async.testing._emulator import DEFAULT_API_KEY, KernelEmulator
    from kernel_async.testing._faults import (
        RECOVERABLE_FAULTS,
        Fault,
        FaultKind,
        FaultSchedule,
    )
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


# Where each public name is defined (the modules of the TYPE_CHECKING block above).
_HOMES: dict[str, tuple[str, ...]] = {
    "_data": ("deployment_id_for", "generate_invocations", "make_invocation"),
    "_emulator": ("DEFAULT_API_KEY", "KernelEmulator"),
    "_faults": ("RECOVERABLE_FAULTS", "Fault", "FaultKind", "FaultSchedule"),
    "_live": ("Churn", "LiveData"),
    "_requests": ("RecordedRequest", "ScriptedResponse"),
    "_store": ("Change", "ChangeKind", "matched_throughout"),
}


# Each public name loads the first time it is used: the pytest plugin, which pytest loads in
# every project where the package is installed, brings in the emulator (aiohttp, the client)
# only for a test that asks for a fixture.
__getattr__, __dir__ = load_on_first_use(globals(), _HOMES)

del TYPE_CHECKING, load_on_first_use
