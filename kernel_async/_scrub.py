"""What the transport gives aiohttp and takes from it, kept free of secrets: pure functions.

Two ways a secret could leave through the transport's errors. aiohttp's exception, chained to
ours for diagnosis, carries tracebacks whose frames hold the request headers (bearer token
included) as local variables, which pytest ``-l``, Sentry, rich and
``traceback.TracebackException(capture_locals=True)`` render. And aiohttp names the proxy's
URL in its messages, which ours include, so a proxy password must not be in that URL.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, TypeVar

from yarl import URL

__all__ = ["chainable", "exception_graph", "proxy_arguments", "without_tracebacks"]

_E = TypeVar("_E", bound=BaseException)


def exception_graph(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable from it.

    Causes, contexts, group members, and exceptions held as attributes (aiohttp keeps the
    ``OSError`` behind a connector error in one).
    """
    found: dict[int, BaseException] = {}
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in found:
            continue
        found[id(current)] = current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions
        held = getattr(current, "__dict__", {}).values()
        pending += [value for value in held if isinstance(value, BaseException)]
    return list(found.values())


def chainable(exc: BaseException) -> BaseException | None:
    """``exc``, fit to be chained to ours as ``__cause__``, or ``None`` when nothing of it is.

    Nothing of it when it reaches aiohttp's ``request_info``: that holds the request headers,
    bearer token included. Otherwise its type and message stay, for diagnosis, and the
    tracebacks of all it reaches go: their frames are aiohttp's, whose local variables hold
    the request headers too.
    """
    if any(hasattr(each, "request_info") for each in exception_graph(exc)):
        return None
    return without_tracebacks(exc)


def without_tracebacks(exc: _E) -> _E:
    """``exc``, with the tracebacks of it and of every exception it reaches removed.

    Raised again from a frame that holds no secret, it shows only the frames from there up.
    """
    for each in exception_graph(exc):
        each.__traceback__ = None
    return exc


def proxy_arguments(url: URL, proxy: URL | None, headers: Mapping[str, str]) -> dict[str, Any]:
    """The ``headers``, ``proxy`` and ``proxy_headers`` arguments of ``session.get(url)``.

    A proxy URL's user and password (percent-decoded, as curl and httpx read them) become a
    ``Proxy-Authorization`` header (RFC 9110 section 11.7.1; Basic, in UTF-8 as httpx sends
    it), and the URL aiohttp gets has none. aiohttp's own ``proxy_auth=`` is deprecated. The
    header goes to the proxy with the CONNECT for an https URL; a plain-http request is sent
    to the proxy itself (RFC 9112 section 3.2.2, absolute form), so it carries the header.
    """
    if proxy is None or (proxy.raw_user is None and proxy.raw_password is None):
        return {"headers": headers, "proxy": proxy}
    userinfo = f"{proxy.user or ''}:{proxy.password or ''}".encode()
    credentials = {"Proxy-Authorization": "Basic " + base64.b64encode(userinfo).decode("ascii")}
    if url.scheme == "http":
        headers = {**headers, **credentials}
    return {"headers": headers, "proxy": proxy.with_user(None), "proxy_headers": credentials}
