"""The emulator on an event loop of its own, in a thread: for code that runs on no loop.

The emulator serves from the loop that started it, and only while that loop runs. Started on
the loop of an async test, it answers while the test awaits; a sync test (``def test_...``)
awaits nothing, so code it calls (``urllib``, a script in a subprocess) would wait for an
answer that never comes. :func:`serving_in_thread` gives the emulator a loop that runs all
along, in a thread, and stops it, closes it and joins the thread on the way out: nothing is
left behind, and an error in the thread is raised in the caller's.

The emulator's data belongs to its loop: a response is computed there in one step, with no
``await`` in it. :func:`call_on_loop` makes a change from another thread (``add_invocation``
from the sync test) run there too, between two such steps, as a change made on the loop
would, never in the middle of one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["call_on_loop", "serving_in_thread"]

_T = TypeVar("_T")
# The emulator, which imports this module: any async context manager that serves.
_Server = TypeVar("_Server", bound=contextlib.AbstractAsyncContextManager[Any])


def call_on_loop(loop: asyncio.AbstractEventLoop | None, call: Callable[[], _T]) -> _T:
    """``call()`` on ``loop`` if it runs in another thread (waiting for it), else here.

    Here when there is no loop, when it is this thread's, and when it is not running (no
    thread could run the call: the caller is then the only one using the emulator).
    """
    if loop is None or not loop.is_running():
        return call()
    try:
        if asyncio.get_running_loop() is loop:
            return call()
    except RuntimeError:  # no loop runs in this thread
        pass
    done: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread instead
            done.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return done.result()


@contextlib.contextmanager
def serving_in_thread(emulator: _Server) -> Iterator[_Server]:
    """Serve ``emulator`` from a thread with a loop of its own until the block ends.

    Raises:
        OSError: the emulator cannot listen (its port is taken), from the caller's thread.
    """
    started: concurrent.futures.Future[Callable[[], object]] = concurrent.futures.Future()
    ended: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        async with emulator:
            started.set_result(lambda: loop.call_soon_threadsafe(stop.set))
            await stop.wait()

    def run() -> None:
        # asyncio.run cancels and awaits whatever is left, shuts down the loop's async
        # generators and executor, and closes the loop.
        try:
            asyncio.run(serve())
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread instead
            (ended if started.done() else started).set_exception(exc)
        else:
            ended.set_result(None)

    thread = threading.Thread(target=run, name="kernel-emulator", daemon=True)
    thread.start()
    try:
        stop = started.result()
    except BaseException:
        thread.join()
        raise
    try:
        yield emulator
    finally:
        stop()
        thread.join()
        ended.result()
