"""The shared backoff after "slow down", and the requests let out one at a time after it."""

from __future__ import annotations

import asyncio
import math

import pytest

from kernel_async._throttle import PastDeadline, Throttle

# -- the decisions, without a loop -------------------------------------------------------------


def test_a_pushback_holds_every_request_then_lets_them_out_one_at_a_time() -> None:
    throttle = Throttle(ceiling=8)
    assert (throttle.limit, throttle.until, throttle.pushbacks) == (None, 0.0, 0)
    throttle.pushed_back(resume_at=11.0, now=10.0)
    assert (throttle.limit, throttle.until, throttle.pushbacks) == (1, 11.0, 1)
    assert throttle.sequential_until == 12.0  # one at a time for as long again
    throttle.pushed_back(resume_at=10.5, now=10.2)  # an earlier time never shortens the wait
    assert (throttle.until, throttle.sequential_until, throttle.pushbacks) == (11.0, 12.0, 2)


def test_the_limit_grows_by_one_a_page_after_the_time_of_one_at_a_time() -> None:
    throttle = Throttle(ceiling=4)
    throttle.pushed_back(resume_at=11.0, now=10.0)
    throttle.answered(now=11.5)  # still one at a time
    assert throttle.limit == 1
    throttle.answered(now=12.0)
    assert throttle.limit == 2
    throttle.answered(now=12.1)
    assert throttle.limit == 3
    throttle.answered(now=12.2)
    assert throttle.limit is None  # lifted at the ceiling
    throttle.answered(now=12.3)
    assert throttle.limit is None


def test_only_a_request_let_out_after_a_page_came_back_is_a_probe() -> None:
    throttle = Throttle(ceiling=4)
    assert not throttle.probing()  # no pushback: nothing is a probe
    throttle.pushed_back(resume_at=11.0, now=10.0)
    assert not throttle.probing()  # the first of the round spends a retry if pushed back
    throttle.answered(now=11.1)
    assert throttle.probing()
    throttle.pushed_back(resume_at=12.1, now=11.1)
    assert not throttle.probing()  # a new round


def test_a_throttle_needs_a_ceiling() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        Throttle(ceiling=0)


# -- turns, in a loop ---------------------------------------------------------------------------


def one_out_the_rest_queue() -> tuple[Throttle, asyncio.AbstractEventLoop]:
    """A throttle one at a time after a pushback whose wait is over, with one request out."""
    throttle = Throttle(ceiling=8)
    loop = asyncio.get_running_loop()
    throttle.pushed_back(resume_at=loop.time(), now=loop.time() - 10)
    throttle.sending = 1
    return throttle, loop


async def test_requests_wait_their_turn_most_retries_first() -> None:
    throttle = Throttle(ceiling=8)
    loop = asyncio.get_running_loop()
    throttle.pushed_back(resume_at=loop.time(), now=loop.time() - 10)  # one at a time
    order: list[str] = []

    async def request(name: str, retries: int) -> None:
        await throttle.turn(retries)
        order.append(name)

    throttle.sending = 1  # one is out: the others queue
    tasks = [asyncio.create_task(request(n, r)) for n, r in [("a", 0), ("b", 2), ("c", 1)]]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert (order, throttle.waiting) == ([], 3)
    for expected in (["b"], ["b", "c"], ["b", "c", "a"]):
        throttle.done()
        await asyncio.sleep(0)
        assert order == expected
    await asyncio.gather(*tasks)
    assert throttle.sending == 1


async def test_no_request_is_let_out_before_the_time_the_server_asked_for() -> None:
    throttle = Throttle(ceiling=8)
    loop = asyncio.get_running_loop()
    throttle.pushed_back(resume_at=loop.time() + 0.05, now=loop.time())
    waiter = asyncio.create_task(throttle.turn(1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiter.done()  # a place is free, but not the time
    await asyncio.wait_for(waiter, timeout=5)
    assert loop.time() >= throttle.until


async def test_a_request_cancelled_while_waiting_gives_up_its_place() -> None:
    throttle, _ = one_out_the_rest_queue()
    first = asyncio.create_task(throttle.turn(0))
    second = asyncio.create_task(throttle.turn(0))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert throttle.waiting == 1
    throttle.done()
    await asyncio.wait_for(second, timeout=5)
    assert throttle.sending == 1  # the second got the place


async def test_a_request_let_out_as_it_is_cancelled_hands_its_place_on() -> None:
    throttle, _ = one_out_the_rest_queue()
    first = asyncio.create_task(throttle.turn(0))
    second = asyncio.create_task(throttle.turn(0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    throttle.done()  # lets the first out...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, timeout=5)
    assert throttle.sending == 1


def test_a_ceiling_of_one_is_a_throttle_that_lifts_at_the_first_page() -> None:
    throttle = Throttle(ceiling=1)
    throttle.pushed_back(resume_at=1.0, now=0.0)
    throttle.answered(now=5.0)
    assert throttle.limit is None


def test_pages_before_any_pushback_change_nothing() -> None:
    throttle = Throttle(ceiling=4)
    throttle.answered(now=1.0)
    assert (throttle.limit, throttle.pushbacks, throttle.probing()) == (None, 0, False)


async def test_without_a_pushback_a_request_never_waits() -> None:
    throttle = Throttle(ceiling=4)
    turn = throttle.turn(0)
    with pytest.raises(StopIteration):
        turn.send(None)  # done without suspending: no future, no turn of the loop
    assert (throttle.sending, throttle.waiting) == (1, 0)


async def test_a_limit_that_grows_lets_a_waiting_request_out_at_once() -> None:
    throttle = Throttle(ceiling=8)
    loop = asyncio.get_running_loop()
    throttle.pushed_back(resume_at=loop.time() - 5, now=loop.time() - 10)  # one at a time: over
    throttle.sending = 1
    waiter = asyncio.create_task(throttle.turn(0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not waiter.done()
    throttle.answered(now=loop.time())  # a page came back: two at once now
    await asyncio.wait_for(waiter, timeout=5)
    assert throttle.sending == 2


async def test_requests_are_let_out_round_after_round() -> None:
    throttle = Throttle(ceiling=8)
    loop = asyncio.get_running_loop()
    throttle.pushed_back(resume_at=loop.time(), now=loop.time() - 10)
    for _ in range(3):
        await asyncio.wait_for(throttle.turn(0), timeout=5)
        assert throttle.sending == 1
        throttle.done()


async def test_a_request_cancelled_in_the_queue_is_skipped_even_before_it_runs() -> None:
    throttle, _ = one_out_the_rest_queue()
    first = asyncio.create_task(throttle.turn(0))
    second = asyncio.create_task(throttle.turn(0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    first.cancel()
    throttle.done()  # wakes the queue while the first has not yet seen its cancellation
    await asyncio.wait_for(second, timeout=5)
    await asyncio.gather(first, return_exceptions=True)
    assert first.cancelled()
    assert throttle.sending == 1


async def test_the_order_holds_when_a_waiting_request_is_cancelled() -> None:
    throttle, _ = one_out_the_rest_queue()
    order: list[int] = []

    async def request(retries: int) -> None:
        await throttle.turn(retries)
        order.append(retries)

    tasks = {retries: asyncio.create_task(request(retries)) for retries in (3, 1, 2, 0)}
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    tasks[3].cancel()
    await asyncio.gather(tasks[3], return_exceptions=True)
    for _ in range(3):
        throttle.done()
        await asyncio.sleep(0)
    assert order == [2, 1, 0]
    await asyncio.gather(*tasks.values(), return_exceptions=True)


async def test_a_turn_the_shared_wait_would_take_past_the_deadline_is_refused_at_once() -> None:
    throttle = Throttle(ceiling=8)
    loop = asyncio.get_running_loop()
    throttle.pushed_back(resume_at=loop.time() + 30, now=loop.time())
    throttle.sending = 1
    with pytest.raises(PastDeadline) as raised:
        await throttle.turn(0, deadline_at=loop.time() + 5)
    assert raised.value.until == throttle.until
    assert throttle.waiting == 0


async def test_a_pushback_past_a_waiting_requests_deadline_ends_that_wait() -> None:
    throttle, loop = one_out_the_rest_queue()
    hurried = asyncio.create_task(throttle.turn(0, deadline_at=loop.time() + 5))
    patient = asyncio.create_task(throttle.turn(0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    throttle.pushed_back(resume_at=loop.time() + 10, now=loop.time())  # past the first's deadline
    with pytest.raises(PastDeadline):
        await asyncio.wait_for(hurried, timeout=5)
    assert not patient.done()
    assert throttle.waiting == 1
    patient.cancel()
    await asyncio.gather(patient, return_exceptions=True)


async def test_abort_ends_every_wait_each_with_its_own_error() -> None:
    throttle, _ = one_out_the_rest_queue()
    waits = [asyncio.create_task(throttle.turn(0)) for _ in range(2)]
    await asyncio.sleep(0)
    throttle.abort(lambda: RuntimeError("closed"))
    errors = await asyncio.gather(*waits, return_exceptions=True)
    assert [type(error) for error in errors] == [RuntimeError, RuntimeError]
    assert errors[0] is not errors[1]
    assert (throttle.waiting, throttle.sending) == (0, 1)


async def test_the_order_holds_when_a_pushback_ends_a_waiting_requests_wait() -> None:
    throttle, loop = one_out_the_rest_queue()
    order: list[int] = []

    async def request(retries: int, deadline_at: float = math.inf) -> None:
        await throttle.turn(retries, deadline_at)
        order.append(retries)

    hurried = asyncio.create_task(request(3, deadline_at=loop.time() + 0.05))
    others = [asyncio.create_task(request(retries)) for retries in (1, 2, 0)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    throttle.pushed_back(resume_at=loop.time() + 0.1, now=loop.time() - 10)  # past its deadline
    with pytest.raises(PastDeadline):
        await asyncio.wait_for(hurried, timeout=5)
    await asyncio.sleep(0.15)  # the time asked for passes
    for _ in range(3):
        throttle.done()
        await asyncio.sleep(0)
    assert order == [2, 1, 0]
    await asyncio.wait_for(asyncio.gather(*others), timeout=5)
