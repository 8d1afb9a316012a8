"""An agent that waits for the runs it launched, and hears of each failure as it happens.

    KERNEL_API_KEY=... python examples/agent_wait.py RUN_ID [RUN_ID ...]

Two tasks in one ``asyncio.TaskGroup``, sharing one client: one waits until every run has
reached a final status (``wait``), the other reports failures anywhere in the app as they
happen (``failures``) and is cancelled once the wait is over. If either fails, the group
cancels the other, and neither leaves anything running.
"""

from __future__ import annotations

import argparse
import asyncio

from kernel_async import AsyncKernel, Invocation


async def report_failures(client: AsyncKernel, interval: float) -> None:
    async with client.invocations.failures(interval=interval) as failures:
        async for invocation in failures:
            print(f"failed meanwhile: {invocation.id} ({invocation.status_reason})", flush=True)


def outcome(run_id: str, run: Invocation | None) -> str:
    if run is None:
        return f"{run_id}: deleted before it finished"
    reason = f" ({run.status_reason})" if run.status_reason else ""
    return f"{run_id}: {run.status}{reason}"


async def main(run_ids: list[str], interval: float, seconds: float) -> None:
    async with AsyncKernel() as client, asyncio.TaskGroup() as group:
        failures = group.create_task(report_failures(client, interval))
        # A TimeoutError here (runs still going after `seconds`) names those runs.
        finished = await client.invocations.wait(run_ids, interval=interval, timeout=seconds)
        failures.cancel()  # the runs are done: stop listening
    for run_id, run in zip(run_ids, finished, strict=True):
        print(outcome(run_id, run))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.run_ids, arguments.interval, arguments.timeout))
