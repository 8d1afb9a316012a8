"""The benchmark: kernel-async against the official SDK and the raw aiohttp floor, in one run.

    nox -s bench            (or: python bench/run.py [--quick] [--write-docs])

The server is the emulator in its own process on 127.0.0.1, and every measurement runs in a
fresh client process (bench/contestants.py), so neither side's CPU or memory leaks into the
other's. Scenarios:

  (a) latency-bound: 5,000 invocations, 20 ms per request
  (b) CPU-bound: 20,000 invocations, no added latency
  (c) memory: peak traced memory and max RSS walking 1,000 vs 100,000 invocations
  (d) import time of kernel_async vs kernel
  (e) a walk while the data changes (invocations starting at the head), by prefetch
  plus walk time against prefetch and latency (the plot in docs/)

Prints tables with medians and ratios, writes bench/results/latest.json and, with
--write-docs, docs/benchmark-results.md and docs/_static/bench-prefetch.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONTESTANTS = HERE / "contestants.py"


@asynccontextmanager
async def emulator(count: int, latency: float, *churn: str) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kernel_async",
        "emulator",
        "--port",
        "0",
        "--count",
        str(count),
        "--latency",
        str(latency),
        "--seed",
        "0",
        *churn,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = (await process.stdout.readline()).decode()
        yield banner.rsplit(" at ", 1)[1].strip()
    finally:
        process.terminate()
        await process.wait()


async def measure(contestant: str, url: str, reps: int, **options: Any) -> dict[str, Any]:
    args = [sys.executable, str(CONTESTANTS), contestant, "--url", url]
    for name, value in options.items():
        if value is True:
            args.append(f"--{name}")
        elif value is not None:
            args += [f"--{name}", str(value)]
    runs = []
    for _ in range(reps):
        process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{contestant} {options} failed")
        runs.append(json.loads(out))
    return {
        "contestant": contestant,
        **options,
        "seconds": statistics.median(r["seconds"] for r in runs),
        "items": runs[0]["items"],
        "requests": statistics.median(r["requests"] or 0 for r in runs) or None,
        "peak_traced": statistics.median((r["peak_traced"] or 0) for r in runs) or None,
        "max_rss_kib": statistics.median(r["max_rss_kib"] for r in runs),
        "runs": [r["seconds"] for r in runs],
    }


def label(row: dict[str, Any]) -> str:
    name = row["contestant"]
    if name.startswith("kernel-async") or name == "raw":
        return f"{name} (prefetch {row['prefetch']})"
    return name


async def walk_scenario(
    count: int, latency: float, reps: int, default_prefetch: int
) -> list[dict[str, Any]]:
    plan: list[tuple[str, int | None]] = [
        ("kernel-async", 1),
        ("kernel-async", 4),
        ("kernel-async", 8),
        ("kernel-async", 16),
        ("kernel-async-stdlib", default_prefetch),
        ("official-httpx", None),
        ("official-aiohttp", None),
        ("raw", 1),
        ("raw", default_prefetch),
    ]
    rows = []
    async with emulator(count, latency) as url:
        await measure("kernel-async", url, 1, prefetch=default_prefetch)  # warm the server
        for contestant, prefetch in plan:
            rows.append(await measure(contestant, url, reps, prefetch=prefetch, limit=100))
    return rows


async def churn_scenario(reps: int) -> list[dict[str, Any]]:
    """(e) a walk while invocations start at the head: one every fourth request, pages of 20."""
    rows = []
    churn = ("--churn", "0.25", "--churn-kinds", "head_insert")
    for prefetch in (1, 8, 16):
        # A fresh server per contestant: each walk meets the same changes from the start.
        async with emulator(2_000, 0.005, *churn) as url:
            rows.append(await measure("kernel-async", url, reps, prefetch=prefetch, limit=20))
    return rows


def ratios(rows: list[dict[str, Any]], default_prefetch: int) -> dict[str, float]:
    by = {label(r): r["seconds"] for r in rows}
    ours = by[f"kernel-async (prefetch {default_prefetch})"]
    official = min(by["official-httpx"], by["official-aiohttp"])
    floor = by[f"raw (prefetch {default_prefetch})"]
    stdlib = by[f"kernel-async-stdlib (prefetch {default_prefetch})"]
    return {"speedup": official / ours, "vs_floor": ours / floor, "stdlib_vs_floor": stdlib / floor}


def table(title: str, rows: list[dict[str, Any]], default_prefetch: int) -> str:
    by = {label(r): r for r in rows}
    official = min(by["official-httpx"]["seconds"], by["official-aiohttp"]["seconds"])
    floor = by[f"raw (prefetch {default_prefetch})"]["seconds"]
    lines = [
        f"**{title}**",
        "",
        "| contestant | median wall time | items/s | vs official (best) | vs raw floor (window "
        f"{default_prefetch}) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        seconds = row["seconds"]
        lines.append(
            f"| {label(row)} | {seconds:.3f} s | {row['items'] / seconds:,.0f} | "
            f"{official / seconds:.1f}x faster | {seconds / floor:.2f}x the time |"
        )
    return "\n".join(lines)


async def memory_scenario(reps: int) -> dict[str, Any]:
    results = {}
    for count in (1_000, 100_000):
        async with emulator(count, 0.0) as url:
            results[count] = await measure("kernel-async", url, reps, prefetch=None, memory=True)
    return results


def import_time(module: str, reps: int) -> float:
    def once(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started

    samples = []
    for _ in range(reps):
        samples.append(once(f"import {module}") - once("pass"))
    return statistics.median(samples)


async def prefetch_grid(reps: int, count: int) -> dict[float, dict[int, float]]:
    grid: dict[float, dict[int, float]] = {}
    for latency in (0.0, 0.005, 0.02, 0.05):
        async with emulator(count, latency) as url:
            grid[latency] = {}
            for prefetch in (1, 2, 4, 8, 16):
                row = await measure("kernel-async", url, reps, prefetch=prefetch, limit=100)
                grid[latency][prefetch] = row["seconds"]
    return grid


def plot(grid: dict[float, dict[int, float]], count: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for latency, times in grid.items():
        axes.plot(
            list(times),
            list(times.values()),
            marker="o",
            label=f"{latency * 1000:g} ms per request",
        )
    axes.set_xscale("log", base=2)
    axes.set_xticks([1, 2, 4, 8, 16], labels=["1", "2", "4", "8", "16"])
    axes.set_xlabel("prefetch (pages in flight)")
    axes.set_ylabel("wall time (s)")
    axes.set_title(f"kernel-async: walking {count:,} invocations (100 per page)")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="kernel-async benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--write-docs", action="store_true", help="update docs/ with the results")
    args = parser.parse_args(argv)
    reps = 2 if args.quick else 5
    sys.path.insert(0, str(ROOT))
    from kernel_async import DEFAULT_PREFETCH

    results: dict[str, Any] = {"machine": machine(), "default_prefetch": DEFAULT_PREFETCH}
    print(f"machine: {results['machine']}; medians of {reps}", flush=True)
    out = []
    a = await walk_scenario(5_000, 0.020, reps, DEFAULT_PREFETCH)
    results["a"] = {"rows": a, "ratios": ratios(a, DEFAULT_PREFETCH)}
    out.append(
        table("(a) latency-bound: 5,000 invocations, 20 ms per request", a, DEFAULT_PREFETCH)
    )
    b = await walk_scenario(20_000, 0.0, reps, DEFAULT_PREFETCH)
    results["b"] = {"rows": b, "ratios": ratios(b, DEFAULT_PREFETCH)}
    out.append(table("(b) CPU-bound: 20,000 invocations, no added latency", b, DEFAULT_PREFETCH))

    minimum = 5_000 // 100
    requests = {label(r): r["requests"] for r in a if r["requests"]}
    out.append(
        "**Page requests in (a)** (a walk without overlap needs at least "
        f"{minimum}; each page after the first overlaps the one before by one invocation, "
        "and speculation past the end costs up to a window)\n\n"
        "| contestant | requests |\n| --- | ---: |\n"
        + "\n".join(f"| {name} | {count:.0f} |" for name, count in requests.items())
    )
    e = await churn_scenario(reps)
    results["e"] = {"rows": e}
    sequential = next(r for r in e if r["prefetch"] == 1)
    out.append(
        "**(e) churn: 2,000 invocations, pages of 20, 5 ms per request, an invocation "
        "started at the head every fourth request**\n\n"
        "| contestant | median wall time | requests | vs prefetch 1 |\n"
        "| --- | ---: | ---: | ---: |\n"
        + "\n".join(
            f"| {label(r)} | {r['seconds']:.3f} s | {r['requests']:.0f} | "
            f"{sequential['seconds'] / r['seconds']:.1f}x faster |"
            for r in e
        )
    )

    memory = await memory_scenario(max(2, reps // 2))
    small, large = memory[1_000], memory[100_000]
    results["c"] = {
        "1000": small,
        "100000": large,
        "ratio": large["peak_traced"] / small["peak_traced"],
    }

    def memory_row(count: int, row: dict[str, Any]) -> str:
        traced, rss = row["peak_traced"] / 2**20, row["max_rss_kib"] / 1024
        return f"| {count:,} | {traced:.2f} MiB | {rss:.1f} MiB |"

    out.append(
        "**(c) memory: kernel-async at its defaults**\n\n"
        "| invocations | peak traced memory | max RSS |\n| ---: | ---: | ---: |\n"
        f"{memory_row(1_000, small)}\n{memory_row(100_000, large)}\n\n"
        f"100,000 / 1,000 peak traced memory: {results['c']['ratio']:.2f}x"
    )
    ours, theirs = import_time("kernel_async", reps * 3), import_time("kernel", reps * 3)
    results["d"] = {"kernel_async": ours, "kernel": theirs, "ratio": ours / theirs}
    out.append(
        "**(d) import time** (median, interpreter start-up subtracted)\n\n"
        "| module | import time |\n| --- | ---: |\n"
        f"| `kernel_async` | {ours * 1000:.0f} ms |\n| `kernel` | {theirs * 1000:.0f} ms |\n\n"
        f"`kernel_async` / `kernel`: {ours / theirs:.2f}x"
    )
    grid_count = 2_000
    grid = await prefetch_grid(max(2, reps // 2), grid_count)
    results["grid"] = {str(k): v for k, v in grid.items()}
    out.append(
        f"**Walk time against prefetch and latency** ({grid_count:,} invocations)\n\n"
        "| latency | " + " | ".join(f"prefetch {p}" for p in (1, 2, 4, 8, 16)) + " |\n"
        "| ---: | "
        + " | ".join("---:" for _ in range(5))
        + " |\n"
        + "\n".join(
            f"| {lat * 1000:g} ms | " + " | ".join(f"{t:.3f} s" for t in times.values()) + " |"
            for lat, times in grid.items()
        )
    )
    ra, rb = results["a"]["ratios"], results["b"]["ratios"]
    summary = [
        "**Ratios** (official: the faster of its two transports; floor: raw aiohttp with the "
        "same window)",
        "",
        f"- (a) kernel-async is {ra['speedup']:.1f}x faster than the official SDK and takes "
        f"{ra['vs_floor']:.2f}x the floor's time",
        f"- (b) kernel-async is {rb['speedup']:.1f}x faster than the official SDK and takes "
        f"{rb['vs_floor']:.2f}x the floor's time ({rb['stdlib_vs_floor']:.2f}x with stdlib json)",
        f"- (c) peak traced memory, 100,000 / 1,000 invocations: {results['c']['ratio']:.2f}x",
        f"- (d) import time, kernel_async / kernel: {results['d']['ratio']:.2f}x",
    ]
    out.append("\n".join(summary))
    report = f"Machine: {results['machine']}. Medians of {reps} runs.\n\n" + "\n\n".join(out) + "\n"
    print(report)
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "latest.json").write_text(json.dumps(results, indent=2))
    if args.write_docs:
        (ROOT / "docs" / "benchmark-results.md").write_text(report)
        plot(grid, grid_count, ROOT / "docs" / "_static" / "bench-prefetch.png")


if __name__ == "__main__":
    asyncio.run(main())
