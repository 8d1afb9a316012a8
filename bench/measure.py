"""How the benchmark measures: contestants, the server process, fresh walks, alternation.

bench/run.py names the scenarios; bench/report.py turns the results into tables and targets.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent
CONTESTANTS = HERE / "contestants.py"
SERVER = HERE / "server.py"

PREFETCHES = (1, 2, 4, 8, 16)
PRUNE_AFTER = 3  # rounds before a fixed prefetch that cannot be the best stops
PRUNE_MARGIN = 1.5  # ... when its fastest run is over this much the best one's slowest
THROTTLE_PAUSE = 1.1  # seconds between throttled walks: the emulator counts the last second


@dataclass(frozen=True)
class Contestant:
    """A client program of bench/contestants.py, with its window (``None``: adaptive)."""

    name: str
    prefetch: int | None = None

    @property
    def label(self) -> str:
        if self.name.startswith("kernel-async"):
            window = "adaptive" if self.prefetch is None else f"prefetch {self.prefetch}"
            return f"{self.name} ({window})"
        if self.name == "raw":
            return f"raw aiohttp (window {self.prefetch})"
        if self.name in LAYER_LABELS:
            return f"{LAYER_LABELS[self.name]} (window {self.prefetch})"
        return self.name

    @property
    def fixed(self) -> bool:
        return self.name == "kernel-async" and self.prefetch is not None


# Where (b)'s time goes: raw's walk over each of kernel-async's layers in turn (stdlib json).
LAYER_LABELS = {
    "layer-transport": "kernel-async's transport + json.loads",
    "layer-pages": "kernel-async's page fetch, strict models",
}


ADAPTIVE = Contestant("kernel-async")
ADAPTIVE_STDLIB = Contestant("kernel-async-stdlib")
OFFICIAL = (Contestant("official-httpx"), Contestant("official-aiohttp"))


def fixed(prefetch: int, name: str = "kernel-async") -> Contestant:
    return Contestant(name, prefetch)


def raw(window: int) -> Contestant:
    return Contestant("raw", window)


def layer(name: str, window: int = 8) -> Contestant:
    return Contestant(name, window)


@dataclass
class Result:
    """The runs of one contestant in one scenario."""

    contestant: Contestant
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.median("seconds")

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs)

    def values(self, key: str) -> list[Any]:
        return [run[key] for run in self.runs]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.contestant.label, "runs": self.runs}


Results = dict[Contestant, Result]


class Server:
    """bench/server.py in its own process: the emulator, and the requests it received."""

    def __init__(
        self, count: int, latency: float = 0.0, *, rate_limit: float | None = None, churn: float = 0
    ) -> None:
        self.count = count
        self.churn = churn
        self.throttles = rate_limit is not None
        self._args = [sys.executable, str(SERVER), "--count", str(count)]
        self._args += ["--latency", str(latency), "--churn", str(churn)]
        if rate_limit is not None:
            self._args += ["--rate-limit", str(rate_limit)]
        self._process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> Server:
        self._process = await asyncio.create_subprocess_exec(
            *self._args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.url = (await self._line()).strip()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.close()  # end of stdin: the server stops
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.terminate()
            await self._process.wait()

    async def _line(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server stopped: {' '.join(self._args)}")
        return line.decode()

    async def received(self) -> int:
        """Requests received since the last call."""
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(b"requests\n")
        await self._process.stdin.drain()
        return int(json.loads(await self._line())["requests"])


async def walk(
    contestant: Contestant, server: Server, *, limit: int = 100, memory: bool = False
) -> dict[str, Any]:
    """One walk in a fresh process; ``received``: the requests the server counted.

    A walk that fails is a result against a throttling server (``error`` says why), and a
    broken benchmark anywhere else.
    """
    args = [sys.executable, str(CONTESTANTS), contestant.name, "--url", server.url]
    args += ["--limit", str(limit)]
    if contestant.prefetch is not None:
        args += ["--prefetch", str(contestant.prefetch)]
    if memory:
        args.append("--memory")
    await server.received()  # what came before is not this walk's
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{contestant.label} crashed (exit {process.returncode})")
    run: dict[str, Any] = json.loads(out)
    run["received"] = await server.received()
    if run["error"] is not None:
        if not server.throttles:  # only a throttling server may make a walk give up
            raise RuntimeError(f"{contestant.label} failed: {run['error']}")
        return run
    complete = run["items"] >= server.count if server.churn else run["items"] == server.count
    if not complete:
        raise RuntimeError(f"{contestant.label} walked {run['items']} of {server.count}")
    return run


async def warm_up(server: Server, contestants: Sequence[Contestant]) -> None:
    """One untimed walk of each client program: the server's code paths, the file cache."""
    seen = set()
    for contestant in contestants:
        if contestant.name not in seen:
            seen.add(contestant.name)
            await walk(contestant, server)


async def alternate(
    server: Server,
    contestants: Sequence[Contestant],
    rounds: int,
    *,
    limit: int = 100,
    memory: bool = False,
    prune: bool = False,
    pause: float = 0.0,
) -> Results:
    """Each round runs every contestant once, the order rotated by one each round."""
    results = {c: Result(c) for c in contestants}
    active = list(contestants)
    for number in range(rounds):
        shift = number % len(active)
        for contestant in active[shift:] + active[:shift]:
            if pause:
                await asyncio.sleep(pause)
            run = await walk(contestant, server, limit=limit, memory=memory)
            results[contestant].runs.append(run)
        if prune and number + 1 == PRUNE_AFTER:
            active = [c for c in active if not out_of_contention(c, results)]
    return results


def out_of_contention(contestant: Contestant, results: Results) -> bool:
    """A fixed prefetch so far behind the fastest fixed one that it cannot be the best."""
    if not contestant.fixed:
        return False
    best = min((r for c, r in results.items() if c.fixed), key=lambda r: r.seconds)
    fastest = min(results[contestant].values("seconds"))
    return fastest > PRUNE_MARGIN * max(best.values("seconds"))
