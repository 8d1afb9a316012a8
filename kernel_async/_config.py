"""Client configuration: resolving and checking the API key, base URL and timeouts.

Plain functions of values (the environment is passed in), so every rule is tested without a
loop or a network.
"""

from __future__ import annotations

import ipaddress
import platform
from collections.abc import Mapping
from typing import Final

import aiohttp
import attrs
from yarl import URL

from kernel_async._defaults import (
    DEFAULT_TIMEOUT_CONNECT,
    DEFAULT_TIMEOUT_READ,
    DEFAULT_TIMEOUT_TOTAL,
)
from kernel_async._errors import MissingAPIKeyError
from kernel_async._params import is_unicode_text
from kernel_async._retry import RetryPolicy
from kernel_async._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "RETRY_COUNT_HEADER",
    "ClientConfig",
    "Timeout",
    "check_header",
    "resolve_config",
    "resolve_proxy",
    "user_agent",
]

DEFAULT_BASE_URL: Final = "https://api.onkernel.com/"
"""The official service, as the official SDK defaults to."""

API_KEY_ENV: Final = "KERNEL_API_KEY"
BASE_URL_ENV: Final = "KERNEL_BASE_URL"

RETRY_COUNT_HEADER: Final = "X-Kernel-Async-Retry-Count"
"""Sent with every request: 0 on the first attempt, then the retry's number. Servers ignore
it; it tells retries apart from aiohttp's own silent resend of an idempotent request after a
pooled connection was reset. The client sets it; no header option may."""


def _seconds(value: float) -> float:
    """``value`` as a float; an int past the largest float (``10**400``) is infinite."""
    try:
        return float(value)
    except OverflowError:
        return float("inf")


@attrs.frozen(kw_only=True)
class Timeout:
    """Per-attempt time limits, in seconds; ``None`` disables one.

    Attributes:
        total: The whole attempt, from sending to the last byte of the body.
        connect: Establishing the TCP (and TLS) connection.
        read: The longest wait for the next chunk of the response (catches a stalled server).
    """

    total: float | None = DEFAULT_TIMEOUT_TOTAL
    connect: float | None = DEFAULT_TIMEOUT_CONNECT
    read: float | None = DEFAULT_TIMEOUT_READ

    def __attrs_post_init__(self) -> None:
        for name in ("total", "connect", "read"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"Timeout.{name} must be a number or None")
            if not 0 < _seconds(value) < float("inf"):
                raise ValueError(f"Timeout.{name} must be a finite number > 0, got {value!r}")

    @classmethod
    def coerce(cls, value: Timeout | float) -> Timeout:
        """Accept a :class:`Timeout` or a number of seconds for the whole attempt."""
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"timeout must be a Timeout or a number of seconds, not {value!r}")
        seconds = _seconds(value)
        if not 0 < seconds < float("inf"):
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {value!r}")
        return cls(total=seconds, connect=min(seconds, DEFAULT_TIMEOUT_CONNECT), read=seconds)


DEFAULT_MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024
"""32 MiB: a page of 100 invocations is typically tens of KiB; outputs can be large."""

DEFAULT_TIMEOUT: Final = Timeout()
"""60 s per attempt and 5 s to connect, as the official SDK; at most 30 s of silence."""


class _Secret:
    """A string that never shows itself in a repr, str or format."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class ClientConfig:
    """Everything the client needs, resolved and checked; read-only. Its repr hides the key.

    A plain class, not an attrs one: it needs none of the generated methods, and attrs would
    generate them at import (start-up time).
    """

    __slots__ = (
        "api_key",
        "base_url",
        "headers",
        "invocations_url",
        "max_response_bytes",
        "proxy",
        "retry",
        "timeout",
    )

    def __init__(
        self,
        *,
        api_key: _Secret,
        base_url: URL,
        timeout: Timeout,
        retry: RetryPolicy,
        max_response_bytes: int,
        headers: Mapping[str, str],
        proxy: URL | None = None,  # may hold proxy credentials: not in the repr
    ) -> None:
        self.api_key: Final = api_key
        self.base_url: Final = base_url
        self.timeout: Final = timeout
        self.retry: Final = retry
        self.max_response_bytes: Final = max_response_bytes
        self.headers: Final = headers  # Authorization among them: not in the repr
        self.proxy: Final = proxy
        # A relative join keeps a path prefix such as /v1/ (`/invocations` would drop it).
        # Computed once: every request starts from it.
        self.invocations_url: Final = base_url / "invocations"

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, timeout={self.timeout!r}, "
            f"retry={self.retry!r}, max_response_bytes={self.max_response_bytes!r})"
        )


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_api_key(api_key: object) -> str:
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
    if api_key != api_key.strip() or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in api_key):
        # A CR/LF would split the Authorization header (header injection); say so without
        # echoing the key.
        raise ValueError("api_key contains whitespace or control characters")
    if not is_unicode_text(api_key):
        # A lone surrogate (non-UTF-8 bytes in KERNEL_API_KEY) would be dropped from the
        # header: "k\ud800" would go out as "Bearer k". Refused, and never echoed.
        raise ValueError("api_key is not valid text (bytes that are not UTF-8?)")
    return api_key


# A host name once IDNA-encoded (yarl's raw_host, lower case): RFC 1123 letters, digits and
# hyphens, dots between labels, and the underscore that internal names often have.
_HOST_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


def _check_base_url(raw: str | URL, *, allow_http: bool) -> URL:
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
    if url.scheme == "http" and not allow_http and not _is_loopback(url.host):
        raise ValueError(
            f"{where} uses plain http to a non-loopback host, which would send the API key "
            "in clear text; use https, or pass allow_http=True if you really mean it"
        )
    if not str(url).endswith("/"):
        url = url.with_path(url.path.rstrip("/") + "/")
    return url


# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


# Fields that frame the message or steer the connection (RFC 9112 sections 6 and 9.6, RFC
# 9110 sections 7.6.1, 7.8, 10.1.1): aiohttp writes them for the request it sends. Given again,
# they go out as a second copy that contradicts the first. `Content-Length: 10` on a GET makes
# the server wait for a body, read the next request's first bytes as it, and answer that
# request 400; `Transfer-Encoding: chunked` leaves the server waiting for chunks.
_FRAMING_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "expect",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def _refused_header(lowered: str) -> str | None:
    """Why a header name may not be given (``lowered``: the name in lower case), or None."""
    if lowered == "authorization":
        return "the key is set with api_key"
    if lowered == RETRY_COUNT_HEADER.lower():
        return "it is the client's own, counting the retries"
    if lowered == "host":
        # A second Host goes out beside aiohttp's (RFC 9112 section 3.2: a server answers 400,
        # or routes by either one).
        return "the host comes from base_url"
    if lowered in _FRAMING_HEADERS:
        return (
            "it frames the request or steers the connection, which aiohttp does itself; a "
            "second, contradicting copy corrupts the connection for the requests after it"
        )
    if lowered.startswith("proxy-"):
        # Meant for a proxy, not for the API: sent to the API host when there is no proxy.
        return (
            "proxy headers are the proxy's business: put a proxy's credentials in its URL "
            "(HTTPS_PROXY=http://user:password@host:port)"
        )
    return None


def check_header(name: object, value: object, *, argument: str) -> tuple[str, str]:
    """Check one header of ``default_headers`` or ``extra_headers`` (``argument``).

    Raises:
        TypeError: the name or value is not a str.
        ValueError: an invalid field name, a control character in the value (CR/LF would let
            it inject headers of its own), text that is not valid Unicode, ``Authorization``
            (the key is set by ``api_key``), the client's retry counter, ``Host``, a field
            that frames the request or steers the connection (``Content-Length``,
            ``Transfer-Encoding``, ``Connection``, ``Upgrade``, ``TE``, ``Trailer``,
            ``Expect``, ``Keep-Alive``) or one meant for a proxy (``Proxy-*``); names in any
            case.
    """
    label = argument.removesuffix("s").replace("_", " ")  # "default header", "extra header"
    if not isinstance(name, str) or not name:
        raise TypeError(f"{argument} keys must be non-empty str, not {name!r}")
    if not _TOKEN_CHARS.issuperset(name):
        raise ValueError(f"{label} name {name!r} is not a valid HTTP field name")
    refused = _refused_header(name.lower())
    if refused is not None:
        raise ValueError(f"{argument} may not set {name!r}: {refused}")
    if not isinstance(value, str):
        raise TypeError(f"{label} {name!r} must be a str, not {type(value).__name__}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{label} {name!r} contains control characters")
    if not is_unicode_text(value):
        # A lone surrogate would be dropped: the header would go out empty or cut.
        raise ValueError(f"{label} {name!r} is not valid text (bytes that are not UTF-8?)")
    return name, value


def _environment(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    # curl's and urllib's convention: the lowercase name wins over the uppercase one.
    for spelling in (name.lower(), name.upper()):
        value = environ.get(spelling, "").strip()
        if value:
            return spelling, value
    return None


def _bypasses_proxy(host: str, no_proxy: str) -> bool:
    host = host.strip("[]").lower()
    for entry in no_proxy.split(","):
        pattern = entry.strip().lower().lstrip(".")
        if pattern == "*":
            return True
        if pattern and (host == pattern or host.endswith("." + pattern)):
            return True
    return False


def resolve_proxy(base_url: URL, environ: Mapping[str, str], *, trust_env: bool) -> URL | None:
    """The proxy for ``base_url`` from the environment, as the official SDK (httpx) finds it.

    ``HTTPS_PROXY`` (or ``HTTP_PROXY`` for a plain http base URL), then ``ALL_PROXY``;
    ``NO_PROXY`` lists hosts and domains to reach directly (``*`` for all). A loopback base
    URL, such as the emulator's, is always reached directly. ``None``: no proxy.

    Raises:
        ValueError: the variable in force is not an http(s) URL.
    """
    if not trust_env or base_url.host is None or _is_loopback(base_url.host):
        return None
    no_proxy = _environment(environ, "no_proxy")
    if no_proxy is not None and _bypasses_proxy(base_url.host, no_proxy[1]):
        return None
    found = _environment(environ, f"{base_url.scheme}_proxy") or _environment(environ, "all_proxy")
    if found is None:
        return None
    name, value = found
    proxy = URL(value if "://" in value else f"http://{value}")
    if proxy.scheme not in ("http", "https") or not proxy.host:
        # Not the value itself: it may carry the proxy's password.
        raise ValueError(f"the {name} environment variable is not an http(s) proxy URL")
    return proxy


def user_agent() -> str:
    """``kernel-async/<version> Python/<version> aiohttp/<version>``."""
    python = platform.python_version()
    return f"kernel-async/{__version__} Python/{python} aiohttp/{aiohttp.__version__}"


def resolve_config(
    *,
    api_key: str | None,
    base_url: str | URL | None,
    timeout: Timeout | float,
    default_headers: Mapping[str, str] | None,
    environ: Mapping[str, str],
    retry: RetryPolicy | None = None,
    max_retries: int | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    allow_http: bool = False,
    trust_env: bool = True,
) -> ClientConfig:
    """Resolve arguments against the environment and check them.

    Raises:
        MissingAPIKeyError: no ``api_key`` and no ``KERNEL_API_KEY``, or either is empty.
        ValueError, TypeError: a malformed key, base URL, header or timeout.
    """
    # An empty key is no key, whether it comes from the argument or from the environment:
    # sending `Authorization: Bearer ` could only earn a 401.
    key = api_key if api_key is not None else environ.get(API_KEY_ENV, "")
    if key == "":
        given = "api_key is an empty string" if api_key is not None else "no API key"
        raise MissingAPIKeyError(
            f"{given}: pass AsyncKernel(api_key=...) or set the {API_KEY_ENV} environment "
            "variable (tests can use kernel_async.testing.KernelEmulator, which needs none)"
        )
    secret = _Secret(_check_api_key(key))
    url = _check_base_url(
        base_url if base_url is not None else environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
        allow_http=allow_http,
    )
    headers: dict[str, str] = {"User-Agent": user_agent(), "Accept": "application/json"}
    for name, value in (default_headers or {}).items():
        checked, text = check_header(name, value, argument="default_headers")
        headers[checked] = text
    headers["Authorization"] = f"Bearer {secret.reveal()}"
    policy = retry if retry is not None else RetryPolicy()
    if not isinstance(policy, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy, not {type(policy).__name__}")
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=max_retries)
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
        raise TypeError("max_response_bytes must be an int")
    if max_response_bytes < 1:
        raise ValueError(f"max_response_bytes must be >= 1, got {max_response_bytes}")
    if not isinstance(trust_env, bool):
        raise TypeError(f"trust_env must be a bool, not {type(trust_env).__name__}")
    return ClientConfig(
        api_key=secret,
        base_url=url,
        timeout=Timeout.coerce(timeout),
        retry=policy,
        max_response_bytes=max_response_bytes,
        headers=headers,
        proxy=resolve_proxy(url, environ, trust_env=trust_env),
    )
