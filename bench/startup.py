"""Start-up as users feel it: whole processes, interpreter start-up subtracted.

    python bench/startup.py [--runs 21] [--json]

Each case is a fresh process, run ``--runs`` times; the cases take turns, so a busy machine
slows them alike. Medians are printed, and for the imports the median less that of
``python -c pass`` (the interpreter's own start-up). ``-X importtime`` shows where the time
goes within one import; this shows what a user waits for.

Cases:
  python -c pass                         the interpreter alone
  import aiohttp                         the HTTP library kernel-async is built on
  import kernel_async                    the package itself (its names load on first use)
  from kernel_async import AsyncKernel   what a program that uses the client loads
  import kernel                          the official SDK, when installed
  kernel-async --help                    the command line's help, and a subcommand's
  kernel-async invocations list --help
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

CASES: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "import aiohttp": ["-c", "import aiohttp"],
    "import kernel_async": ["-c", "import kernel_async"],
    "from kernel_async import AsyncKernel": ["-c", "from kernel_async import AsyncKernel"],
    "import kernel": ["-c", "import kernel"],
    "kernel-async --help": ["kernel-async", "--help"],
    "kernel-async invocations list --help": ["kernel-async", "invocations", "list", "--help"],
}


def compile_bytecode() -> None:
    """Compile what the cases import, as an install leaves it for a user.

    pip compiles a package's bytecode when it installs it (uv does not, by default), and an
    editable install's is written on first import. Under PYTHONDONTWRITEBYTECODE=1 (some CI
    images set it) neither happens, and every start would compile from source.
    """
    for path in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        compileall.compile_dir(path, quiet=1)
    kernel_async = importlib.util.find_spec("kernel_async")
    assert kernel_async is not None
    for location in kernel_async.submodule_search_locations or ():
        compileall.compile_dir(location, quiet=1)


def run_once(args: list[str]) -> float:
    """The wall time of one process: ``python ARGS``, or the installed ``kernel-async`` script."""
    if args[0] == "kernel-async":  # the script pip installs, as a user runs it
        command = [str(Path(sys.executable).parent / "kernel-async"), *args[1:]]
    else:
        command = [sys.executable, *args]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args()
    cases = dict(CASES)
    if importlib.util.find_spec("kernel") is None:
        del cases["import kernel"]
    compile_bytecode()
    for args in cases.values():  # warm the file cache
        run_once(args)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.runs):
        for name, args in cases.items():
            times[name].append(run_once(args))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    base = medians["python -c pass"]
    if options.json:
        print(json.dumps({"runs": options.runs, "median_seconds": medians}, indent=2))
        return
    print(f"{'case':40} {'median':>9} {'- python':>9}   ({options.runs} runs each)")
    for name, median in medians.items():
        print(f"{name:40} {median * 1000:7.1f}ms {(median - base) * 1000:7.1f}ms")
    if "import kernel" in medians:
        ours = medians["from kernel_async import AsyncKernel"] - base
        theirs = medians["import kernel"] - base
        print(f"\nkernel_async (AsyncKernel) / kernel, start-up subtracted: {ours / theirs:.2f}x")
    extra = medians["from kernel_async import AsyncKernel"] - medians["import aiohttp"]
    print(f"kernel_async (AsyncKernel) over aiohttp alone: {extra * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
