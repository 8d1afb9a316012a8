"""A pytest plugin with a running Kernel emulator and a client bound to it.

It is registered through the ``pytest11`` entry point but only defines fixtures, so it costs
nothing in test suites that do not use them: the emulator, the client and aiohttp load with
the first test that asks for a fixture (``-p no:kernel_async`` turns it off).

The fixtures run on the test's own event loop, whichever plugin runs the test:

* pytest-asyncio (1.0 or later), in strict mode (tests marked ``@pytest.mark.asyncio``) and in
  auto mode, on the loop of the test's loop scope, whatever the project's
  ``asyncio_default_fixture_loop_scope``;
* anyio's pytest plugin with the asyncio backend (tests marked ``@pytest.mark.anyio``).

A sync test (``def test_...``) has no loop to serve from while it runs: for it, the emulator
serves from a thread with a loop of its own (``_in_thread``), so that code that is not async
(``urllib``, a script run with ``subprocess``) gets its answers. ``kernel_client`` is an
``AsyncKernel``, for async tests only: a sync test that asks for it gets a setup error that
says what to use instead.

::

    import pytest
    from kernel_async.testing import make_invocation

    @pytest.mark.asyncio
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

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from kernel_async._client import AsyncKernel
    from kernel_async.testing._emulator import KernelEmulator

__all__ = ["kernel_client", "kernel_emulator", "kernel_emulator_options"]

_F = TypeVar("_F", bound=Callable[..., Any])


# The loop scopes pytest-asyncio knows; a test runs on the loop of one of them.
_LOOP_SCOPES = ("function", "class", "module", "package", "session")


def _asyncio_fixture(function: _F, *, name: str, loop_scope: str) -> _F:
    # pytest-asyncio runs a plain `@pytest.fixture async def` only in auto mode; its own
    # decorator makes strict mode run it too. Without pytest-asyncio, another plugin may.
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - pytest-asyncio is in the test dependencies
        return cast("_F", pytest.fixture(function, name=name))
    fixture = pytest_asyncio.fixture(loop_scope=cast("Any", loop_scope), name=name)
    return cast("_F", fixture(function))


def _test_loop_scope(request: pytest.FixtureRequest) -> str:
    # The loop the test runs on, as pytest-asyncio chooses it: its marker's `loop_scope`, then
    # `asyncio_default_test_loop_scope`, then the function's own loop. The fixtures must run
    # on that same loop: the emulator serves from the loop that started it, and a fixture on
    # another loop (`asyncio_default_fixture_loop_scope = session`, say) would leave the test
    # waiting on a server whose loop is not running.
    marker = request.node.get_closest_marker("asyncio")
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope") if marker else None
    if scope is None:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # pytest-asyncio is not loaded: no such option
            scope = None
    return scope if scope in _LOOP_SCOPES else "function"


_NO_RUNNER: Final = (
    "{fixture} runs on the event loop of the async test that uses it, and nothing runs this "
    "one: install pytest-asyncio and mark the test @pytest.mark.asyncio (or set "
    "asyncio_mode = auto), or mark it @pytest.mark.anyio with an anyio_backend fixture that "
    'returns "asyncio"'
)

_SYNC_CLIENT: Final = (
    "kernel_client is an AsyncKernel, for async tests (async def, run by pytest-asyncio or "
    "anyio's plugin); this test is not async. In a sync test, use kernel_emulator, which "
    "serves from a thread of its own: point your code at kernel_emulator.url with "
    "kernel_emulator.api_key, or make a client inside your own asyncio.run() with "
    "`async with kernel_emulator.client() as client:`"
)


def _is_async_test(request: pytest.FixtureRequest) -> bool:
    function = getattr(request.node, "function", None)  # None: not a test function (doctest)
    return function is not None and inspect.iscoroutinefunction(inspect.unwrap(function))


def _runner_suffix(request: pytest.FixtureRequest, fixture: str) -> str:
    # A sync test runs no loop: the emulator then serves from a thread with a loop of its own.
    if not _is_async_test(request):
        return "thread"
    # anyio's plugin runs an async fixture itself when the test uses `anyio_backend` (the
    # anyio marker adds it); marked for pytest-asyncio, the fixture would get another loop.
    if "anyio_backend" in request.fixturenames:
        return "anyio"
    if not request.config.pluginmanager.has_plugin("asyncio"):
        # Else pytest's own error names a private fixture, and says nothing of what to do.
        pytest.fail(_NO_RUNNER.format(fixture=fixture), pytrace=False)
    return f"asyncio_{_test_loop_scope(request)}"


def _emulator(options: dict[str, Any]) -> KernelEmulator:
    # Imported here, not with the plugin: pytest loads the plugin in every project where the
    # package is installed, and the emulator brings aiohttp and the client with it.
    from kernel_async.testing._emulator import KernelEmulator

    return KernelEmulator(**options)


@pytest.fixture
def kernel_emulator_options() -> dict[str, Any]:
    """Keyword arguments for :class:`KernelEmulator`; override to change the data."""
    return {"count": 100, "seed": 0}


@pytest.fixture
def _kernel_emulator_thread(
    kernel_emulator_options: dict[str, Any],
) -> Iterator[KernelEmulator]:
    from kernel_async.testing._in_thread import serving_in_thread

    with serving_in_thread(_emulator(kernel_emulator_options)) as emulator:
        yield emulator


@pytest.fixture
async def _kernel_emulator_anyio(
    kernel_emulator_options: dict[str, Any],
) -> AsyncIterator[KernelEmulator]:
    async with _emulator(kernel_emulator_options) as emulator:
        yield emulator


@pytest.fixture
async def _kernel_client_anyio(kernel_emulator: KernelEmulator) -> AsyncIterator[AsyncKernel]:
    async with kernel_emulator.client() as client:
        yield client


def _asyncio_fixtures(loop_scope: str) -> dict[str, Callable[..., Any]]:
    """The emulator and client fixtures for tests on pytest-asyncio's ``loop_scope`` loop."""

    # New functions on each call: pytest-asyncio marks a fixture's function with its loop scope.
    async def emulator(
        kernel_emulator_options: dict[str, Any],
    ) -> AsyncIterator[KernelEmulator]:
        async with _emulator(kernel_emulator_options) as emulator:
            yield emulator

    async def client(kernel_emulator: KernelEmulator) -> AsyncIterator[AsyncKernel]:
        async with kernel_emulator.client() as client:
            yield client

    return {
        f"_kernel_{name}_asyncio_{loop_scope}": _asyncio_fixture(
            function, name=f"_kernel_{name}_asyncio_{loop_scope}", loop_scope=loop_scope
        )
        for name, function in (("emulator", emulator), ("client", client))
    }


# pytest finds a plugin's fixtures among its module's names.
for _scope in _LOOP_SCOPES:
    globals().update(_asyncio_fixtures(_scope))


@pytest.fixture
def kernel_emulator(request: pytest.FixtureRequest) -> KernelEmulator:
    """A running :class:`KernelEmulator` on 127.0.0.1, closed after the test.

    It serves from the async test's own event loop, or, for a sync test, from a thread with
    a loop of its own.
    """
    suffix = _runner_suffix(request, "kernel_emulator")
    emulator: KernelEmulator = request.getfixturevalue(f"_kernel_emulator_{suffix}")
    return emulator


@pytest.fixture
def kernel_client(request: pytest.FixtureRequest) -> AsyncKernel:
    """An :class:`AsyncKernel` bound to :func:`kernel_emulator`, closed after the test.

    For async tests: a sync test that asks for it gets a setup error saying what to use.
    """
    suffix = _runner_suffix(request, "kernel_client")
    if suffix == "thread":
        pytest.fail(_SYNC_CLIENT, pytrace=False)
    client: AsyncKernel = request.getfixturevalue(f"_kernel_client_{suffix}")
    return client
