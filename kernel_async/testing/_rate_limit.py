"""The emulator's rate limit: how many answers went out in the last second.

A plain class of values (the clock is the caller's), so the limit is tested without a loop.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["LastSecond"]


class LastSecond:
    """When the answers of the last second went out, oldest first."""

    __slots__ = ("_answered",)

    def __init__(self) -> None:
        self._answered: deque[float] = deque()

    def admit(self, rate: float, now: float) -> int | None:
        """``None`` for an answer at ``now`` within ``rate`` a second, which is counted.

        Otherwise the whole seconds until the oldest answer counted is a second old (1 at
        least), for ``Retry-After``; the refused answer is not counted.

        ``now`` is any clock in seconds that never goes back (``time.monotonic()``).
        """
        answered = self._answered
        while answered and answered[0] <= now - 1.0:
            answered.popleft()
        if len(answered) < rate:
            answered.append(now)
            return None
        return max(1, math.ceil(answered[0] + 1.0 - now))
