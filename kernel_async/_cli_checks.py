"""What a ``kernel-async`` command line may say: each flag's value, and flags together.

The value checks are argparse ``type=`` callables (:mod:`kernel_async._cli_args` builds the
parser with them): a value out of range is a usage error that names the flag. The
``check_*`` functions run once the line is parsed, for flags that conflict or need another.
Imported before anything heavy, as the parser is: only :mod:`argparse`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from kernel_async._cli_terminal import EMULATOR_MAX_COUNT, UsageError

if TYPE_CHECKING:
    from kernel_async.testing._live import Churn

__all__ = [
    "check_emulator_flags",
    "check_listing_flags",
    "check_source_flags",
    "churn_kinds",
    "demo_count",
    "int_at_least",
    "port",
    "seconds",
]


def int_at_least(lowest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be >= {lowest}, got {value}")
        return value

    return parse


def demo_count(text: str) -> int:
    # Bounded rather than built lazily: the emulator sorts, filters and changes its data as
    # one list in memory, which a demo never needs to be larger than this.
    value = int_at_least(0)(text)
    if value > EMULATOR_MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"must be at most {EMULATOR_MAX_COUNT} (the emulator builds its data in memory "
            f"before it answers), got {value}"
        )
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def seconds(*, positive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (value > 0 if positive else value >= 0) or value == float("inf"):
            bound = "> 0" if positive else ">= 0"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
        return value

    return parse


def churn_kinds(text: str) -> list[Churn]:
    from kernel_async.testing._live import Churn

    try:
        return [Churn(kind.strip()) for kind in text.split(",") if kind.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of {', '.join(Churn)}: {text!r}") from None


def check_source_flags(args: argparse.Namespace) -> None:
    if args.emulator and args.base_url is not None:
        raise UsageError("--base-url and --emulator cannot be used together")
    if not args.emulator:
        for flag, value in (
            ("--emulator-count", args.emulator_count),
            ("--emulator-latency", args.emulator_latency),
        ):
            if value is not None:
                raise UsageError(f"{flag} needs --emulator")


def check_listing_flags(args: argparse.Namespace) -> None:
    check_source_flags(args)
    for flag, value in (("--prefetch", args.prefetch), ("--max-prefetch", args.max_prefetch)):
        if value is not None and value > args.max_connections:
            raise UsageError(
                f"{flag} {value} is more than --connections {args.max_connections}; "
                "raise --connections as well"
            )
    if args.prefetch is not None and args.max_prefetch is not None:
        raise UsageError("--max-prefetch bounds the adaptive window; --prefetch fixes it")


def check_emulator_flags(args: argparse.Namespace) -> None:
    if args.churn_kinds is not None and not args.churn:
        # The kinds of change are drawn at --churn's rate: without it there are none.
        raise UsageError("--churn-kinds needs --churn, a rate of change above 0")
