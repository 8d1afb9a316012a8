"""The benchmark's server: the project's emulator in a process of its own, counting requests.

    python bench/server.py --count N [--latency S] [--rate-limit RPS] [--churn RATE]

It serves what ``kernel-async emulator`` serves (the same :class:`KernelEmulator`, seeded
data, loopback only), prints its URL on the first line, then answers on stdin: each line
``requests`` is answered with one JSON line, the requests received since the last such line
(every one, 429s included: the server's count, not the client's) and the most that were in
flight at once. It stops at the end of stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from kernel_async.testing import Churn, KernelEmulator, LiveData


async def serve(args: argparse.Namespace) -> None:
    live = None
    if args.churn:
        live = LiveData(seed=0, rate=args.churn, kinds={Churn.HEAD_INSERT: 1.0})
    emulator = KernelEmulator(
        count=args.count,
        seed=0,
        latency=args.latency,
        rate_limit=args.rate_limit,
        live=live,
    )
    await emulator.start()
    try:
        print(emulator.url, flush=True)
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            if line.strip() == b"requests":
                report = {
                    "requests": len(emulator.requests),
                    "max_in_flight": emulator.max_in_flight,
                }
                emulator.requests.clear()
                emulator.max_in_flight = 0
                print(json.dumps(report), flush=True)
    finally:
        await emulator.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--churn", type=float, default=0.0, help="head inserts per response")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
