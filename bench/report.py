"""The benchmark's tables, targets (PASS/FAIL), JSON and plot, from bench/run.py's results."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import (
    ADAPTIVE,
    ADAPTIVE_STDLIB,
    OFFICIAL,
    PREFETCHES,
    PRUNE_AFTER,
    PRUNE_MARGIN,
    Result,
    Results,
    fixed,
    layer,
    raw,
)

GRID_TARGET = 1.1
SPEEDUP_TARGET = 12.0
STDLIB_FLOOR_TARGET = 1.5
FAST_FLOOR_TARGET = 1.2
THROTTLE_TARGET = 1.10
HELP_TARGET = 0.1
IMPORT_TARGET = 0.020


@dataclass
class Target:
    what: str
    measured: str
    ok: bool

    def row(self) -> str:
        return f"| {self.what} | {self.measured} | {'PASS' if self.ok else '**FAIL**'} |"


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


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def spread(result: Result) -> str:
    times = result.values("seconds")
    return f"{min(times):.3f}-{max(times):.3f}"


def latency_label(latency: float) -> str:
    return f"{latency * 1000:g} ms"


def table(header: Iterable[str], rows: Iterable[Iterable[Any]], *, left: int = 1) -> str:
    header = list(header)
    align = ["---"] * left + ["---:"] * (len(header) - left)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def best_fixed(results: Results) -> Result:
    return min((r for c, r in results.items() if c.fixed), key=lambda r: r.seconds)


def past_the_end(result: Result) -> tuple[int, bool]:
    """The worst run's wasted requests minus its final window, and whether every run kept to it."""
    margins = [run["wasted"] - run["window"] for run in result.runs]
    return max(margins), all(margin <= 0 for margin in margins)


# -- sections ------------------------------------------------------------------------------


def grid_section(cells: Mapping[str, Any], targets: list[Target]) -> str:
    parts = []
    worst: tuple[float, str] = (0.0, "")
    for count in sorted({cell["count"] for cell in cells.values()}):
        rows = []
        for cell in cells.values():
            if cell["count"] != count:
                continue
            results: Results = cell["results"]
            best, adaptive = best_fixed(results), results[ADAPTIVE]
            ratio = adaptive.seconds / best.seconds
            name = f"{count:,} @ {latency_label(cell['latency'])}"
            worst = max(worst, (ratio, name))
            times = []
            for prefetch in PREFETCHES:
                result = results[fixed(prefetch)]
                mark = "†" if len(result.runs) < len(adaptive.runs) else ""
                bold = "**" if result is best else ""
                times.append(f"{bold}{seconds(result.seconds)}{bold}{mark}")
            windows = f"{adaptive.median('peak_window'):g} / {adaptive.median('window'):g}"
            verdict = "PASS" if ratio <= GRID_TARGET else "**FAIL**"
            rows.append(
                [
                    latency_label(cell["latency"]),
                    *times,
                    seconds(adaptive.seconds),
                    f"{ratio:.2f}x",
                    verdict,
                    windows,
                ]
            )
        header = ["latency", *(f"prefetch {p}" for p in PREFETCHES), "adaptive"]
        header += [
            "adaptive / best fixed",
            f"target <= {GRID_TARGET}x",
            "adaptive window peak / final",
        ]
        parts.append(f"**{count:,} invocations**\n\n" + table(header, rows))
    ok = all(
        cell["results"][ADAPTIVE].seconds / best_fixed(cell["results"]).seconds <= GRID_TARGET
        for cell in cells.values()
    )
    targets.append(
        Target(
            f"grid: adaptive <= {GRID_TARGET}x the best fixed prefetch 1-16, every cell",
            f"worst {worst[0]:.2f}x ({worst[1]})",
            ok,
        )
    )
    note = (
        "Median wall time of the walk; the fastest fixed prefetch of each row in bold. "
        f"† fewer runs: a fixed prefetch whose fastest of its first {PRUNE_AFTER} runs was over "
        f"{PRUNE_MARGIN}x the slowest run of the fastest fixed prefetch stopped there (it "
        "cannot be the best); every other cell has the full number of runs."
    )
    return "### Prefetch x latency grid\n\n" + note + "\n\n" + "\n\n".join(parts)


def past_the_end_section(cells: Mapping[str, Any], a: Results, targets: list[Target]) -> str:
    walks = [("(a) 5,000 @ 20 ms", a[ADAPTIVE])]
    walks += [
        (f"grid {cell['count']:,} @ {latency_label(cell['latency'])}", cell["results"][ADAPTIVE])
        for cell in cells.values()
    ]
    rows, ok, worst = [], True, None
    for name, result in walks:
        margin, kept = past_the_end(result)
        ok = ok and kept
        worst = margin if worst is None else max(worst, margin)
        rows.append(
            [
                name,
                f"{result.median('received'):.0f}",
                f"{result.median('wasted'):g} ({max(result.values('wasted'))})",
                f"{result.median('window'):g}",
                f"{margin:+d}",
                "PASS" if kept else "**FAIL**",
            ]
        )
    targets.append(
        Target(
            "requests past the end (adaptive): at most the final window",
            f"worst run: wasted - final window = {worst:+d}",
            ok,
        )
    )
    header = [
        "adaptive walk",
        "requests received (median)",
        "wasted: median (max)",
        "final window (median)",
        "worst run: wasted - final window",
        "target <= 0",
    ]
    note = (
        "`listing.stats.wasted` counts the requests whose pages the walk did not use: on data "
        "that does not change, the pages past the end. `stats.window` is the window the walk "
        "ended with. Requests received are the server's count."
    )
    return "### Requests past the end\n\n" + note + "\n\n" + table(header, rows)


def latency_section(results: Results, targets: list[Target]) -> str:
    official = min(results[c].seconds for c in OFFICIAL)
    floor = results[raw(8)].seconds
    ours = results[ADAPTIVE].seconds
    rows = [
        [
            r.contestant.label,
            seconds(r.seconds),
            spread(r),
            f"{r.runs[0]['items'] / r.seconds:,.0f}",
            f"{r.median('received'):.0f}",
            f"{official / r.seconds:.1f}x",
            f"{r.seconds / floor:.2f}x",
        ]
        for r in results.values()
    ]
    header = ["contestant", "median wall time", "runs (min-max)", "items/s", "requests received"]
    header += ["official (faster) / this", "this / raw window 8"]
    targets.append(
        Target(
            f"(a) latency-bound: >= {SPEEDUP_TARGET:g}x faster than the official SDK "
            "(its faster transport)",
            f"{official / ours:.1f}x",
            official / ours >= SPEEDUP_TARGET,
        )
    )
    targets.append(
        Target(
            "(a) latency-bound: no slower than raw aiohttp, window 8 (ratio <= 1.0)",
            f"{ours / floor:.2f}x",
            ours <= floor,
        )
    )
    peak = results[ADAPTIVE].median("peak_window")
    return (
        "### (a) Latency-bound: 5,000 invocations, 20 ms per request\n\n"
        + table(header, rows)
        + f"\n\nThe adaptive walk's peak window: {peak:g} (median). Every contestant counts "
        "the invocations as they arrive and keeps none."
    )


def cpu_section(results: Results, targets: list[Target]) -> str:
    floors = {window: results[raw(window)] for window in (4, 8)}
    window, floor = min(floors.items(), key=lambda item: item[1].seconds)
    official = min(results[c].seconds for c in OFFICIAL)

    def same_window(result: Result) -> str:
        prefetch = result.contestant.prefetch
        if result.contestant.name == "raw" or prefetch not in floors:
            return ""
        return f"{result.seconds / floors[prefetch].seconds:.2f}x"

    rows = [
        [
            r.contestant.label,
            seconds(r.seconds),
            spread(r),
            f"{r.runs[0]['items'] / r.seconds:,.0f}",
            f"{r.seconds / floor.seconds:.2f}x",
            same_window(r),
            f"{official / r.seconds:.1f}x",
        ]
        for r in results.values()
    ]
    header = ["contestant", "median wall time", "runs (min-max)", "items/s"]
    header.append(f"this / floor (window {window})")
    header += ["this / raw at the same window", "official (faster) / this"]
    stdlib = results[ADAPTIVE_STDLIB].seconds / floor.seconds
    fast = results[ADAPTIVE].seconds / floor.seconds
    targets.append(
        Target(
            f"(b) CPU-bound, stdlib json: <= {STDLIB_FLOOR_TARGET}x the raw floor",
            f"{stdlib:.2f}x",
            stdlib <= STDLIB_FLOOR_TARGET,
        )
    )
    targets.append(
        Target(
            f"(b) CPU-bound, with the `fast` extra: <= {FAST_FLOOR_TARGET}x the stdlib floor",
            f"{fast:.2f}x",
            fast <= FAST_FLOOR_TARGET,
        )
    )
    peaks = ", ".join(
        f"{results[c].median('peak_window'):g} ({c.label})" for c in (ADAPTIVE, ADAPTIVE_STDLIB)
    )
    return (
        "### (b) CPU-bound: 20,000 invocations, no added latency\n\n"
        + table(header, rows)
        + f"\n\n**The floor** is raw aiohttp with stdlib `json.loads` into dicts at window "
        f"{window}: the faster of windows 4 and 8 (a stricter floor than either alone). The "
        f"adaptive walks' peak windows (median): {peaks}. Same work shape on every side: the "
        "invocations are counted as they arrive and none is kept." + layers_section(results)
    )


def layers_section(results: Results) -> str:
    """Where (b)'s time goes: each layer of kernel-async added in turn, stdlib json throughout."""
    steps = [
        (raw(8), "the floor: aiohttp, `json.loads` into dicts"),
        (layer("layer-transport"), "+ kernel-async's transport (connection slots, size cap)"),
        (layer("layer-pages"), "+ the page fetch: retries, page headers, strict models"),
        (fixed(8, "kernel-async-stdlib"), "+ the listing: continuity checks, resume, `async for`"),
        (ADAPTIVE_STDLIB, "+ the adaptive window instead of a fixed 8"),
    ]
    if any(contestant not in results for contestant, _ in steps):
        return ""
    floor = results[raw(8)].seconds
    rows, before = [], None
    for contestant, what in steps:
        took = results[contestant].seconds
        added = "" if before is None else f"{(took - before) * 1000:+.1f} ms"
        rows.append([what, seconds(took), added, f"{took / floor:.2f}x"])
        before = took
    header = ["layer", "median wall time", "added", "this / raw window 8"]
    return (
        "\n\n**Where the time goes.** Raw's own walk (window 8) over each layer of "
        "kernel-async in turn, stdlib `json` throughout, measured in the same run:\n\n"
        + table(header, rows)
    )


def throttle_section(results: Results, targets: list[Target]) -> str:
    sequential, adaptive = results[fixed(1)], results[ADAPTIVE]

    def finished(result: Result) -> int:
        return sum(1 for run in result.runs if run["error"] is None)

    rows = []
    for r in results.values():
        received = r.values("received")
        errors = sorted({run["error"].split(":")[0] for run in r.runs if run["error"]})
        rows.append(
            [
                r.contestant.label,
                f"{finished(r)} of {len(r.runs)}" + (f" ({', '.join(errors)})" if errors else ""),
                f"{r.median('received'):.0f} ({min(received)}-{max(received)})",
                f"{r.median('pushbacks'):.0f}",
                f"{r.median('received') / sequential.median('received'):.2f}x",
                seconds(r.seconds),
            ]
        )
    header = ["contestant", "finished", "requests received: median (min-max)", "429s (median)"]
    header += ["requests / prefetch 1's", "median wall time"]
    all_finished = finished(adaptive) == len(adaptive.runs)
    targets.append(
        Target(
            "(g) throttling server: the adaptive walk finishes with the default retry budget",
            f"{finished(adaptive)} of {len(adaptive.runs)} runs",
            all_finished,
        )
    )
    ratio = adaptive.median("received") / sequential.median("received")
    targets.append(
        Target(
            f"(g) throttling server: requests <= {THROTTLE_TARGET:.2f}x prefetch 1's",
            f"{ratio:.2f}x ({adaptive.median('received'):.0f} / "
            f"{sequential.median('received'):.0f})",
            ratio <= THROTTLE_TARGET,
        )
    )
    return (
        "### (g) A throttling server: 5,000 invocations, pages of 100, 20 requests a second\n\n"
        "The emulator answers at most 20 requests in any second and the rest 429 with "
        "`Retry-After` (whole seconds); no added latency. Requests are counted by the server: "
        "every request it received, 429s included. The clients retry with their defaults "
        f"(`RetryPolicy()`: 2 retries a request). {THROTTLE_PAUSE_TEXT}\n\n" + table(header, rows)
    )


THROTTLE_PAUSE_TEXT = "Each walk starts after 1.1 s of quiet, so none inherits another's limit."


def churn_section(results: Results) -> str:
    sequential = results[fixed(1)].seconds
    rows = [
        [
            r.contestant.label,
            seconds(r.seconds),
            f"{r.median('received'):.0f}",
            f"{r.median('bridges'):.0f}",
            f"{r.median('wasted'):.0f}",
            f"{sequential / r.seconds:.1f}x",
        ]
        for r in results.values()
    ]
    header = ["contestant", "median wall time", "requests received", "bridges", "wasted"]
    header.append("prefetch 1 / this")
    return (
        "### (e) Churn: 2,000 invocations, pages of 20, 5 ms per request, an invocation "
        "started at the head every fourth response\n\n"
        "A fresh server for every walk, so each meets the same data and the same changes.\n\n"
        + table(header, rows)
    )


def memory_section(results: Mapping[int, Result]) -> str:
    rows = [
        [
            f"{count:,}",
            f"{r.median('peak_traced') / 2**20:.2f} MiB",
            f"{r.median('max_rss_kib') / 1024:.1f} MiB",
        ]
        for count, r in results.items()
    ]
    small, large = results[1_000], results[100_000]
    ratio = large.median("peak_traced") / small.median("peak_traced")
    return (
        "### (c) Memory: the adaptive default, 1,000 against 100,000 invocations\n\n"
        + table(["invocations", "peak traced memory", "max RSS"], rows)
        + f"\n\n100,000 / 1,000 peak traced memory: {ratio:.2f}x."
    )


def startup_section(samples: Mapping[str, list[float]], targets: list[Target]) -> str:
    median = {name: statistics.median(values) for name, values in samples.items()}
    interpreter = median["python -c pass"]
    rows = [
        [f"`{name}`", ms(value), ms(value - interpreter) if name != "python -c pass" else ""]
        for name, value in median.items()
    ]
    for command in ("kernel-async --help", "kernel-async invocations list --help"):
        targets.append(
            Target(
                f"(d) `{command}` answers in <= {HELP_TARGET:g} s (whole process)",
                f"{median[command]:.3f} s",
                median[command] <= HELP_TARGET,
            )
        )
    # `import kernel_async` alone loads its public names on first use: what a program that
    # uses the client pays is `from kernel_async import AsyncKernel`.
    client = "from kernel_async import AsyncKernel"
    delta = median[client] - median["import aiohttp"]
    targets.append(
        Target(
            f"(d) `{client}` costs <= {ms(IMPORT_TARGET)} more than `import aiohttp`",
            f"{'+' if delta >= 0 else ''}{ms(delta)}",
            delta <= IMPORT_TARGET,
        )
    )
    ratio = (median[client] - interpreter) / (median["import kernel"] - interpreter)
    runs = len(next(iter(samples.values())))
    return (
        "### (d) Start-up: whole processes\n\n"
        f"Wall time from spawn to exit, median of {runs} alternating runs each; "
        "`import X` is `python -c 'import X'`. The `--help` targets use the whole wall "
        "time, as a user feels it.\n\n"
        + table(["command", "median wall time", "minus interpreter start-up"], rows)
        + f"\n\n`{client}` / `import kernel` (interpreter start-up subtracted): "
        f"{ratio:.2f}x."
    )


# -- the page ------------------------------------------------------------------------------


def render(out: Mapping[str, Any]) -> str:
    targets: list[Target] = []
    sections = []
    if "grid" in out:
        sections.append(grid_section(out["grid"], targets))
    if "a" in out:
        sections.append(latency_section(out["a"], targets))
    if "grid" in out and "a" in out:
        sections.append(past_the_end_section(out["grid"], out["a"], targets))
    if "b" in out:
        sections.append(cpu_section(out["b"], targets))
    if "g" in out:
        sections.append(throttle_section(out["g"], targets))
    if "d" in out:
        sections.append(startup_section(out["d"], targets))
    if "c" in out:
        sections.append(memory_section(out["c"]))
    if "e" in out:
        sections.append(churn_section(out["e"]))
    timings = table(
        ["scenario", "time", "load average (1 min) at its end"],
        [[name, f"{value:.0f} s", f"{load:.2f}"] for name, (value, load) in out["timings"].items()]
        + [["**total**", f"**{out['total_seconds'] / 60:.1f} min**", ""]],
    )
    sections.append(
        "### Run time\n\n"
        + timings
        + f"\n\nLoad average (1 min) at the start: {out['load_at_start']:.2f}, on "
        f"{os.cpu_count()} cores: a load above what the benchmark itself puts on the machine "
        "(the server and one client, about 1-2) means someone else shared the cores and the "
        "absolute times are slower than the machine is; the alternation keeps the ratios "
        "fairer than the times."
    )
    passed = sum(target.ok for target in targets)
    header = [
        "<!-- Written by `nox -s bench -- --write-docs` (bench/run.py); do not edit. -->",
        "",
        f"Machine: {out['machine']}. One run of `nox -s bench`, "
        f"{out['total_seconds'] / 60:.1f} minutes in all. Each figure is the median of "
        f"{out['rounds']} fresh client processes per contestant, the contestants alternating "
        "(5 for memory and churn, 21 for start-up).",
    ]
    if out["quick"]:
        header.append("\n**Quick run (`--quick`): development figures, not the published ones.**")
    summary = "\n".join(
        ["| target | measured | |", "| --- | --- | --- |", *(t.row() for t in targets)]
    )
    return (
        "\n".join(header)
        + f"\n\n### Targets: {passed} of {len(targets)} met\n\n"
        + summary
        + "\n\n"
        + "\n\n".join(sections)
        + "\n"
    )


def to_json(out: Mapping[str, Any]) -> dict[str, Any]:
    def results(value: Any) -> Any:
        if isinstance(value, Result):
            return value.to_json()
        if isinstance(value, dict):
            return {
                (key.label if hasattr(key, "label") else str(key)): results(item)
                for key, item in value.items()
            }
        return value

    return results(dict(out))


def plot(cells: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    counts = sorted({cell["count"] for cell in cells.values()})
    figure, panels = plt.subplots(1, len(counts), figsize=(6 * len(counts), 4.6), dpi=110)
    panels = panels if len(counts) > 1 else [panels]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for panel, count in zip(panels, counts, strict=True):
        latencies = sorted(cell["latency"] for cell in cells.values() if cell["count"] == count)
        for colour, latency in zip(colours, latencies, strict=False):
            results: Results = cells[f"{count}@{latency}"]["results"]
            times = [results[fixed(p)].seconds for p in PREFETCHES]
            panel.plot(PREFETCHES, times, marker="o", color=colour, label=latency_label(latency))
            adaptive = results[ADAPTIVE]
            panel.axhline(adaptive.seconds, color=colour, linestyle="--", linewidth=1, alpha=0.7)
            panel.plot(
                [adaptive.median("peak_window")],
                [adaptive.seconds],
                marker="*",
                markersize=14,
                color=colour,
                markeredgecolor="black",
                linestyle="none",
            )
        panel.set_xscale("log", base=2)
        panel.set_yscale("log")
        panel.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        panel.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        panel.yaxis.set_minor_formatter(NullFormatter())
        panel.set_xticks(PREFETCHES, labels=[str(p) for p in PREFETCHES])
        panel.set_xlabel("fixed prefetch (pages in flight)")
        panel.set_ylabel("median wall time (s)")
        panel.set_title(f"{count:,} invocations, 100 per page")
        panel.grid(True, which="both", alpha=0.3)
    handles, labels = panels[0].get_legend_handles_labels()
    star = plt.Line2D([], [], marker="*", markersize=12, color="grey", markeredgecolor="black")
    star.set_linestyle("--")
    panels[0].legend(
        [*handles, star],
        [*(f"{label} per request" for label in labels), "adaptive default (at its peak window)"],
        fontsize=8,
    )
    figure.suptitle("Fixed prefetch (lines) and the adaptive default (star, dashed: its time)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
