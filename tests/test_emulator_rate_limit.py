"""The emulator's rate limit: the count of the last second (pure), then on the wire."""

import json

import aiohttp
import pytest

from kernel_async.testing import DEFAULT_API_KEY, KernelEmulator
from kernel_async.testing._rate_limit import LastSecond

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def test_answers_within_the_rate_are_counted_and_the_next_waits_for_the_oldest() -> None:
    last = LastSecond()
    assert last.admit(2, now=10.0) is None
    assert last.admit(2, now=10.4) is None
    assert last.admit(2, now=10.5) == 1  # the oldest is a second old at 11.0: wait 0.5 -> 1
    assert last.admit(2, now=10.99) == 1
    assert last.admit(2, now=11.0) is None  # 10.0 has left the last second
    assert last.admit(2, now=11.3) == 1  # 10.4 is still in it
    assert last.admit(2, now=11.4) is None


def test_a_refused_answer_is_not_counted() -> None:
    last = LastSecond()
    assert last.admit(1, now=0.0) is None
    for now in (0.1, 0.5, 0.9):
        assert last.admit(1, now=now) == 1
    assert last.admit(1, now=1.0) is None  # refusals did not push the slot back


def test_a_long_wait_is_said_in_whole_seconds_rounded_up() -> None:
    last = LastSecond()
    assert last.admit(0.5, now=0.0) is None  # a rate under one: one answer a second at most
    assert last.admit(0.5, now=0.25) == 1
    last = LastSecond()
    for now in (0.0, 0.1, 0.2):
        assert last.admit(3, now=now) is None
    assert last.admit(3, now=0.2) == 1  # ceil(0.8)
    assert last.admit(3, now=1.05) is None  # ceil would say 0: the wait is over


@pytest.mark.parametrize("rate", [1.0, 2.0])
async def test_over_the_rate_the_emulator_answers_429_with_retry_after(rate: float) -> None:
    async with (
        KernelEmulator(count=10, rate_limit=rate) as emulator,
        aiohttp.ClientSession() as session,
    ):
        answers = []
        for _ in range(int(rate) + 1):
            async with session.get(f"{emulator.url}invocations", headers=AUTH) as response:
                answers.append(
                    (response.status, response.headers.get("Retry-After"), await response.read())
                )
        assert [status for status, _, _ in answers] == [200] * int(rate) + [429]
        _, retry_after, body = answers[-1]
        assert retry_after == "1"
        assert json.loads(body)["code"] == "rate_limited"
        assert len(emulator.requests) == int(rate) + 1  # the refused request is logged too
