"""The pytest plugin, used the way a user's test suite uses it: fresh projects run by pytester.

Each project is a new directory with its own configuration, run in a separate pytest process
that loads the plugin through its entry point, as it would be after `pip install`.
"""

import textwrap

import pytest

USER_TESTS = """
import asyncio

import pytest
from kernel_async import APIConnectionError
from kernel_async.testing import Fault, FaultKind, FaultSchedule, make_invocation

{marker}


@pytest.fixture
def kernel_emulator_options():
    return {{"count": 0}}


async def test_seeded_invocations_come_back(kernel_emulator, kernel_client):
    kernel_emulator.add_invocation(make_invocation(id="inv_1", status="failed", app_name="shop"))
    kernel_emulator.add_invocation(make_invocation(id="inv_2", status="succeeded"))
    page = await kernel_client.invocations.list_page(status="failed")
    assert [i.id for i in page] == ["inv_1"]
    assert kernel_emulator.requests[0].query["status"] == "failed"


async def test_a_walk_runs_on_the_tests_own_loop(kernel_emulator, kernel_client):
    kernel_emulator.add_invocation(make_invocation(id="inv_3"))
    async with kernel_client.invocations.list() as listing:
        assert [i.id async for i in listing] == ["inv_3"]
    assert asyncio.get_running_loop() is not None


async def test_faults_can_be_injected(kernel_emulator, kernel_client):
    kernel_emulator.add_invocation(make_invocation())
    kernel_emulator.faults = FaultSchedule(
        seed=1, rate=1.0, faults=[Fault(kind=FaultKind.RESET)]
    )
    with pytest.raises(APIConnectionError):
        await kernel_client.invocations.list_page(max_retries=0)


async def test_the_options_shape_the_emulator(kernel_emulator, kernel_emulator_options):
    assert kernel_emulator_options == {{"count": 0}}
    assert kernel_emulator.invocations == []
"""

# pytest-asyncio asks every project to set its fixture loop scope (it warns otherwise).
SCOPE = "asyncio_default_fixture_loop_scope = function\n"
STRICT = (f"[pytest]\n{SCOPE}filterwarnings = error\n", "pytestmark = pytest.mark.asyncio", ())
AUTO = (f"[pytest]\nasyncio_mode = auto\n{SCOPE}filterwarnings = error\n", "", ())
# No configuration at all: pytest-asyncio's defaults (strict mode), as in a new project.
UNCONFIGURED = ("", "pytestmark = pytest.mark.asyncio", ("-W", "error::ResourceWarning"))
ANYIO_MARK = "pytestmark = pytest.mark.anyio"
ANYIO = ("[pytest]\nfilterwarnings = error\n", ANYIO_MARK, ("-p", "no:asyncio"))
# anyio's marker with pytest-asyncio loaded too, in its default strict mode.
ANYIO_BESIDE_ASYNCIO = (f"[pytest]\n{SCOPE}filterwarnings = error\n", ANYIO_MARK, ())


@pytest.mark.parametrize(
    ("ini", "marker", "options"),
    [STRICT, AUTO, UNCONFIGURED, ANYIO, ANYIO_BESIDE_ASYNCIO],
    ids=[
        "pytest-asyncio-strict",
        "pytest-asyncio-auto",
        "pytest-asyncio-unconfigured",
        "anyio",
        "anyio-beside-pytest-asyncio",
    ],
)
def test_the_fixtures_work_in_a_fresh_project(
    pytester: pytest.Pytester, ini: str, marker: str, options: tuple[str, ...]
) -> None:
    if ini:
        pytester.makeini(ini)
    if "anyio" in marker:
        pytester.makeconftest(
            """
            import pytest

            @pytest.fixture
            def anyio_backend():
                return "asyncio"
            """
        )
    pytester.makepyfile(test_user=USER_TESTS.format(marker=marker))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *options)
    result.assert_outcomes(passed=4)


def test_strict_mode_with_markers_on_each_test(pytester: pytest.Pytester) -> None:
    """The docs' module for strict mode, as a user copies it."""
    pytester.makeini(f"[pytest]\nasyncio_mode = strict\n{SCOPE}filterwarnings = error\n")
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            import pytest
            from kernel_async.testing import make_invocation

            @pytest.mark.asyncio
            async def test_one(kernel_emulator, kernel_client):
                kernel_emulator.add_invocation(make_invocation(id="x", status="failed"))
                page = await kernel_client.invocations.list_page(status="failed")
                assert "x" in [i.id for i in page]
            """
        )
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_plugin_is_inert_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_nothing_to_do_with_kernel():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    assert "kernel" not in result.stdout.str().lower().replace("test_nothing_to_do_with_kernel", "")


def test_a_project_that_does_not_use_the_fixtures_does_not_load_the_client(
    pytester: pytest.Pytester,
) -> None:
    # pytest loads the plugin wherever the package is installed: the emulator, the client,
    # aiohttp and msgspec load with the first test that asks for a fixture, not before.
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_nothing_loaded():
            heavy = ("aiohttp", "msgspec", "kernel_async._client", "kernel_async.testing._emulator")
            assert [name for name in heavy if name in sys.modules] == []
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)


LOOP_SCOPE_TESTS = """
import asyncio

import pytest
from kernel_async.testing import make_invocation

{marker}
async def test_the_emulator_answers_on_the_tests_loop(kernel_emulator, kernel_client):
    kernel_emulator.add_invocation(make_invocation(id="inv_1", status="failed"))
    # A server on a loop that is not running would never answer: fail in a second, not 91.
    page = await kernel_client.invocations.list_page(status="failed", timeout=5, max_retries=0)
    assert "inv_1" in [i.id for i in page]


{marker}
async def test_and_again_in_the_next_test(kernel_emulator, kernel_client):
    page = await kernel_client.invocations.list_page(limit=1, timeout=5, max_retries=0)
    assert len(page) == 1
"""


@pytest.mark.parametrize(
    ("ini", "marker"),
    [
        # A common configuration: fixtures default to the session's loop, tests to their own.
        ("asyncio_default_fixture_loop_scope = session\n", "@pytest.mark.asyncio"),
        ("asyncio_default_fixture_loop_scope = function\n", "@pytest.mark.asyncio"),
        (
            "asyncio_default_fixture_loop_scope = function\n",
            '@pytest.mark.asyncio(loop_scope="module")',
        ),
        (
            "asyncio_default_fixture_loop_scope = session\n"
            "asyncio_default_test_loop_scope = session\n",
            "@pytest.mark.asyncio",
        ),
        (
            "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = module\n"
            "asyncio_default_test_loop_scope = class\n",
            "",
        ),
    ],
    ids=[
        "fixtures-on-session-loop",
        "fixtures-on-function-loop",
        "test-marked-module-loop",
        "everything-on-session-loop",
        "auto-tests-on-class-loop",
    ],
)
def test_the_fixtures_follow_the_tests_loop_scope(
    pytester: pytest.Pytester, ini: str, marker: str
) -> None:
    """Whatever loop scopes the project configures, the emulator serves on the test's loop."""
    pytester.makeini(f"[pytest]\n{ini}filterwarnings = error\n")
    pytester.makepyfile(test_user=LOOP_SCOPE_TESTS.format(marker=marker))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
