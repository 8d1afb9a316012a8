"""Where requests go: checking ``base_url`` (an argument or ``KERNEL_BASE_URL``).

A base URL is checked whole before anything is sent, and refused with a ValueError or
TypeError naming ``base_url``: what yarl would accept but alter (surrounding spaces, a lone
surrogate), what would fail later as a connection error and be retried (a host name that is
not one), and what would leak the key (a user or password in the URL, a query or fragment,
plain http to a host that is not loopback). The messages never quote a URL that may still hold
a password or token. Plain functions of values, tested without a loop; the client's
configuration (``_config``) applies them.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from yarl import URL

from kernel_async._params import is_unicode_text

__all__ = ["check_base_url", "is_loopback"]


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine: ``localhost``, or a loopback address ([::1] too)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# A host name once IDNA-encoded (yarl's raw_host, lower case): RFC 1123 letters, digits and
# hyphens, dots between labels, and the underscore that internal names often have.
_HOST_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


def check_base_url(raw: str | URL, *, allow_http: bool) -> URL:
    """``raw`` as the URL requests are joined to, ending in ``/``; refused as described above.

    Raises:
        TypeError: neither a str nor a ``yarl.URL``.
        ValueError: anything else refused (see the module doc); ``allow_http`` lets plain
            http reach a host that is not loopback.
    """
    if not isinstance(raw, str | URL):
        raise TypeError(f"base_url must be a str or a yarl.URL, not {type(raw).__name__}")
    if isinstance(raw, str) and raw != raw.strip():
        # yarl would keep the spaces and quote them into the path ("/%20/invocations").
        # Not the URL itself: it may carry a password (refused below, but not yet checked).
        raise ValueError(
            "base_url must not have surrounding whitespace (a space, tab or newline at either "
            "end: from KERNEL_BASE_URL?)"
        )
    if isinstance(raw, str) and not is_unicode_text(raw):
        # yarl drops a lone surrogate from the path ("/v\udcff1/" became "/v1/") and fails
        # deep in the IDNA codec on one in the host: refused, never altered.
        raise ValueError(
            "base_url is not valid text (bytes that are not UTF-8, from KERNEL_BASE_URL?)"
        )
    try:
        # yarl checks the port and an IP literal here, and IDNA-decodes the host on first
        # access to url.host: each raises its own ValueError (UnicodeError for a bad "xn--"
        # label), which names no argument; on some text it fails otherwise ("http://[]@" is
        # an IndexError in yarl 1.25). Any failure of its parser is a URL it cannot read.
        url = URL(raw)
        host = url.host
        port = url.port
    except Exception as exc:  # noqa: BLE001 - whatever yarl raises, said as base_url's fault
        # Not the URL itself: it may carry a password (refused below, but not yet checked).
        problem = str(exc) or type(exc).__name__
        raise ValueError(f"base_url is not a valid URL: {problem}") from None
    if url.user is not None or url.password is not None:
        # yarl would print the password; say nothing of the URL itself.
        raise ValueError("base_url must not carry a user or password; use api_key instead")
    # The URL without its query or fragment, which may hold a token (refused below).
    where = f"base_url {url.with_query(None).with_fragment(None)!s}"
    if url.scheme not in ("https", "http") or not host:
        raise ValueError(f"{where} must be an absolute http(s) URL")
    if ":" not in host and not _HOST_CHARS.issuperset((url.raw_host or "").lower()):
        # An IP literal (the only host with a colon) was checked by yarl; a name is letters,
        # digits, '-', '.' and '_' once IDNA-encoded (RFC 1123). yarl keeps "a b" or "%" as
        # a host, and the request would fail later, as a connection error, retried.
        raise ValueError(f"{where} does not have a valid host name")
    if port == 0:
        raise ValueError(f"{where} has port 0; ports go from 1 to 65535")
    if url.query_string or url.fragment:
        raise ValueError(f"{where} must not have a query or fragment")
    if url.scheme == "http" and not allow_http and not is_loopback(url.host):
        raise ValueError(
            f"{where} uses plain http to a non-loopback host, which would send the API key "
            "in clear text; use https, or pass allow_http=True if you really mean it"
        )
    if not str(url).endswith("/"):
        url = url.with_path(url.path.rstrip("/") + "/")
    return url
