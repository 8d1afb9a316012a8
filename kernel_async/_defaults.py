"""Defaults and the invocation statuses, as plain values that import nothing.

``kernel-async --help`` shows them without importing the client, attrs or aiohttp (start-up
time); the classes that use them import them from here.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_PREFETCH",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_CONNECT",
    "DEFAULT_TIMEOUT_READ",
    "DEFAULT_TIMEOUT_TOTAL",
    "DEFAULT_WATCH_INTERVAL",
    "DEFAULT_WATCH_LOOKBACK",
    "InvocationStatus",
]

DEFAULT_MAX_CONNECTIONS: Final = 64
"""The connection pool's size: room for two walks at the adaptive window's largest, and for
other calls beside one."""

DEFAULT_MAX_PREFETCH: Final = 32
"""The most pages an adaptive walk keeps in flight unless told otherwise. The window only
grows this far while the walk waits on the network: at 20 ms a request, 5,000 invocations
take three round trips after the first page instead of four at 16 (nox -s bench, scenario
(a): 0.088 s against 0.118 s)."""

DEFAULT_MAX_RETRIES: Final = 2
"""Retries after the first attempt, as the official SDK."""

# Per attempt, as the official SDK: 60 s in all and 5 s to connect; at most 30 s of silence.
DEFAULT_TIMEOUT_TOTAL: Final = 60.0
DEFAULT_TIMEOUT_CONNECT: Final = 5.0
DEFAULT_TIMEOUT_READ: Final = 30.0

DEFAULT_WATCH_INTERVAL: Final = 2.0
"""Seconds between two polls of a watch, by default."""

DEFAULT_WATCH_LOOKBACK: Final = 30.0
"""Seconds before the newest invocation seen that a watch's window starts, by default."""


class InvocationStatus(enum.StrEnum):
    """The lifecycle state of an invocation.

    The API may add states later (a ``cancelled`` state is plausible); an
    :class:`Invocation` keeps such a value as a plain ``str`` instead of failing. Because this
    is a :class:`~enum.StrEnum`, ``inv.status == "failed"`` works whichever you hold.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
