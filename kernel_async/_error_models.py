"""What an error carries: the API's Error body (``ErrorBody``, ``ErrorDetail``) and the response.

``kernel_async._errors`` imports this module, as its exceptions' annotations name these
classes (``typing.get_type_hints()`` on them must resolve at run time), so it loads with the
package. They are public as ``kernel_async.ErrorBody``, ``ErrorDetail`` and ``ErrorResponse``.
"""

from __future__ import annotations

import json

# attrs gives __init__ the converter's annotation, Mapping[str, str]: a name that must
# resolve here for typing.get_type_hints() on it.
from collections.abc import Mapping  # noqa: F401
from typing import Any

import attrs
from multidict import CIMultiDictProxy

from kernel_async._headers import case_insensitive

__all__ = ["ErrorBody", "ErrorDetail", "ErrorResponse"]


@attrs.frozen(kw_only=True)
class ErrorDetail:
    """``components/schemas/ErrorDetail``: a lower-level code and message."""

    code: str | None = None
    message: str | None = None


@attrs.frozen(kw_only=True)
class ErrorBody:
    """``components/schemas/Error``: the JSON body of every error response."""

    code: str
    message: str
    details: tuple[ErrorDetail, ...] = ()
    inner_error: ErrorDetail | None = None


@attrs.frozen(kw_only=True, eq=False)
class ErrorResponse:
    """The response an error came from: what the server sent, and nothing of the request.

    A stand-in for the ``httpx.Response`` that the official SDK's ``exc.response`` is, with
    the parts of it that describe the answer. It holds no request headers, so no credentials:
    printing or logging it is safe.

    Attributes:
        status_code: The HTTP status, for example ``401``.
        headers: The response headers, read-only; lookups ignore case.
        content: The raw body, as received (at most ``max_response_bytes``); an API key the
            server echoed in it is masked as ``***``, as in the headers.
        url: The URL that was requested (it never holds credentials).
    """

    status_code: int
    headers: CIMultiDictProxy[str] = attrs.field(converter=case_insensitive)
    content: bytes = attrs.field(default=b"", repr=False)
    url: str | None = None

    @property
    def request_id(self) -> str | None:
        """The server's ``X-Request-Id`` for this response."""
        return self.headers.get("X-Request-Id")

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON (an HTML page from a proxy, say).
        """
        return json.loads(self.content)
