"""Ending tasks for good: the one cleanup that the listing and the transport share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel these tasks and wait until every one of them has finished.

    Like a ``TaskGroup``, the cleanup is finished even if the caller is cancelled meanwhile
    (the tasks are already cancelled, so this is short), and that cancellation is passed on
    afterwards. Under anyio (Starlette, FastAPI) a cancel scope re-delivers the cancellation
    at every await, so progress is measured by what is done, not by ``wait`` returning.
    """
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    interrupted = False
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:
            interrupted = True
        pending = {task for task in pending if not task.done()}
    if interrupted:
        raise asyncio.CancelledError
