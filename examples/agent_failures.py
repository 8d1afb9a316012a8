"""Async agent code: the failed invocations of several apps, fetched concurrently.

    KERNEL_API_KEY=... python examples/agent_failures.py

One client is shared by every task (one connection pool); each task walks its own listing.
If one task fails, the TaskGroup cancels the others, and each listing's `async with` cancels
and awaits its requests before the error reaches you.
"""

from __future__ import annotations

import asyncio

from kernel_async import AsyncKernel, Invocation

APPS = ("invoice-bot", "web-scraper", "form-filler")


async def failures(client: AsyncKernel, app_name: str) -> list[Invocation]:
    async with client.invocations.list(app_name=app_name, status="failed", since="168h") as found:
        return [invocation async for invocation in found]


async def main() -> None:
    async with AsyncKernel() as client:
        async with asyncio.TaskGroup() as group:
            tasks = {app: group.create_task(failures(client, app)) for app in APPS}
        for app, task in tasks.items():
            failed = task.result()
            reasons = sorted({i.status_reason or "?" for i in failed})
            print(f"{app}: {len(failed)} failed ({', '.join(reasons) or 'none'})")


if __name__ == "__main__":
    asyncio.run(main())
