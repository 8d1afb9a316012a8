"""trust_env: the proxy environment variables, as the official SDK (httpx) honours them."""

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from kernel_async import AsyncKernel
from kernel_async._config import resolve_proxy
from kernel_async.testing import KernelEmulator

from conftest import CANARY_KEY, LoopbackServer

API = URL("https://api.onkernel.com/")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}, "http://lower:1"),
        ({"HTTP_PROXY": "http://proxy:3128"}, None),  # for http URLs only
        ({"ALL_PROXY": "http://all:1"}, "http://all:1"),
        ({"HTTPS_PROXY": "proxy:3128"}, "http://proxy:3128"),  # curl's scheme-less form
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "onkernel.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "example.test, .onkernel.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "kernel.com"}, "http://p:1"),
        # An entry with a port covers that port only, as httpx reads it.
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.onkernel.com:443"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".onkernel.com:443"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.onkernel.com:8443"}, "http://p:1"),
    ],
)
def test_the_proxy_is_found_as_curl_and_httpx_find_it(
    environ: dict[str, str], expected: str | None
) -> None:
    found = resolve_proxy(API, environ, trust_env=True)
    assert (str(found) if found else None) == expected


@pytest.mark.parametrize("entry", ["2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443"])
def test_no_proxy_names_an_ipv6_host_with_or_without_brackets(entry: str) -> None:
    base = URL("https://[2001:db8::1]/")
    assert (
        resolve_proxy(base, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": entry}, trust_env=True)
        is None
    )
    other_port = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "[2001:db8::1]:8443"}
    assert resolve_proxy(base, other_port, trust_env=True) is not None


def test_a_socks_proxy_says_what_to_do() -> None:
    # A SOCKS ALL_PROXY set for other tools is common; the error says how to get past it.
    with pytest.raises(ValueError, match=r"ALL_PROXY .*unset it .*trust_env=False"):
        resolve_proxy(API, {"ALL_PROXY": "socks5://p:1080"}, trust_env=True)


def test_trust_env_false_and_loopback_never_use_a_proxy() -> None:
    environ = {"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:1", "ALL_PROXY": "http://p:1"}
    assert resolve_proxy(API, environ, trust_env=False) is None
    for base in ("http://127.0.0.1:8787/", "http://localhost:1/", "http://[::1]:1/"):
        assert resolve_proxy(URL(base), environ, trust_env=True) is None


def test_a_bad_proxy_variable_is_named_without_its_value() -> None:
    with pytest.raises(ValueError, match="HTTPS_PROXY") as caught:
        resolve_proxy(API, {"HTTPS_PROXY": "socks5://user:secret@p:1"}, trust_env=True)
    assert "secret" not in str(caught.value)


@pytest.fixture
async def forward_proxy(emulator: KernelEmulator) -> AsyncIterator[tuple[int, list[web.Request]]]:
    """An HTTP forward proxy on loopback that answers every request from the emulator."""
    seen: list[web.Request] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(request)
        target = URL(emulator.url).join(request.rel_url)
        async with (
            aiohttp.ClientSession() as session,
            session.get(target, headers={"Authorization": request.headers["Authorization"]}) as r,
        ):
            body = await r.read()
            headers = {k: v for k, v in r.headers.items() if k.startswith("X-")}
            return web.Response(status=r.status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1], seen
    finally:
        await runner.cleanup()


async def test_requests_go_through_the_proxy_from_the_environment(
    emulator: KernelEmulator,
    forward_proxy: tuple[int, list[web.Request]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, seen = forward_proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    # The client only ever connects to the proxy: kernel.test is never resolved.
    async with AsyncKernel(CANARY_KEY, base_url="http://kernel.test/", allow_http=True) as client:
        page = await client.invocations.list_page(limit=5)
    assert [i.id for i in page] == [i["id"] for i in emulator.invocations[:5]]
    (request,) = seen
    assert request.host == "kernel.test"
    assert request.url.path == "/invocations"
    # A loopback base URL (the emulator) is reached directly, proxy or not.
    async with emulator.client() as client:
        await client.invocations.list_page(limit=1)
    assert len(seen) == 1


async def test_a_session_that_trusts_the_environment_is_refused(
    forward_proxy: tuple[int, list[web.Request]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # aiohttp has no per-request way to turn trust_env off: such a session sent a loopback
    # base URL's requests, key and all, to HTTP_PROXY, and added ~/.netrc credentials that
    # aiohttp then refused beside the Authorization header (a bare ValueError on every call).
    port, seen = forward_proxy
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NETRC", str(netrc))
    received: list[str] = []

    async def api(request: web.Request) -> web.Response:
        received.append(request.headers["Authorization"])
        return web.json_response([], headers={"X-Has-More": "false"})

    async with LoopbackServer(api) as server:
        async with aiohttp.ClientSession(trust_env=True) as trusting:
            with pytest.raises(ValueError, match="session was created with trust_env=True"):
                AsyncKernel(CANARY_KEY, base_url=server.url, session=trusting)
        # The fix the message names: a session of the default kind, the proxy left to the
        # client, which reaches a loopback base URL directly.
        async with (
            aiohttp.ClientSession() as session,
            AsyncKernel(CANARY_KEY, base_url=server.url, session=session) as client,
        ):
            await client.invocations.list_page()
    assert received == [f"Bearer {CANARY_KEY}"]
    assert seen == []
