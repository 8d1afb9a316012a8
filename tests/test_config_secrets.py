"""A client refused at construction shows neither the key nor a proxy password, anywhere.

``AsyncKernel(...)`` with a bad base URL, limit or proxy variable raises at once. That error is
often rendered with its local variables (pytest ``-l``, Sentry, rich's ``show_locals``), and
the frames below the constructor held the key (read from ``KERNEL_API_KEY``), the headers
built from it, ``os.environ`` itself and the proxy URL being parsed.
"""

import traceback
import warnings
from collections.abc import Callable

import aiohttp
import pytest
from yarl import URL

from kernel_async import AsyncKernel
from kernel_async._config import resolve_proxy

from conftest import CANARY_KEY

PROXY_PASSWORD = "pr0xy-canary-pw"
API = URL("https://api.onkernel.com/")


def rendered(error: BaseException) -> str:
    with_locals = traceback.TracebackException.from_exception(error, capture_locals=True)
    return "".join(with_locals.format())


REFUSALS: dict[str, Callable[[], object]] = {
    "base_url": lambda: AsyncKernel(base_url="http://127.0.0.1:99999/"),
    "max_response_bytes": lambda: AsyncKernel(max_response_bytes=0),
    "retry": lambda: AsyncKernel(retry="2"),  # type: ignore[arg-type]
    "timeout": lambda: AsyncKernel(timeout=-1),
    "default_headers": lambda: AsyncKernel(default_headers={"X-A": "a\nb"}),
    "max_connections": lambda: AsyncKernel(max_connections=0),
}


@pytest.mark.parametrize("refusal", list(REFUSALS), ids=list(REFUSALS))
def test_a_refused_construction_shows_no_key_from_the_environment(
    refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERNEL_API_KEY", CANARY_KEY)
    with pytest.raises((ValueError, TypeError)) as caught:
        REFUSALS[refusal]()
    text = rendered(caught.value)
    assert CANARY_KEY not in text
    assert "environ(" not in text  # os.environ's repr


def test_a_refused_construction_shows_no_key_given_as_an_argument() -> None:
    with pytest.raises(ValueError, match="max_response_bytes") as caught:
        AsyncKernel(CANARY_KEY, base_url="http://127.0.0.1:1/", max_response_bytes=0)
    assert CANARY_KEY not in rendered(caught.value)


@pytest.mark.parametrize(
    "template",
    ["http://user:{}@proxy:notaport", "http://user:{}@[::1", "user:{}@proxy:99999"],
)
def test_a_malformed_proxy_variable_is_named_and_its_password_never_shown(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # yarl's own message ("Port out of range 0-65535") named no variable to fix, and its
    # frames held the URL, password and all. (No local variable of this test holds the
    # password either: its frame is rendered too.)
    monkeypatch.setenv("KERNEL_API_KEY", CANARY_KEY)
    monkeypatch.setenv("HTTPS_PROXY", template.format(PROXY_PASSWORD))
    with pytest.raises(ValueError, match="HTTPS_PROXY environment variable") as caught:
        AsyncKernel()
    text = rendered(caught.value)
    assert PROXY_PASSWORD not in text
    assert CANARY_KEY not in text
    with pytest.raises(ValueError, match="HTTPS_PROXY") as direct:
        resolve_proxy(API, {"HTTPS_PROXY": template.format(PROXY_PASSWORD)}, trust_env=True)
    assert PROXY_PASSWORD not in str(direct.value)
    assert direct.value.__cause__ is None
    assert direct.value.__suppress_context__


async def test_a_session_with_its_own_auth_is_refused() -> None:
    # aiohttp refuses auth= beside the Authorization header the client sends: a bare
    # ValueError on every call, from no class of the client's errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # auth= is, since aiohttp 3.13
        session = aiohttp.ClientSession(auth=aiohttp.BasicAuth("user", "password"))
    async with session:
        with pytest.raises(ValueError, match="auth"):
            AsyncKernel(CANARY_KEY, session=session)


# The key, or another secret, given in another argument: the constructor's own frame showed
# that argument (default_headers=, base_url=) among its locals, for every refusal, its own
# or a later one (a session, a limit).
SECRET_ELSEWHERE: dict[str, Callable[[], object]] = {
    "authorization-header": lambda: AsyncKernel(
        "k", default_headers={"Authorization": f"Bearer {CANARY_KEY}"}
    ),
    "header-refused": lambda: AsyncKernel(
        "k", default_headers={"X-Gateway-Key": CANARY_KEY + "\n"}
    ),
    "header-then-limit": lambda: AsyncKernel(
        "k", default_headers={"X-Gateway-Key": CANARY_KEY}, max_connections=0
    ),
    "base-url-password": lambda: AsyncKernel("k", base_url=f"https://u:{CANARY_KEY}@127.0.0.1/"),
}


@pytest.mark.parametrize("refusal", list(SECRET_ELSEWHERE), ids=list(SECRET_ELSEWHERE))
def test_a_refused_construction_shows_no_secret_given_in_another_argument(refusal: str) -> None:
    with pytest.raises((ValueError, TypeError)) as caught:
        SECRET_ELSEWHERE[refusal]()
    assert CANARY_KEY not in rendered(caught.value)
