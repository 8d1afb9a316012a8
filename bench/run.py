"""The benchmark: kernel-async against the official SDK and the raw aiohttp floor, in one run.

    nox -s bench            (or: python bench/run.py [--quick] [--only a,b] [--write-docs])

Method (docs/benchmarks.md says it for readers):

* the server is the project's emulator in a process of its own (bench/server.py), one per
  scenario, warmed up by one untimed walk of each client program; it counts the requests it
  receives, 429s included;
* every walk is a fresh client process (bench/contestants.py); the contestants alternate,
  one run each per round, the order rotated each round, and each figure is the median of
  the rounds (7; 5 for memory and churn; 21 for start-up);
* in the prefetch x latency grid, a fixed prefetch whose fastest of its first 3 runs is over
  1.5x the slowest run of the fastest fixed prefetch stops there: it cannot be the best
  fixed prefetch, which is all the grid's target asks of it. The adaptive default and every
  fixed prefetch still in contention run all rounds.

Scenarios: the grid (0, 5, 20, 50, 100 ms x 2,000 and 20,000 invocations), (a) latency-bound,
(b) CPU-bound, (c) memory, (d) start-up, (e) churn, (g) a throttling server. Prints the
tables with each target and PASS/FAIL, writes bench/results/latest.json and, with
--write-docs, docs/benchmark-results.md and docs/_static/bench-prefetch.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import report
import startup as startup_module
from measure import (
    ADAPTIVE,
    ADAPTIVE_STDLIB,
    OFFICIAL,
    PREFETCHES,
    THROTTLE_PAUSE,
    Result,
    Results,
    Server,
    alternate,
    fixed,
    layer,
    raw,
    walk,
    warm_up,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LATENCIES = (0.0, 0.005, 0.020, 0.050, 0.100)
GRID_COUNTS = (2_000, 20_000)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def grid(counts: Sequence[int], latencies: Sequence[float], rounds: int) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    contestants = [*(fixed(p) for p in PREFETCHES), ADAPTIVE]
    for count in counts:
        for latency in latencies:
            started = time.perf_counter()
            async with Server(count, latency) as server:
                await warm_up(server, [ADAPTIVE])
                results = await alternate(server, contestants, rounds, prune=True)
            cells[f"{count}@{latency}"] = {"count": count, "latency": latency, "results": results}
            log(f"grid {count:,} @ {latency * 1000:g} ms: {time.perf_counter() - started:.0f} s")
    return cells


async def latency_bound(rounds: int) -> Results:
    """(a) 5,000 invocations at 20 ms per request."""
    contestants = [
        ADAPTIVE,
        fixed(8),
        fixed(16),
        ADAPTIVE_STDLIB,
        raw(8),
        raw(16),
        *OFFICIAL,
    ]
    async with Server(5_000, 0.020) as server:
        await warm_up(server, contestants)
        return await alternate(server, contestants, rounds)


async def cpu_bound(rounds: int) -> Results:
    """(b) 20,000 invocations, no added latency."""
    contestants = [
        ADAPTIVE,
        ADAPTIVE_STDLIB,
        fixed(4),
        fixed(8),
        fixed(4, "kernel-async-stdlib"),
        fixed(8, "kernel-async-stdlib"),
        raw(4),
        raw(8),
        layer("layer-transport"),
        layer("layer-pages"),
        *OFFICIAL,
    ]
    async with Server(20_000) as server:
        await warm_up(server, contestants)
        return await alternate(server, contestants, rounds)


async def throttled(rounds: int) -> Results:
    """(g) 5,000 invocations, pages of 100, the server answering 20 requests a second."""
    contestants = [fixed(1), ADAPTIVE, fixed(8)]
    async with Server(5_000, rate_limit=20) as server:
        await asyncio.sleep(THROTTLE_PAUSE)
        await warm_up(server, [ADAPTIVE])
        return await alternate(server, contestants, rounds, pause=THROTTLE_PAUSE)


async def churn(rounds: int) -> Results:
    """(e) 2,000 invocations, pages of 20, 5 ms, an invocation started every 4th response.

    A fresh server for every walk: each meets the same data and the same changes.
    """
    contestants = [fixed(1), fixed(8), fixed(16), ADAPTIVE]
    results = {c: Result(c) for c in contestants}
    for number in range(rounds):
        shift = number % len(contestants)
        for contestant in contestants[shift:] + contestants[:shift]:
            async with Server(2_000, 0.005, churn=0.25) as server:
                results[contestant].runs.append(await walk(contestant, server, limit=20))
    return results


async def memory(rounds: int) -> dict[int, Result]:
    """(c) peak traced memory of the adaptive default, 1,000 against 100,000 invocations."""
    results = {count: Result(ADAPTIVE) for count in (1_000, 100_000)}
    async with Server(1_000) as small, Server(100_000) as large:
        servers = {1_000: small, 100_000: large}
        for server in servers.values():
            await warm_up(server, [ADAPTIVE])
        for number in range(rounds):
            for count in sorted(servers, reverse=bool(number % 2)):
                run = await walk(ADAPTIVE, servers[count], memory=True)
                results[count].runs.append(run)
    return results


def startup(rounds: int) -> dict[str, list[float]]:
    """(d) whole processes, as a user starts them: wall time from spawn to exit.

    The cases and the bytecode step are bench/startup.py's (also runnable on its own).
    """
    startup_module.compile_bytecode()
    cases = dict(startup_module.CASES)
    for args in cases.values():  # the file cache warm, as a user's is
        startup_module.run_once(args)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(startup_module.run_once(cases[name]))
    return samples


SCENARIOS = ("grid", "a", "b", "g", "e", "c", "d")


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="kernel-async benchmarks")
    parser.add_argument("--quick", action="store_true", help="a fast pass for development")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--write-docs", action="store_true", help="update docs/ with the results")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    if unknown := set(only) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.write_docs and set(only) != set(SCENARIOS):
        parser.error("--write-docs needs every scenario (no --only)")
    rounds = 2 if args.quick else 7
    few = 2 if args.quick else 5
    counts, latencies = ((2_000,), (0.0, 0.020)) if args.quick else (GRID_COUNTS, LATENCIES)
    started = time.perf_counter()
    out: dict[str, Any] = {"machine": report.machine(), "quick": args.quick, "rounds": rounds}
    log(f"machine: {out['machine']}")
    # The load average tells whether someone else shared the machine's cores meanwhile.
    out["load_at_start"] = os.getloadavg()[0]
    timings: dict[str, tuple[float, float]] = {}

    async def timed(name: str, coroutine: Any) -> Any:
        began = time.perf_counter()
        result = await coroutine
        timings[name] = (time.perf_counter() - began, os.getloadavg()[0])
        log(f"scenario {name}: {timings[name][0]:.0f} s, load average {timings[name][1]:.2f}")
        return result

    if "grid" in only:
        out["grid"] = await timed("grid", grid(counts, latencies, rounds))
    if "a" in only:
        out["a"] = await timed("a", latency_bound(rounds))
    if "b" in only:
        out["b"] = await timed("b", cpu_bound(rounds))
    if "g" in only:
        out["g"] = await timed("g", throttled(few if args.quick else rounds))
    if "e" in only:
        out["e"] = await timed("e", churn(few))
    if "c" in only:
        out["c"] = await timed("c", memory(few))
    if "d" in only:
        out["d"] = await timed("d", asyncio.to_thread(startup, 5 if args.quick else 21))
    out["timings"] = timings
    out["total_seconds"] = time.perf_counter() - started
    page = report.render(out)
    print(page)
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "latest.json").write_text(json.dumps(report.to_json(out), indent=1))
    if args.write_docs:
        (ROOT / "docs" / "benchmark-results.md").write_text(page)
        report.plot(out["grid"], ROOT / "docs" / "_static" / "bench-prefetch.png")
        log("wrote docs/benchmark-results.md and docs/_static/bench-prefetch.png")


if __name__ == "__main__":
    asyncio.run(main())
