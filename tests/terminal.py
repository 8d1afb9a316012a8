"""Running the real `kernel-async` entry point on a pseudo-terminal, and reading the screen.

stdout and stderr share the terminal, as they do for a person; the window size is set with
TIOCSWINSZ, and the output is replayed through pyte, a VT100 emulator, to get the screen a
person would see (carriage returns, erase-line, wrapping at the right margin).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import pyte

SCRIPT = shutil.which("kernel-async", path=str(Path(sys.executable).parent)) or "kernel-async"


@attrs.frozen
class Session:
    status: int
    raw: str  # every byte the terminal received, decoded
    lines: list[str]  # the screen, one entry per row, trailing blanks dropped

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def screen_of(raw: str, columns: int) -> list[str]:
    screen = pyte.Screen(columns, 2000)
    stream = pyte.Stream(screen)
    stream.feed(raw)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_in_terminal(
    *args: str,
    columns: int,
    env: dict[str, str] | None = None,
    interrupt_when: Callable[[str], bool] | None = None,
    timeout: float = 60,
    stdout: int | None = None,
) -> Session:
    """Run `kernel-async *args` with stdout and stderr on one terminal `columns` wide.

    `interrupt_when(output_so_far)` true sends SIGINT (Ctrl-C) once. `stdout`: a file
    descriptor to redirect stdout to instead (`kernel-async ... > file`, stderr on the terminal).
    """
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "COLUMNS", "LINES") and not k.startswith("KERNEL_")
    }
    environment["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [SCRIPT, *args],
        stdin=terminal,
        stdout=terminal if stdout is None else stdout,
        stderr=terminal,
        env={**environment, **(env or {})},
        start_new_session=True,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    interrupted = False
    stop_at = time.monotonic() + timeout
    try:
        while time.monotonic() < stop_at:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            output = b"".join(chunks).decode(errors="replace")
            if interrupt_when is not None and not interrupted and interrupt_when(output):
                process.send_signal(signal.SIGINT)
                interrupted = True
        status = process.wait(timeout=max(stop_at - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    raw = b"".join(chunks).decode()
    return Session(status=status, raw=raw, lines=screen_of(raw, columns))
