"""The pytest plugin, used the way a user's test suite uses it (in a separate pytest run)."""

import pytest

USER_TESTS = """
import pytest
from kernel_async import APIConnectionError, RetryPolicy, Timeout
from kernel_async.testing import Fault, FaultKind, FaultSchedule, make_invocation


@pytest.fixture
def kernel_emulator_options():
    return {"count": 0}


async def test_seeded_invocations_come_back(kernel_emulator, kernel_client):
    kernel_emulator.add_invocation(make_invocation(id="inv_1", status="failed", app_name="shop"))
    kernel_emulator.add_invocation(make_invocation(id="inv_2", status="succeeded"))
    page = await kernel_client.invocations.list_page(status="failed")
    assert [i.id for i in page] == ["inv_1"]
    assert kernel_emulator.requests[0].query["status"] == "failed"


async def test_faults_can_be_injected(kernel_emulator, kernel_client):
    kernel_emulator.add_invocation(make_invocation())
    kernel_emulator.faults = FaultSchedule(
        seed=1, rate=1.0, faults=[Fault(kind=FaultKind.RESET)]
    )
    with pytest.raises(APIConnectionError):
        await kernel_client.invocations.list_page(max_retries=0)
"""


def test_the_fixtures_work_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_plugin_is_inert_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_nothing_to_do_with_kernel():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    assert "kernel" not in result.stdout.str().lower().replace("test_nothing_to_do_with_kernel", "")
