"""What a test sees of the emulator's traffic: the requests it logged, the responses scripted.

:class:`RecordedRequest` is one entry of ``KernelEmulator.requests``; :class:`ScriptedResponse`
is what ``KernelEmulator.script()`` queues to send instead of the API's answer. Both are plain
values, public through :mod:`kernel_async.testing`; the emulator that fills and reads them is
in ``_emulator``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from kernel_async.testing._api_rules import query_int

__all__ = ["RecordedRequest", "ScriptedResponse"]


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the emulator received, as tests want to see it.

    Attributes:
        path: The request path, such as ``/invocations``.
        query: The query parameters (last value wins).
        authorized: Whether it carried the right bearer token.
        headers: The request headers, with ``Authorization`` removed.
        received_at: ``time.monotonic()`` when it arrived.
    """

    path: str
    query: Mapping[str, str]
    authorized: bool
    headers: Mapping[str, str]
    received_at: float

    @property
    def offset(self) -> int | None:
        """The ``offset`` query parameter as an int, when it was one."""
        return query_int(self.query.get("offset"))

    @property
    def limit(self) -> int | None:
        """The ``limit`` query parameter as an int, when it was one."""
        return query_int(self.query.get("limit"))


@attrs.frozen(kw_only=True)
class ScriptedResponse:
    """A response to send instead of the real one, for the next matching request.

    Attributes:
        status: The HTTP status.
        body: The raw body (anything: HTML, broken JSON, nothing).
        headers: Extra headers (``X-Request-Id`` is added unless given).
        content_type: The Content-Type header.
        offset: Answer only the request for this offset (``None``: the next request).
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content_type: str = "application/json"
    offset: int | None = None
