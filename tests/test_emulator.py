"""The emulator speaks the wire contract, checked with a plain aiohttp client."""

import json
from typing import Any

import aiohttp
import pytest

from kernel_async._timestamps import rfc3339_to_epoch_ns
from kernel_async.testing import DEFAULT_API_KEY, KernelEmulator, LiveData, generate_invocations

from conftest import NOW

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


async def get(
    emulator: KernelEmulator, headers: dict[str, str] | None = None, **query: Any
) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{emulator.url}invocations",
            params={k: str(v) for k, v in query.items()},
            headers=AUTH if headers is None else headers,
        ) as response,
    ):
        return response.status, response.headers, json.loads(await response.read())


@pytest.fixture
async def emu() -> Any:
    async with KernelEmulator(count=45, seed=3, now=NOW) as emulator:
        yield emulator


async def test_pagination_headers_follow_facts_md(emu: KernelEmulator) -> None:
    status, headers, body = await get(emu, limit=20, offset=20)
    assert status == 200
    assert len(body) == 20
    assert (
        headers["X-Limit"],
        headers["X-Offset"],
        headers["X-Next-Offset"],
        headers["X-Has-More"],
    ) == ("20", "20", "40", "true")
    assert headers["X-Request-Id"].startswith("req_")
    status, headers, body = await get(emu, limit=20, offset=40)
    assert len(body) == 5
    assert (headers["X-Next-Offset"], headers["X-Has-More"]) == ("0", "false")
    status, headers, body = await get(emu, offset=45)
    assert body == []
    assert headers["X-Has-More"] == "false"


async def test_default_limit_is_20_and_a_cap_shows_in_x_limit() -> None:
    async with KernelEmulator(count=45, limit_cap=7) as capped:
        _, headers, body = await get(capped, limit=100)
    assert (len(body), headers["X-Limit"], headers["X-Next-Offset"]) == (7, "7", "7")
    async with KernelEmulator(count=45) as plain:
        _, headers, body = await get(plain)
    assert (len(body), headers["X-Limit"]) == (20, "20")


async def test_newest_first_then_id(emu: KernelEmulator) -> None:
    keys = [(-rfc3339_to_epoch_ns(i["started_at"]), i["id"]) for i in emu.invocations]
    assert keys == sorted(keys)
    emu.add_invocation({**emu.invocations[3], "id": "0-same-instant"})
    listed = emu.invocations
    assert listed[3]["id"] == "0-same-instant"
    assert listed[3]["started_at"] == listed[4]["started_at"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"status": "cancelled"}, "status"),
        ({"since": "yesterday"}, "since"),
    ],
)
async def test_invalid_parameters_get_400_with_an_error_body(
    emu: KernelEmulator, query: dict[str, Any], message: str
) -> None:
    status, headers, body = await get(emu, **query)
    assert status == 400
    assert body["code"] == "bad_request"
    assert message in body["message"]
    assert "X-Request-Id" in headers


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": DEFAULT_API_KEY}]
)
async def test_missing_or_wrong_token_gets_401(
    emu: KernelEmulator, headers: dict[str, str]
) -> None:
    status, _, body = await get(emu, headers=headers)
    assert status == 401
    assert body["code"] == "unauthorized"
    assert emu.requests[-1].authorized is False
    assert "Authorization" not in emu.requests[-1].headers


async def test_empty_filters_are_ignored_as_go_does(emu: KernelEmulator) -> None:
    _, _, body = await get(emu, app_name="", limit=100)
    assert len(body) == 45


async def test_requests_are_logged_and_latency_applies() -> None:
    delays: list[int | None] = []

    def latency(request: Any) -> float:
        delays.append(request.offset)
        return 0.01

    async with KernelEmulator(count=5, latency=latency) as emu:
        await get(emu, offset=2, limit=2)
    assert delays == [2]
    assert emu.requests[0].limit == 2
    assert emu.max_in_flight == 1
    assert emu.in_flight == 0


def test_generated_data_is_deterministic_and_varied() -> None:
    first = generate_invocations(300, seed=5, now=NOW)
    assert first == generate_invocations(300, seed=5, now=NOW)
    assert first != generate_invocations(300, seed=6, now=NOW)
    assert {i["status"] for i in first} == {"queued", "running", "succeeded", "failed"}
    digits = {len(i["started_at"].removesuffix("Z").partition(".")[2]) for i in first}
    assert {0, 3, 9} <= digits
    failed_outputs = [i["output"] for i in first if i["status"] == "failed"]
    assert any(not o.startswith("{") for o in failed_outputs)
    assert all(i["finished_at"] is None for i in first if i["status"] in ("queued", "running"))
    assert all(
        rfc3339_to_epoch_ns(i["started_at"]) < rfc3339_to_epoch_ns(NOW.isoformat()) for i in first
    )
    with pytest.raises(ValueError, match="count"):
        generate_invocations(-1)


@pytest.mark.parametrize("value", ["false", 1, 0, None])
async def test_the_testing_switches_are_bools(value: object) -> None:
    # A truthy string ("false") would switch in_memory or reorder on; each is refused, naming
    # the parameter, before a client is built or the emulator is changed.
    emulator = KernelEmulator(count=1)
    with pytest.raises(TypeError, match=f"in_memory must be a bool, not {type(value).__name__}"):
        emulator.client(in_memory=value)  # type: ignore[arg-type]
    for name in ("reorder", "shuffle_ties"):
        with pytest.raises(TypeError, match=f"{name} must be a bool, not {type(value).__name__}"):
            LiveData(**{name: value})
    async with emulator, emulator.client(in_memory=False) as client:
        await client.invocations.list_page()
    assert len(emulator.requests) == 1


def test_emulator_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="loopback"):
        KernelEmulator(host="0.0.0.0")
    with pytest.raises(ValueError, match="limit_cap"):
        KernelEmulator(limit_cap=0)
    with pytest.raises(ValueError, match="path_prefix"):
        KernelEmulator(path_prefix="v1")
    with pytest.raises(RuntimeError, match="not running"):
        _ = KernelEmulator().url
    with pytest.raises(KeyError):
        KernelEmulator(count=1).remove_invocation("missing")
