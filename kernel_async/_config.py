"""Client configuration: resolving the arguments against the environment, and checking them.

The key and base URL (an argument, else ``KERNEL_API_KEY`` and ``KERNEL_BASE_URL``), the proxy
(``HTTPS_PROXY`` and the rest), the timeouts and the response size cap, gathered into one
:class:`ClientConfig`. The rules for the key and the headers are in ``_request_headers``, those
for the base URL in ``_base_url``; this module applies them and assembles the result.

Plain functions of values (the environment is passed in), so every rule is tested without a
loop or a network.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Final

import aiohttp
import attrs
from yarl import URL

from kernel_async._base_url import check_base_url, is_loopback
from kernel_async._defaults import (
    DEFAULT_TIMEOUT_CONNECT,
    DEFAULT_TIMEOUT_READ,
    DEFAULT_TIMEOUT_TOTAL,
)
from kernel_async._errors import MissingAPIKeyError
from kernel_async._request_headers import RETRY_COUNT_HEADER, check_api_key, check_headers
from kernel_async._retry import RetryPolicy
from kernel_async._version import __version__

# RETRY_COUNT_HEADER is _request_headers'; named here too, for the client that sends it.
__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "RETRY_COUNT_HEADER",
    "ClientConfig",
    "Timeout",
    "resolve_config",
    "resolve_proxy",
    "user_agent",
]

DEFAULT_BASE_URL: Final = "https://api.onkernel.com/"
"""The official service, as the official SDK defaults to."""

API_KEY_ENV: Final = "KERNEL_API_KEY"
BASE_URL_ENV: Final = "KERNEL_BASE_URL"


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


def _environment(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    # curl's and urllib's convention: the lowercase name wins over the uppercase one.
    for spelling in (name.lower(), name.upper()):
        value = environ.get(spelling, "").strip()
        if value:
            return spelling, value
    return None


def _no_proxy_entry(entry: str) -> tuple[str, int | None]:
    """A ``NO_PROXY`` entry's host pattern and port: ``host``, ``host:port``, ``[v6]:port``."""
    if entry.startswith("["):  # an IPv6 address in brackets, perhaps with a port
        address, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return address, int(port) if port.isdigit() else None
    host, colon, port = entry.rpartition(":")
    if colon and ":" not in host and port.isdigit():
        return host, int(port)
    return entry, None  # a bare IPv6 address has colons of its own


def _bypasses_proxy(url: URL, no_proxy: str) -> bool:
    # As httpx reads it: a domain covers its subdomains, and an entry with a port covers
    # only that port (`api.example.com:443`).
    host = (url.host or "").strip("[]").lower()
    for entry in no_proxy.split(","):
        pattern, port = _no_proxy_entry(entry.strip().lower())
        pattern = pattern.lstrip(".")
        if pattern == "*":
            return True
        if port is not None and port != url.port:
            continue
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
    if not trust_env or base_url.host is None or is_loopback(base_url.host):
        return None
    no_proxy = _environment(environ, "no_proxy")
    if no_proxy is not None and _bypasses_proxy(base_url, no_proxy[1]):
        return None
    found = _environment(environ, f"{base_url.scheme}_proxy") or _environment(environ, "all_proxy")
    if found is None:
        return None
    name, value = found
    # Neither the value nor yarl's message about it ("Port out of range 0-65535", which names
    # no variable) is shown: it may carry the proxy's password. `from None`: yarl's errors
    # and their frames hold the URL.
    refused = f"the {name} environment variable is not an http(s) proxy URL"
    example = (
        " such as http://proxy.example:3128: fix or unset it "
        "(AsyncKernel(trust_env=False) ignores the proxy variables)"
    )
    proxy: URL | None = None
    try:
        proxy = URL(value if "://" in value else f"http://{value}")
        valid = proxy.scheme in ("http", "https") and bool(proxy.host) and proxy.port is not None
    except ValueError:
        valid = False
    if proxy is None or not valid:
        raise ValueError(refused + example) from None
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
    secret = _Secret(check_api_key(key))
    # Switches are bools, not truthy values: allow_http="false" (a config file's string) would
    # turn plain http on and send the key in clear text.
    for name, switch in (("allow_http", allow_http), ("trust_env", trust_env)):
        if not isinstance(switch, bool):
            raise TypeError(f"{name} must be a bool, not {type(switch).__name__}")
    url = check_base_url(
        base_url if base_url is not None else environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
        allow_http=allow_http,
    )
    headers: dict[str, str] = {"User-Agent": user_agent(), "Accept": "application/json"}
    if default_headers is not None:
        headers.update(check_headers(default_headers, argument="default_headers"))
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
    return ClientConfig(
        api_key=secret,
        base_url=url,
        timeout=Timeout.coerce(timeout),
        retry=policy,
        max_response_bytes=max_response_bytes,
        headers=headers,
        proxy=resolve_proxy(url, environ, trust_env=trust_env),
    )
