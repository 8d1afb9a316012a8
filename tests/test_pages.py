"""The official SDK's page API: ``await client.invocations.list(...)`` and the page it returns.

First the page on its own, over a fetch double (the interface the page is built on), then
end to end against the emulator and a small server on 127.0.0.1.
"""

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from kernel_async import (
    AsyncInvocationPage,
    AsyncKernel,
    AuthenticationError,
    InternalServerError,
    Invocation,
    Page,
    PageInfo,
    PaginationError,
)
from kernel_async._pages import link_page
from kernel_async.testing import KernelEmulator, ScriptedResponse, make_invocation

from conftest import NOW, LoopbackServer, ids


def invocation(number: int) -> Invocation:
    return Invocation.from_dict(make_invocation(id=f"inv_{number:03d}"))


class Pages:
    """A fetch double: pages of ``size`` over ``total`` items, recording every offset asked.

    The next offset it sends is ``offset + step``, deliberately not ``offset + len(items)``:
    a page that follows the item count instead would ask for the wrong offsets.
    """

    def __init__(self, total: int, *, size: int, step: int | None = None) -> None:
        self.items = [invocation(n) for n in range(total)]
        self.size = size
        self.step = step or size
        self.asked: list[int] = []
        self.fail_at: dict[int, Exception] = {}
        self.gate: asyncio.Event | None = None  # when set, fetches wait for it to open
        self.waiting = asyncio.Event()  # a fetch is waiting at the gate

    async def __call__(self, offset: int) -> Page:
        self.asked.append(offset)
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        if offset in self.fail_at:
            raise self.fail_at.pop(offset)
        # Positions offset, offset+step, ... hold `size` items each (a server that filters
        # after paging returns fewer items than its step).
        position = offset // self.step * self.size
        items = tuple(self.items[position : position + self.size])
        more = position + self.size < len(self.items)
        return Page(
            items=items,
            offset=offset,
            limit=self.size,
            has_more=more,
            next_offset=offset + self.step if more else None,
        )

    async def first(self, offset: int = 0) -> AsyncInvocationPage:
        return link_page(await self(offset), self)


async def test_a_page_is_a_page_with_the_official_methods() -> None:
    pages = Pages(5, size=2)
    page = await pages.first()
    assert isinstance(page, Page)
    assert ids(page) == ["inv_000", "inv_001"]  # plain `for` is this page only
    assert page[0].id == "inv_000"
    assert page.has_next_page()
    assert page.next_page_info() == PageInfo(params={"offset": 2})
    assert repr(page.next_page_info()) == "PageInfo(params={'offset': 2})"
    assert page == link_page(await pages(0), Pages(0, size=1))  # the fetch is not data
    assert "fetch" not in repr(page)


async def test_a_last_page_has_no_next_page_and_fetches_nothing() -> None:
    pages = Pages(3, size=5)
    page = await pages.first()
    assert not page.has_next_page()
    assert page.next_page_info() is None
    with pytest.raises(RuntimeError, match="has_next_page"):
        await page.get_next_page()
    assert [p async for p in page.iter_pages()] == [page]
    assert ids([i async for i in page]) == ids(pages.items)
    assert pages.asked == [0]


async def test_the_next_page_starts_at_the_offset_the_server_sent() -> None:
    pages = Pages(6, size=2, step=5)  # two items per page, the next page 5 further on
    page = await pages.first()
    second = await page.get_next_page()
    assert second.offset == 5
    third = await second.get_next_page()
    assert third.offset == 10
    assert not third.has_next_page()
    assert pages.asked == [0, 5, 10]
    assert ids([*page, *second, *third]) == ids(pages.items)


async def test_iter_pages_yields_this_page_then_each_one_after_it() -> None:
    pages = Pages(7, size=3)
    first = await pages.first()
    got = [page async for page in first.iter_pages()]
    assert [page.offset for page in got] == [0, 3, 6]
    assert got[0] is first
    assert all(isinstance(page, AsyncInvocationPage) for page in got)
    assert pages.asked == [0, 3, 6]
    middle = got[1]
    assert [page.offset async for page in middle.iter_pages()] == [3, 6]


async def test_async_for_over_a_page_yields_every_item_from_it_on() -> None:
    pages = Pages(10, size=3)
    first = await pages.first()
    assert ids([i async for i in first]) == ids(pages.items)
    assert pages.asked == [0, 3, 6, 9]
    second = await first.get_next_page()
    assert ids([i async for i in second]) == ids(pages.items[3:])


async def test_pages_are_fetched_one_at_a_time_as_they_are_consumed() -> None:
    pages = Pages(9, size=3)
    first = await pages.first()
    iterator = aiter(first)
    for _ in range(3):
        await anext(iterator)
    assert pages.asked == [0]  # the next page is asked for only when its first item is
    await anext(iterator)
    assert pages.asked == [0, 3]


async def test_a_failed_fetch_raises_after_the_items_before_it_and_can_be_retried() -> None:
    pages = Pages(6, size=2)
    pages.fail_at[4] = InternalServerError("boom", status=500)
    first = await pages.first()
    iterator = aiter(first)
    got = [await anext(iterator) for _ in range(4)]
    with pytest.raises(InternalServerError, match="boom"):
        await anext(iterator)
    got += [i async for i in iterator]  # iterating again asks for the same page
    assert ids(got) == ids(pages.items)
    assert pages.asked == [0, 2, 4, 4]


async def test_a_cancelled_fetch_loses_nothing() -> None:
    pages = Pages(6, size=2)
    first = await pages.first()
    iterator = aiter(first)
    got = [await anext(iterator) for _ in range(2)]
    pages.gate = asyncio.Event()
    task = asyncio.ensure_future(anext(iterator))
    await pages.waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pages.gate.set()
    got += [i async for i in iterator]
    assert ids(got) == ids(pages.items)
    assert pages.asked == [0, 2, 2, 4]


async def test_one_consumer_at_a_time() -> None:
    pages = Pages(6, size=2)
    first = await pages.first()
    iterator = first.iter_pages()
    await anext(iterator)
    pages.gate = asyncio.Event()
    task = asyncio.ensure_future(anext(iterator))
    await pages.waiting.wait()
    with pytest.raises(RuntimeError, match="one consumer"):
        await anext(iterator)
    pages.gate.set()
    assert (await task).offset == 2


async def test_aclose_ends_the_iteration() -> None:
    pages = Pages(6, size=2)
    first = await pages.first()
    items = aiter(first)
    await anext(items)
    await items.aclose()  # type: ignore[attr-defined]
    assert [i async for i in items] == []
    assert pages.asked == [0]


# -- end to end ------------------------------------------------------------------------------


async def test_awaiting_list_returns_the_first_page(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    page = await client.invocations.list(status="failed", limit=20)
    assert isinstance(page, AsyncInvocationPage)
    failed = emulator.list_invocations(status="failed")
    assert ids(page.items) == ids(failed[:20])
    assert page.request_id is not None
    assert [r.query for r in emulator.requests] == [
        {"status": "failed", "limit": "20", "offset": "0"}
    ]


async def test_awaiting_without_a_limit_leaves_it_to_the_server_as_the_official_sdk(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    listing = client.invocations.list()
    page = await listing
    assert len(page) == 20  # the server's default
    assert "limit" not in emulator.requests[-1].query
    async with listing:  # the listing is untouched: its walk still uses pages of 100
        assert ids([i async for i in listing]) == ids(emulator.invocations)
    assert emulator.requests[-1].query["limit"] == "100"


async def test_async_for_over_an_awaited_page_walks_every_page_in_turn(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    got = [i async for i in await client.invocations.list(status="succeeded", limit=7)]
    expected = emulator.list_invocations(status="succeeded")
    assert len(expected) > 14
    assert ids(got) == ids(expected)
    # One page at a time, each at the previous X-Next-Offset, with the same filters.
    assert [r.offset for r in emulator.requests] == list(range(0, len(expected), 7))
    assert all(r.query["status"] == "succeeded" for r in emulator.requests)
    assert emulator.max_in_flight == 1


async def test_the_next_page_is_requested_at_x_next_offset_verbatim() -> None:
    # A server whose pages hold fewer items than its step (it filters after paging): the
    # next offset is not the offset plus the items seen.
    data = [make_invocation(id=f"inv_{n}") for n in range(5)]
    layout = {0: (data[0:2], 5), 5: (data[2:4], 10), 10: (data[4:], 0)}
    asked: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        asked.append(int(request.query["offset"]))
        items, next_offset = layout[asked[-1]]
        headers = {"X-Next-Offset": str(next_offset), "X-Has-More": str(next_offset > 0)}
        return web.json_response(items, headers={k: v.lower() for k, v in headers.items()})

    async with (
        LoopbackServer(handler) as server,
        AsyncKernel("key", base_url=server.url, max_retries=0) as client,
    ):
        page = await client.invocations.list(limit=5)
        assert [p.offset async for p in page.iter_pages()] == [0, 5, 10]
        assert ids([i async for i in page]) == ids(data)
    assert asked == [0, 5, 10, 5, 10]  # the first page, then iter_pages, then async for


async def test_awaiting_twice_fetches_twice(emulator: KernelEmulator, client: AsyncKernel) -> None:
    listing = client.invocations.list(limit=3)
    assert ids(await listing) == ids(await listing) == ids(emulator.invocations[:3])
    assert len(emulator.requests) == 2


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"max_items": 5}, "max_items applies"),
        ({"strict": True}, "strict applies"),
        ({"max_items": 5, "strict": True}, "max_items and strict apply"),
    ],
)
async def test_walk_only_arguments_make_no_sense_on_a_page(
    emulator: KernelEmulator, client: AsyncKernel, arguments: dict[str, Any], named: str
) -> None:
    listing = client.invocations.list(**arguments)
    with pytest.raises(TypeError, match=named):
        await listing
    assert emulator.requests == []  # nothing was sent
    async with listing:  # the walk itself is fine
        assert len([i async for i in listing]) == arguments.get(
            "max_items", len(emulator.invocations)
        )


async def test_a_resumed_walk_cannot_be_awaited(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    async with client.invocations.list(limit=2) as walk:
        async for _ in walk:
            break
    token = walk.resume_token
    assert token is not None
    sent = len(emulator.requests)
    with pytest.raises(TypeError, match="resume applies"):
        await client.invocations.list(resume=token)
    assert len(emulator.requests) == sent


async def test_prefetch_does_not_apply_to_a_page(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    page = await client.invocations.list(prefetch=2, limit=50)
    assert ids([i async for i in page]) == ids(emulator.invocations)
    assert emulator.max_in_flight == 1


async def test_an_awaited_page_raises_the_typed_errors(emulator: KernelEmulator) -> None:
    async with emulator.client(api_key="wrong", max_retries=0) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.invocations.list()
    assert caught.value.status_code == 401


async def test_contradictory_headers_on_a_next_page_raise_a_pagination_error(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    page = await client.invocations.list(limit=10)
    body = json.dumps(emulator.invocations[10:20]).encode()
    emulator.script(
        ScriptedResponse(body=body, headers={"X-Has-More": "true", "X-Next-Offset": "0"})
    )
    with pytest.raises(PaginationError, match="X-Next-Offset"):
        await page.get_next_page()


async def test_retries_and_the_deadline_apply_to_each_fetch() -> None:
    async with KernelEmulator(count=30, seed=2, now=NOW) as emulator:
        emulator.script(ScriptedResponse(status=503, body=b"{}", offset=10))
        async with emulator.client(max_retries=0) as client:
            page = await client.invocations.list(limit=10, max_retries=1, deadline=30)
            got = [i async for i in page]
        assert ids(got) == ids(emulator.invocations)
        assert [r.offset for r in emulator.requests] == [0, 10, 10, 20]
