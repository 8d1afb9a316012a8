"""Invocations numbered by age, for tests of the walk plan and its search.

``inv(n)`` is older the higher ``n`` (the API lists newest first); ``tie(n)`` all start at
the same instant, as from a server that keeps whole seconds.
"""

from datetime import UTC, datetime, timedelta

from kernel_async import Invocation

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def inv(n: int) -> Invocation:
    """Invocation n: the higher n, the older (the API lists newest first)."""
    return Invocation(
        id=f"i{n}",
        app_name="a",
        version="1",
        action_name="b",
        started_at=T0 - timedelta(seconds=n),
        status="queued",
    )


def tie(n: int) -> Invocation:
    """Invocation n of a server that keeps whole seconds: all of them tie, in the order of n."""
    return Invocation(
        id=f"i{n}", app_name="a", version="1", action_name="b", started_at=T0, status="queued"
    )
