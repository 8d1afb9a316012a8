"""What the command's subcommands share at run time: the client they open, and the terminal.

Nothing here is imported before the arguments are parsed (see ``kernel_async._cli``), and
nothing here imports asyncio, aiohttp or the client until it runs.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from kernel_async._client import AsyncKernel
    from kernel_async._models import Invocation
    from kernel_async.testing._live import LiveData

__all__ = [
    "EMULATOR_DEMO_COUNT",
    "EMULATOR_MAX_COUNT",
    "JSONArray",
    "Output",
    "OutputError",
    "StatusLine",
    "UsageError",
    "arguments_checked",
    "counted",
    "open_client",
    "terminal_width",
    "use_colour",
]

EMULATOR_DEMO_COUNT = 250
"""How many invocations ``--emulator`` serves, unless ``--emulator-count`` says."""

EMULATOR_MAX_COUNT = 100_000
"""The most invocations ``--emulator-count`` and ``emulator --count`` take. The emulator
builds all its data before it answers, at about 2 KB an invocation: 100,000 take a few
seconds and 200 MB, and a million took 30 s and 1.6 GB before the first request."""


class UsageError(Exception):
    """A combination of flags that cannot work; exit 2 with the message."""


class OutputError(Exception):
    """What the command writes cannot be written (a full disk, a closed stdout); exit 1."""


class Output:
    r"""A standard stream as the command writes to it.

    A write that fails is an :class:`OutputError` that says which stream and why, in one line
    (exit 1), not a traceback. A reader that left (``| head``: :class:`BrokenPipeError`) is let
    through, since that is no error. A character the stream's encoding cannot hold (an ASCII
    terminal) is written as an escape, ``\u65e5``; :attr:`encoding` tells the table to escape
    it before measuring its cells, and :attr:`ellipsis` is one the stream can show.

    ``stream`` is ``None`` when the descriptor was closed (``>&-``): it is no terminal, and a
    write is an :class:`OutputError`.
    """

    def __init__(self, stream: TextIO | None, name: str) -> None:
        import codecs

        from kernel_async._text import ellipsis_for

        self.name = name
        self._stream = stream
        try:
            self.encoding = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
        except LookupError:
            self.encoding = "utf-8"
        self.ellipsis = ellipsis_for(self.encoding)
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def fileno(self) -> int:
        if self._stream is None:
            raise OSError(errno.EBADF, "closed")
        return self._stream.fileno()

    def write(self, text: str) -> None:
        with self._failures():
            self._stream_or_closed().write(text)

    def flush(self) -> None:
        with self._failures():
            self._stream_or_closed().flush()

    def _stream_or_closed(self) -> TextIO:
        if self._stream is None:
            raise OutputError(f"cannot write to {self.name}: it is closed")
        return self._stream

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write to {self.name}: {exc.strerror or exc}") from None


@contextmanager
def arguments_checked(args: argparse.Namespace) -> Iterator[None]:
    """The library's checks of what the flags gave it, as usage errors naming the flags.

    Around the calls that check their arguments before any request (the client, a walk, a
    watch): a :class:`ValueError` or :class:`TypeError` from them is the user's argument, said
    with the flag or environment variable that gave it (``kernel_async._cli_messages``).
    Nowhere else: a ValueError from anything else is no usage error.
    """
    try:
        yield
    except (ValueError, TypeError) as exc:
        from kernel_async._cli_messages import for_the_shell

        # Without --base-url, the client read KERNEL_BASE_URL; the key is always the
        # environment's (the command has no flag for it: a flag would show in `ps`).
        base_url = "--base-url" if args.base_url is not None else "KERNEL_BASE_URL"
        names = {**args.flags, "base_url": base_url, "api_key": "KERNEL_API_KEY"}
        raise UsageError(for_the_shell(str(exc), names)) from None


@asynccontextmanager
async def open_client(
    args: argparse.Namespace, *, live: LiveData | None = None
) -> AsyncIterator[AsyncKernel]:
    """The client the flags describe: of the API, or of an in-process emulator.

    ``live``: with ``--emulator``, the emulator's live mode (the data changes as it is read).
    """
    from kernel_async._client import AsyncKernel
    from kernel_async._config import DEFAULT_TIMEOUT, Timeout
    from kernel_async._errors import MissingAPIKeyError
    from kernel_async.testing._emulator import KernelEmulator

    options = {
        "max_connections": args.max_connections,
        "timeout": DEFAULT_TIMEOUT if args.timeout is None else Timeout.coerce(args.timeout),
        "max_retries": args.max_retries,
    }
    if args.emulator:
        count = EMULATOR_DEMO_COUNT if args.emulator_count is None else args.emulator_count
        emulator = KernelEmulator(
            count=count, seed=0, latency=args.emulator_latency or 0.0, live=live
        )
        with _server_log_kept_quiet():
            async with emulator, emulator.client(**options) as client:
                yield client
        return
    try:
        with arguments_checked(args):
            client = AsyncKernel(base_url=args.base_url, **options)
    except MissingAPIKeyError:
        # The library's message speaks to Python code; this one to a shell.
        raise UsageError(
            "no API key: set the KERNEL_API_KEY environment variable "
            f"(or try it on demo data without one: kernel-async invocations {args.action} "
            "--emulator)"
        ) from None
    async with client:
        yield client


@contextmanager
def _server_log_kept_quiet() -> Iterator[None]:
    """Meanwhile, aiohttp's server log goes nowhere: it is the in-process emulator's.

    A request the emulator cannot read (a request line over aiohttp's 8190 bytes, say) is
    answered with a 400, which the client reports in one line; aiohttp's server would also
    log it, traceback and all, and with no logging set up Python prints that on stderr. Only
    the emulator serves in this process, so the server's loggers are its own.
    """
    import logging

    loggers = [logging.getLogger(name) for name in ("aiohttp.server", "aiohttp.web")]
    were_disabled = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, disabled in zip(loggers, were_disabled, strict=True):
            logger.disabled = disabled


def counted(number: int, noun: str) -> str:
    """``1 page``, ``2 pages``.

    >>> counted(1, "page"), counted(1200, "invocation")
    ('1 page', '1,200 invocations')
    """
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _dumb_terminal() -> bool:
    # TERM=dumb (an editor's shell buffer, a CI log): no escape sequences of any kind.
    return os.environ.get("TERM") == "dumb"


def use_colour(choice: str, stream: Output) -> bool:
    """Whether to colour what goes to ``stream``, given ``--color``."""
    if choice != "auto":
        return choice == "always"
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    if os.environ.get("NO_COLOR") or _dumb_terminal():
        return False
    return stream.isatty()


def terminal_width(stream: Output | None = None) -> int:
    """The columns of ``stream``'s terminal, or stdout's (120 when there is no terminal to ask).

    ``COLUMNS`` wins, as :func:`shutil.get_terminal_size` has it. Without it, each stream
    asks its own terminal: with stdout redirected to a file, the status line on stderr must
    fit stderr's terminal, not the 120 columns a file falls back to.
    """
    import shutil

    if stream is not None and not os.environ.get("COLUMNS"):
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):  # not a terminal, or no file at all
            columns = 0
        if columns > 0:
            return columns
    return shutil.get_terminal_size((120, 24)).columns


class StatusLine:
    """One line of stderr that says how the command is doing, when stderr is a terminal.

    Not on a dumb terminal (``TERM=dumb``), which could not erase it.

    ``describe`` says it; :meth:`show` adds a passing note (a retry, say). stdout and stderr
    often share the terminal, so the line is erased before any row is written (:meth:`clear`)
    and drawn again after: a row never starts after the status text.
    """

    def __init__(self, stream: Output, describe: Callable[[], str]) -> None:
        self._stream = stream
        self._describe = describe
        # A dumb terminal has no erase-line (ESC [ K), so no line to redraw either.
        self._enabled = stream.isatty() and not _dumb_terminal()
        self._shown = False

    def show(self, note: str | None = None) -> None:
        if not self._enabled:
            return
        text = self._describe()
        if note:
            text += f"; {note}"
        # Longer than the terminal, the line would wrap, and \r would erase only its end
        # (columns, not characters: a wide character takes two).
        from kernel_async._text import printable, truncate

        stream = self._stream
        text = printable(text, stream.encoding)  # measured as the terminal will show it
        text = truncate(text, max(terminal_width(stream) - 1, 1), stream.ellipsis)
        self._stream.write(f"\r\x1b[K{text}")
        self._stream.flush()
        self._shown = True

    def say(self, text: str) -> None:
        """Say ``text``, which matters also to whoever reads stderr later (a log).

        On a terminal, on the status line like a retry (:meth:`show`); otherwise on a line of
        its own, where the status line stays quiet. ``text`` is short already (a server's
        words in it cut by ``kernel_async._cli_messages``); its control characters are
        escaped here. A stderr that cannot take it (closed, full) is no reason to stop: the
        command goes on as it would have.
        """
        if self._enabled:
            self.show(text)
            return
        from kernel_async._text import printable

        with suppress(OutputError, BrokenPipeError):
            self._stream.write(f"kernel-async: {printable(text, self._stream.encoding)}\n")
            self._stream.flush()

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False

    @contextmanager
    def retries_shown(self) -> Iterator[None]:
        """Show the client's retries (logged at INFO) on the status line meanwhile."""
        if not self._enabled:
            yield
            return
        import logging

        from kernel_async._text import printable

        status = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno != logging.INFO:
                    return
                if isinstance(record.args, tuple) and len(record.args) == 6:
                    # The client's "GET %s failed (%s, request id %s); retry %d of %d: %s".
                    _url, error, _request_id, retry, retries, why = record.args
                    status.show(printable(f"{error}, retry {retry} of {retries}: {why}"))
                else:
                    status.show(printable(record.getMessage()))

        logger = logging.getLogger("kernel_async")
        handler, level = Handler(), logger.level
        logger.addHandler(handler)
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)


class JSONArray:
    """One JSON array, written item by item, and closed even when the walk is interrupted."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._items = 0

    def __enter__(self) -> JSONArray:
        self._out.write("[")
        self._out.flush()
        return self

    def write(self, invocations: Sequence[Invocation]) -> None:
        import json

        for invocation in invocations:
            separator = ",\n" if self._items else "\n"
            self._out.write(separator + json.dumps(invocation.to_dict()))
            self._items += 1

    def __exit__(self, *exc_info: object) -> None:
        self._out.write("\n]\n" if self._items else "]\n")
        self._out.flush()
