"""Type-checked, never run: the public API as a user writes it, for mypy --strict and pyright.

`nox -s typing` checks this file; a wrong annotation in the package makes it fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, assert_type

from kernel_async import (
    APIStatusError,
    APITimeoutError,
    AsyncInvocationPage,
    AsyncKernel,
    ErrorDetail,
    ErrorResponse,
    EventKind,
    FailureStream,
    Invocation,
    InvocationEvent,
    InvocationListing,
    InvocationStatus,
    InvocationWatch,
    JSONValue,
    Page,
    PageInfo,
    RetryPolicy,
    Timeout,
)
from kernel_async.testing import FaultSchedule, KernelEmulator, make_invocation


async def listing(client: AsyncKernel) -> None:
    walk = client.invocations.list(status=InvocationStatus.FAILED, since=timedelta(hours=1))
    assert_type(walk, InvocationListing)
    async with walk as invocations:
        async for invocation in invocations:
            assert_type(invocation, Invocation)
            assert_type(invocation.id, str)
            assert_type(invocation.status, InvocationStatus | str)
            assert_type(invocation.started_at, datetime)
            assert_type(invocation.finished_at, datetime | None)
            assert_type(invocation.started_at_ns, int)
            assert_type(invocation.duration, float | None)
            assert_type(invocation.payload_json(), JSONValue)
            assert_type(invocation.to_dict(), dict[str, str | None])
            assert_type(invocation.to_dict(mode="python"), dict[str, Any])
            assert_type(invocation.to_json(indent=None), str)
    assert_type(walk.resume_offset, int | None)
    async for page in client.invocations.list(max_items=10).pages():
        assert_type(page, Page)


async def one_page(client: AsyncKernel) -> None:
    page = await client.invocations.list_page(limit=10, offset=0, deadline=5.0, max_retries=1)
    assert_type(page, Page)
    assert_type(page.items, tuple[Invocation, ...])
    assert_type(page.next_offset, int | None)
    assert_type(page.has_more, bool)
    for invocation in page:
        assert_type(invocation, Invocation)
    assert_type(page[0], Invocation)
    assert_type(page[1:], tuple[Invocation, ...])


async def official_pages(client: AsyncKernel) -> None:
    first_page = await client.invocations.list(status="failed", limit=20)
    assert_type(first_page, AsyncInvocationPage)
    assert_type(first_page.items, tuple[Invocation, ...])
    assert_type(first_page.has_next_page(), bool)
    assert_type(first_page.next_page_info(), PageInfo | None)
    assert_type(first_page.next_offset, int | None)
    page: Page = first_page  # a page is a Page
    assert_type(page[0], Invocation)
    if first_page.has_next_page():
        assert_type(await first_page.get_next_page(), AsyncInvocationPage)
    async for each in first_page.iter_pages():
        assert_type(each, AsyncInvocationPage)
    async for invocation in first_page:
        assert_type(invocation, Invocation)
    async for invocation in await client.invocations.list(limit=50):
        assert_type(invocation, Invocation)
    await client.invocations.list_page(
        timeout=20.0,
        extra_headers={"X-Kernel-Project-Id": "proj_1"},
        extra_query={"preview": True, "page_hint": 2, "label": "x"},
        extra_body=None,
    )
    walk = client.invocations.list(timeout=Timeout(total=10), extra_query={"preview": "1"})
    assert_type(walk, InvocationListing)
    # A GET has no body: a type checker says so before the TypeError would.
    await client.invocations.list_page(extra_body={"a": 1})  # type: ignore[arg-type]


async def errors(client: AsyncKernel) -> None:
    try:
        await client.invocations.list_page()
    except APIStatusError as error:
        assert_type(error.status, int)
        assert_type(error.code, str | None)
        assert_type(error.details, tuple[ErrorDetail, ...])
        assert_type(error.inner_error, ErrorDetail | None)
        assert_type(error.request_id, str | None)
        assert_type(error.headers, Mapping[str, str])
        assert_type(error.status_code, int)
        assert_type(error.response, ErrorResponse)
        assert_type(error.response.status_code, int)
        assert_type(error.response.content, bytes)
        assert_type(error.response.request_id, str | None)
    except APITimeoutError as error:
        assert_type(error.limit, str | None)


async def configuration() -> None:
    client = AsyncKernel(
        "key",
        base_url="https://api.onkernel.com/",
        timeout=Timeout(total=30, connect=5, read=10),
        retry=RetryPolicy(max_retries=3),
        max_connections=16,
    )
    assert_type(client.retry, RetryPolicy)
    async with KernelEmulator(faults=FaultSchedule(seed=1, rate=0.1)) as emulator:
        emulator.add_invocation(make_invocation(status="failed"))
        assert_type(emulator.client(), AsyncKernel)
    await client.aclose()


async def watching(client: AsyncKernel, earlier: Invocation) -> None:
    watch = client.invocations.watch(status=["failed", InvocationStatus.QUEUED], since="1h")
    assert_type(watch, InvocationWatch)
    async with watch:
        async for event in watch:
            assert_type(event, InvocationEvent)
            assert_type(event.kind, EventKind)
            assert_type(event.invocation, Invocation)
            assert_type(event.previous_status, InvocationStatus | str | None)
            assert_type(event.status, InvocationStatus | str)
        assert_type(await watch.poll(), list[InvocationEvent])
        assert_type(watch.possible_gaps, int)
    finished = await client.invocations.wait([earlier, "inv_1"], timeout=60)
    assert_type(finished, list[Invocation | None])
    failures = client.invocations.failures(app_name="invoice-bot")
    assert_type(failures, FailureStream)
    async with failures:
        async for failed in failures:
            assert_type(failed, Invocation)
