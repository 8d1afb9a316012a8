"""Regressions from an audit of exactly-once walks (audit r3): each case broke a promise.

R1 a stale page ending in a deleted tie of the cursor moved the cursor back, and the next
invocation came twice; R2 a new invocation tying with the cursor and sorting before ones
already delivered did the same in a sequential walk; R3 an empty first page that said there
was more started the walk at its X-Next-Offset, losing what came before, even in strict mode.

Deterministic: the in-process emulator with scripted changes and responses.
"""

from __future__ import annotations

from kernel_async.testing import KernelEmulator, LiveData, ScriptedResponse, make_invocation

T = "2026-01-01T00:00:00Z"  # every "a" invocation starts at this instant: ties, ordered by id


def ties(count: int) -> list[dict[str, object]]:
    return [make_invocation(id=f"a{n:02d}", started_at=T, status="running") for n in range(count)]


async def walk(
    emulator: KernelEmulator, *, limit: int, prefetch: int, strict: bool = False
) -> tuple[list[str], int]:
    async with (
        emulator.client(in_memory=True) as client,
        client.invocations.list(limit=limit, prefetch=prefetch, strict=strict) as listing,
    ):
        got = [invocation.id async for invocation in listing]
    return got, listing.possible_gaps


async def test_r1_a_stale_page_ending_in_a_deleted_tie_repeats_nothing() -> None:
    def delete(emulator: KernelEmulator) -> None:
        for gone in ("a03", "a04", "a06"):
            emulator.remove_invocation(gone)

    # Pages of 3 overlapping by one, 4 in flight: offsets 4 and 6 are answered, then three
    # ties are deleted, then offset 2 (from before the deletion's point of view, stale).
    emulator = KernelEmulator(
        ties(12),
        live=LiveData(script={3: delete}),
        latency=lambda request: 0.05 if request.offset == 2 else 0.0,
    )
    owed = [i["id"] for i in emulator.list_invocations() if i["id"] not in ("a03", "a04", "a06")]
    got, gaps = await walk(emulator, limit=3, prefetch=4)
    assert sorted({i for i in got if got.count(i) > 1}) == []
    assert [i for i in owed if i not in got] == []
    assert gaps == 0


async def test_r2_a_new_tie_sorting_before_delivered_ones_repeats_nothing() -> None:
    def change(emulator: KernelEmulator) -> None:
        emulator.remove_invocation("a02")  # the walk's cursor
        for n in range(3):
            emulator.add_invocation(
                make_invocation(id=f"h{n}", started_at=f"2026-01-01T00:00:0{n + 1}Z")
            )
        emulator.add_invocation(make_invocation(id="a005", started_at=T, status="running"))

    emulator = KernelEmulator(ties(10), live=LiveData(script={1: change}))
    owed = [i["id"] for i in emulator.list_invocations() if i["id"] != "a02"]
    got, _ = await walk(emulator, limit=3, prefetch=1)
    assert sorted({i for i in got if got.count(i) > 1}) == []
    assert [i for i in owed if i not in got] == []


async def test_r3_an_empty_first_page_that_says_there_is_more_loses_nothing() -> None:
    emulator = KernelEmulator(count=30, seed=1)
    # A lagging replica, or a proxy that lost the body: no items, honest headers.
    emulator.script(
        ScriptedResponse(
            status=200, body=b"[]", headers={"X-Has-More": "true", "X-Next-Offset": "10"}
        )
    )
    owed = [i["id"] for i in emulator.list_invocations()]
    for strict in (False, True):
        if strict:
            emulator.script(
                ScriptedResponse(
                    status=200, body=b"[]", headers={"X-Has-More": "true", "X-Next-Offset": "10"}
                )
            )
        got, gaps = await walk(emulator, limit=10, prefetch=4, strict=strict)
        assert got == owed, strict
        assert gaps == 0
