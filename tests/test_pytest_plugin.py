"""The pytest plugin, used the way a user's test suite uses it: fresh projects run by pytester.

Each project is a new directory with its own configuration, run in a separate pytest process
that loads the plugin through its entry point, as it would be after `pip install`.
"""

import json
import textwrap
from pathlib import Path

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


# -- sync tests ---------------------------------------------------------------------------------

SYNC_TESTS = """
import json
import os
import subprocess
import sys
import threading
import urllib.request

import pytest
from kernel_async.testing import make_invocation


@pytest.fixture
def kernel_emulator_options():
    return {"count": 0}


def get(emulator, query=""):
    request = urllib.request.Request(
        emulator.url + "invocations" + query,
        headers={"Authorization": "Bearer " + emulator.api_key},
    )
    # A server whose loop is not running never answers: fail in seconds, not hang.
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_a_sync_test_gets_answers(kernel_emulator):
    kernel_emulator.add_invocation(make_invocation(id="inv_1", status="failed"))
    assert [i["id"] for i in get(kernel_emulator, "?status=failed")] == ["inv_1"]
    assert kernel_emulator.requests[0].query == {"status": "failed"}


def test_a_script_in_a_subprocess_gets_answers(kernel_emulator):
    kernel_emulator.add_invocation(make_invocation(id="inv_2"))
    env = {
        **os.environ,
        "KERNEL_BASE_URL": kernel_emulator.url,
        "KERNEL_API_KEY": kernel_emulator.api_key,
    }
    listed = subprocess.run(
        [sys.executable, "-m", "kernel_async", "invocations", "list"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["inv_2"]


def test_changes_come_between_requests(kernel_emulator):
    kernel_emulator.add_invocation(make_invocation(id="inv_3", status="running"))
    assert get(kernel_emulator)[0]["status"] == "running"
    kernel_emulator.set_status("inv_3", "failed")
    assert get(kernel_emulator)[0]["status"] == "failed"
    kernel_emulator.remove_invocation("inv_3")
    assert get(kernel_emulator) == []
    with pytest.raises(KeyError):
        kernel_emulator.remove_invocation("inv_3")


def test_each_test_has_a_fresh_emulator(kernel_emulator):
    assert kernel_emulator.invocations == []
    threads = [t for t in threading.enumerate() if t.name == "kernel-emulator"]
    assert len(threads) == 1  # this test's; those of the tests before were joined


def test_the_async_client_is_for_async_tests(kernel_client):
    raise AssertionError("not reached: the fixture's setup fails")
"""

# Run after SYNC_TESTS (pytest takes the files in order): every emulator thread was joined.
AFTER_SYNC_TESTS = """
import threading


def test_no_emulator_thread_is_left():
    assert [t.name for t in threading.enumerate() if t.name == "kernel-emulator"] == []
"""


@pytest.mark.parametrize(
    ("ini", "options"),
    [
        (f"[pytest]\n{SCOPE}filterwarnings = error\n", ()),
        (f"[pytest]\nasyncio_mode = auto\n{SCOPE}filterwarnings = error\n", ()),
        # pytest-asyncio warns of its unset loop scope: every other warning is an error.
        (
            "",
            (
                "-W",
                "error::ResourceWarning",
                "-W",
                "error::pytest.PytestUnraisableExceptionWarning",
                "-W",
                "error::pytest.PytestUnhandledThreadExceptionWarning",
            ),
        ),
        ("[pytest]\nfilterwarnings = error\n", ("-p", "no:asyncio")),
        ("[pytest]\nfilterwarnings = error\n", ("-p", "no:asyncio", "-p", "no:anyio")),
    ],
    ids=[
        "pytest-asyncio-strict",
        "pytest-asyncio-auto",
        "pytest-asyncio-unconfigured",
        "anyio",
        "no-async-plugin",
    ],
)
def test_a_sync_test_gets_a_running_emulator(
    pytester: pytest.Pytester, ini: str, options: tuple[str, ...]
) -> None:
    """A sync test that calls code that is not async (urllib, a script in a subprocess).

    The emulator served from the test's event loop, which does not run during a sync test:
    with pytest-asyncio each request timed out (it would hang without a timeout), and with
    anyio alone pytest's error named a private fixture (review r11).
    """
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_user=SYNC_TESTS, test_zz_after=AFTER_SYNC_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *options)
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(
        ["*kernel_client is an AsyncKernel, for async tests*use kernel_emulator*"]
    )
    assert "_kernel_" not in result.stdout.str()  # no private fixture named


NO_RUNNER_TESTS = """
from kernel_async.testing import make_invocation


async def test_an_async_test_nothing_runs(kernel_emulator):
    kernel_emulator.add_invocation(make_invocation())
"""


@pytest.mark.parametrize(
    "options",
    [("-p", "no:asyncio"), ("-p", "no:asyncio", "-p", "no:anyio")],
    ids=["anyio-unmarked", "no-async-plugin"],
)
def test_an_async_test_with_no_runner_is_told_what_to_install_or_mark(
    pytester: pytest.Pytester, options: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_user=NO_RUNNER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *options)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*kernel_emulator runs on the event loop of the async test that uses it, and nothing"
            " runs this one: install pytest-asyncio*@pytest.mark.anyio*"
        ]
    )
    assert "_kernel_" not in result.stdout.str()


def test_the_default_options_are_the_ones_the_testing_guide_gives(
    kernel_emulator_options: dict[str, object],
) -> None:
    # This suite runs with the plugin, as any project where kernel-async is installed does.
    guide = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    assert f"`{json.dumps(kernel_emulator_options)}` unless you override it" in guide
    assert kernel_emulator_options["count"] == 100
