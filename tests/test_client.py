"""AsyncKernel against the emulator over real loopback sockets."""

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from yarl import URL

from kernel_async import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncKernel,
    AuthenticationError,
    ClientClosedError,
    InternalServerError,
    InvocationStatus,
    MissingAPIKeyError,
    PaginationError,
    Timeout,
    __version__,
)
from kernel_async._config import resolve_config
from kernel_async.testing import KernelEmulator, ScriptedResponse, deployment_id_for

from conftest import CANARY_KEY, NOW, STATUS_ERRORS, LoopbackServer, ids

# -- listing -------------------------------------------------------------------------------


async def test_one_page_with_the_server_default_limit(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    page = await client.invocations.list_page()
    assert ids(page) == ids(emulator.invocations[:20])
    assert (page.offset, page.limit, page.has_more, page.next_offset) == (0, 20, True, 20)
    assert page.request_id is not None
    assert emulator.requests[-1].query == {"offset": "0"}


async def test_a_walk_by_hand_equals_the_full_list_in_order(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = await client.invocations.list_page(limit=25, offset=offset)
        seen += ids(page)
        if not page.has_more:
            break
        assert page.next_offset is not None
        offset = page.next_offset
    assert len(emulator.invocations) == 137
    assert seen == ids(emulator.invocations)
    assert len(emulator.requests) == 6  # ceil(137 / 25)


@pytest.mark.parametrize(
    ("kwargs", "wire"),
    [
        ({"app_name": "web-scraper"}, {"app_name": "web-scraper"}),
        ({"version": "1.2.3"}, {"version": "1.2.3"}),
        ({"action_name": "reconcile"}, {"action_name": "reconcile"}),
        ({"status": InvocationStatus.FAILED}, {"status": "failed"}),
        ({"status": "running"}, {"status": "running"}),
        ({"since": timedelta(days=2)}, {"since": "48h"}),
        ({"since": "36h"}, {"since": "36h"}),
        ({"since": NOW - timedelta(days=3)}, {"since": "2026-05-29T12:00:00Z"}),
        ({"since": "2026-05-30T00:00:00+02:00"}, {"since": "2026-05-30T00:00:00+02:00"}),
        ({"query": "INVOICE"}, {"query": "INVOICE"}),
        (
            {"app_name": "invoice-bot", "status": "succeeded", "since": "120h"},
            {"app_name": "invoice-bot", "status": "succeeded", "since": "120h"},
        ),
    ],
)
async def test_every_filter_reaches_the_server_and_filters(
    emulator: KernelEmulator, client: AsyncKernel, kwargs: dict[str, Any], wire: dict[str, str]
) -> None:
    page = await client.invocations.list_page(limit=100, **kwargs)
    expected = emulator.list_invocations(**wire)
    assert 0 < len(expected) < len(emulator.invocations), "the filter must select something"
    assert ids(page) == ids(expected[:100])
    sent = emulator.requests[-1].query
    assert {k: sent[k] for k in wire} == wire


async def test_deployment_and_free_text_filters(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    target = emulator.invocations[5]
    deployment = deployment_id_for(target["app_name"], target["version"])
    page = await client.invocations.list_page(deployment_id=deployment, limit=100)
    assert target["id"] in ids(page)
    assert {(i.app_name, i.version) for i in page} == {(target["app_name"], target["version"])}
    page = await client.invocations.list_page(query=target["id"][3:12])
    assert ids(page) == [target["id"]]


async def test_changes_while_running_are_served(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    newest = {
        **emulator.invocations[0],
        "id": "zz-new",
        "started_at": "2026-06-01T11:59:59.999999999Z",
    }
    emulator.add_invocation(newest)
    assert ids(await client.invocations.list_page(limit=1)) == ["zz-new"]
    emulator.remove_invocation("zz-new")
    assert ids(await client.invocations.list_page(limit=1)) != ["zz-new"]


# -- invalid input raises before anything is sent -------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": 0}, ValueError),
        ({"limit": 101}, ValueError),
        ({"limit": True}, TypeError),
        ({"limit": "20"}, TypeError),
        ({"offset": -1}, ValueError),
        ({"status": "cancelled"}, ValueError),
        ({"since": "yesterday"}, ValueError),
        ({"since": timedelta(minutes=-5)}, ValueError),
        ({"app_name": ""}, ValueError),
        ({"query": "a\r\nb"}, ValueError),
        ({"app_name": "\udcff"}, ValueError),  # yarl would drop it: every app would be listed
        ({"query": "caf\udce9"}, ValueError),
        ({"offset": 2**63}, ValueError),
        ({"since": "\u0665m"}, ValueError),
        ({"since": "2562048h"}, ValueError),
        ({"since": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))}, ValueError),
        ({"deadline": 10**400}, ValueError),
    ],
)
async def test_invalid_arguments_send_no_request(
    emulator: KernelEmulator, client: AsyncKernel, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await client.invocations.list_page(**kwargs)
    assert emulator.requests == []


# -- server faults become typed errors --------------------------------------------------------


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS)
async def test_error_statuses_map_to_typed_errors(
    emulator: KernelEmulator, client: AsyncKernel, status: int, cls: type[APIStatusError]
) -> None:
    emulator.script(
        ScriptedResponse(
            status=status,
            body=json.dumps(
                {
                    "code": "some_code",
                    "message": "it broke",
                    "details": [{"code": "d", "message": "m"}],
                }
            ).encode(),
            headers={"X-Request-Id": "req_scripted", "Retry-After": "3"},
        )
    )
    with pytest.raises(cls) as caught:
        await client.invocations.list_page()
    error = caught.value
    assert type(error) is cls
    assert (error.status, error.code, error.request_id) == (status, "some_code", "req_scripted")
    assert error.details[0].code == "d"
    assert error.headers["Retry-After"] == "3"


async def test_the_emulator_itself_answers_401_and_400_with_error_bodies(
    emulator: KernelEmulator,
) -> None:
    async with emulator.client(api_key="wrong-key") as wrong:
        with pytest.raises(AuthenticationError) as caught:
            await wrong.invocations.list_page()
    assert caught.value.code == "unauthorized"
    assert caught.value.request_id is not None
    assert emulator.requests[-1].authorized is False


async def test_an_html_502_maps_to_internal_server_error(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    emulator.script(
        ScriptedResponse(
            status=502,
            body=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            content_type="text/html",
        )
    )
    with pytest.raises(InternalServerError, match="502 Bad Gateway") as caught:
        await client.invocations.list_page()
    assert caught.value.body is None
    assert "<h1>502 Bad Gateway</h1>" in caught.value.body_excerpt


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"{not json", "$"),
        (b"", "$"),
        (b'{"data": []}', "$"),
        (b'[{"id": "x"}]', "$[0].app_name"),
    ],
)
async def test_malformed_success_bodies_are_validation_errors(
    emulator: KernelEmulator, client: AsyncKernel, raw: bytes, path: str
) -> None:
    emulator.script(ScriptedResponse(body=raw, headers={"X-Has-More": "false"}))
    with pytest.raises(APIResponseValidationError) as caught:
        await client.invocations.list_page()
    assert caught.value.path == path
    assert caught.value.request_id is not None


async def test_contradictory_headers_are_a_pagination_error(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    emulator.script(
        ScriptedResponse(body=b"[]", headers={"X-Has-More": "true", "X-Next-Offset": "0"})
    )
    with pytest.raises(PaginationError, match="X-Next-Offset is missing or 0"):
        await client.invocations.list_page()


async def test_a_pagination_header_repeated_by_a_proxy_is_a_pagination_error() -> None:
    async def handler(request: web.Request) -> web.Response:
        headers = CIMultiDict([("X-Has-More", "true"), ("X-Next-Offset", "100")])
        headers.add("X-Has-More", "false")  # appended on the way, disagreeing
        return web.Response(body=b"[]", headers=headers, content_type="application/json")

    async with (
        LoopbackServer(handler) as server,
        AsyncKernel("k", base_url=server.url, max_retries=0) as client,
    ):
        with pytest.raises(PaginationError, match="X-Has-More is given 2 times"):
            await client.invocations.list_page()
        with pytest.raises(PaginationError, match="X-Has-More is given 2 times"):
            async with client.invocations.list() as listing:
                async for _ in listing:
                    pass


async def test_redirects_are_answered_not_followed(
    emulator: KernelEmulator, client: AsyncKernel
) -> None:
    async with KernelEmulator(count=3, api_key=CANARY_KEY) as elsewhere:
        emulator.script(
            ScriptedResponse(status=307, headers={"Location": f"{elsewhere.url}invocations"})
        )
        with pytest.raises(APIStatusError) as caught:
            await client.invocations.list_page()
        assert caught.value.status == 307
        assert elsewhere.requests == []


async def test_connection_refused_is_a_connection_error(unused_tcp_port: int) -> None:
    async with AsyncKernel(
        CANARY_KEY, base_url=f"http://127.0.0.1:{unused_tcp_port}/", max_retries=0
    ) as client:
        with pytest.raises(APIConnectionError, match="Cannot connect") as caught:
            await client.invocations.list_page()
    assert not isinstance(caught.value, APITimeoutError)


async def test_a_slow_server_is_a_timeout_error() -> None:
    async with (
        KernelEmulator(count=1, latency=2.0) as slow,
        slow.client(timeout=Timeout(total=0.2), max_retries=0) as client,
    ):
        with pytest.raises(APITimeoutError):
            await client.invocations.list_page()


async def test_a_cancelled_request_leaves_nothing_behind() -> None:
    async with KernelEmulator(count=1, latency=5.0) as slow, slow.client() as client:
        task = asyncio.create_task(client.invocations.list_page())
        while not slow.requests:  # noqa: ASYNC110 - polls the emulator's own log
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# -- the client's life --------------------------------------------------------------------------


async def test_sends_bearer_auth_a_user_agent_and_default_headers(emulator: KernelEmulator) -> None:
    async with emulator.client(default_headers={"X-Kernel-Project-Id": "proj_1"}) as client:
        await client.invocations.list_page()
    request = emulator.requests[-1]
    assert request.authorized
    assert request.headers["User-Agent"].startswith(f"kernel-async/{__version__} Python/")
    assert request.headers["X-Kernel-Project-Id"] == "proj_1"


async def test_a_base_url_path_prefix_is_kept() -> None:
    async with KernelEmulator(count=3, path_prefix="/v1/") as emu:
        assert emu.url.endswith("/v1/")
        for base in (emu.url, emu.url.rstrip("/")):
            async with AsyncKernel(emu.api_key, base_url=base) as client:
                assert len(await client.invocations.list_page()) == 3
        assert {r.path for r in emu.requests} == {"/v1/invocations"}


async def test_use_after_close_is_a_clear_error(emulator: KernelEmulator) -> None:
    client = emulator.client()
    await client.invocations.list_page()
    await client.aclose()
    await client.aclose()  # idempotent
    assert client.closed
    with pytest.raises(ClientClosedError, match="closed"):
        await client.invocations.list_page()
    with pytest.raises(ClientClosedError):
        async with client:
            pass
    assert "closed" in repr(client)


async def test_a_callers_session_is_used_but_never_closed(emulator: KernelEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with emulator.client(session=session) as client:
            await client.invocations.list_page()
        assert not session.closed
        async with session.get(f"{emulator.url}invocations") as response:
            assert response.status == 401  # still usable


def test_constructing_outside_a_running_loop_works(monkeypatch: pytest.MonkeyPatch) -> None:
    async def run(client: AsyncKernel) -> int:
        async with KernelEmulator(count=4, api_key="env-key") as emu:
            client._config = AsyncKernel("env-key", base_url=emu.url)._config
            async with client:
                return len(await client.invocations.list_page())

    monkeypatch.setenv("KERNEL_API_KEY", "env-key")
    client = AsyncKernel()  # no loop is running here
    assert asyncio.run(run(client)) == 4


def test_the_environment_supplies_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERNEL_API_KEY", CANARY_KEY)
    monkeypatch.setenv("KERNEL_BASE_URL", "http://127.0.0.1:9999/prefix")
    client = AsyncKernel()
    assert str(client.base_url) == "http://127.0.0.1:9999/prefix/"
    assert (
        str(AsyncKernel(base_url="https://api.example.test").base_url)
        == "https://api.example.test/"
    )


def test_environment_values_are_checked_like_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERNEL_API_KEY", "k")
    monkeypatch.setenv("KERNEL_BASE_URL", "https://api.example.test/ ")
    with pytest.raises(ValueError, match="base_url must not have surrounding whitespace"):
        AsyncKernel()
    # Neither message shows the URL, which may carry a password (refused, but later).
    monkeypatch.setenv("KERNEL_BASE_URL", "https://user:s3cret@api.example.test/ ")
    with pytest.raises(ValueError, match="surrounding whitespace") as caught:
        AsyncKernel()
    assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("KERNEL_BASE_URL", "https://user:s3cret@api.example.test/\udcff")
    with pytest.raises(ValueError, match="base_url is not valid text") as caught:
        AsyncKernel()
    assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("KERNEL_BASE_URL", "https://api.example.test/")
    monkeypatch.setenv("KERNEL_API_KEY", "k\udcff")  # os.environ's view of a \xff byte
    with pytest.raises(ValueError, match="api_key is not valid text"):
        AsyncKernel()


def test_defaults_point_at_the_official_api() -> None:
    client = AsyncKernel("key")
    assert str(client.base_url) == "https://api.onkernel.com/"
    assert client.timeout == Timeout(total=60.0, connect=5.0, read=30.0)
    assert AsyncKernel("key", timeout=2).timeout == Timeout(total=2.0, connect=2.0, read=2.0)


def test_a_missing_key_says_how_to_set_it() -> None:
    with pytest.raises(MissingAPIKeyError, match="KERNEL_API_KEY"):
        AsyncKernel()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"api_key": "abc\r\nX-Evil: 1"}, ValueError, "control characters"),
        ({"api_key": " abc"}, ValueError, "whitespace"),
        ({"api_key": 123}, TypeError, "api_key must be a str"),
        ({"base_url": "https://user:pw@api.example.test/"}, ValueError, "user or password"),
        ({"base_url": "http://api.example.test/"}, ValueError, "plain http"),
        ({"base_url": "ftp://api.example.test/"}, ValueError, "absolute http"),
        ({"base_url": "/relative"}, ValueError, "absolute http"),
        ({"base_url": "https://api.example.test/?x=1"}, ValueError, "query"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": 10**400}, ValueError, "timeout"),
        ({"timeout": float("inf")}, ValueError, "timeout"),
        ({"timeout": "5"}, TypeError, "timeout"),
        ({"default_headers": {"Authorization": "Bearer x"}}, ValueError, "api_key"),
        ({"default_headers": {"X-A": "1\r\nX-B: 2"}}, ValueError, "control characters"),
        ({"default_headers": {"Bad Name": "1"}}, ValueError, "field name"),
        ({"default_headers": {"X-\u00c4": "1"}}, ValueError, "field name"),
        ({"default_headers": {"X-\udcff": "1"}}, ValueError, "field name"),
        ({"default_headers": {"X-A": "v\udcff"}}, ValueError, "'X-A' is not valid text"),
        ({"api_key": "abc\ud800"}, ValueError, "api_key is not valid text"),
        ({"base_url": " https://api.example.test/"}, ValueError, "surrounding whitespace"),
        ({"base_url": "https://api.example.test/\t"}, ValueError, "surrounding whitespace"),
        # Once silently altered: yarl dropped the surrogate ("/v\udcff1/" went out as "/v1/").
        ({"base_url": "https://api.example.test/v\udcff1/"}, ValueError, "base_url is not valid"),
        ({"base_url": "https://api\udcff.example.test/"}, ValueError, "base_url is not valid"),
        ({"session": object()}, TypeError, "ClientSession"),
        # Audit r12: an AttributeError, a truthy string, or a failure at the first request.
        ({"default_headers": [("X-A", "1")]}, TypeError, "default_headers must be a mapping"),
        ({"default_headers": "X-A: 1"}, TypeError, "default_headers must be a mapping"),
        ({"default_headers": {"X-A": "1", "x-a": "2"}}, ValueError, "default_headers names"),
        (
            {"allow_http": "false", "base_url": "http://api.example.test/"},
            TypeError,
            "allow_http must be a bool, not str",
        ),
        ({"allow_http": 1}, TypeError, "allow_http must be a bool, not int"),
        ({"trust_env": "false"}, TypeError, "trust_env must be a bool, not str"),
        ({"trace_configs": [object()]}, TypeError, "trace_configs must hold aiohttp.TraceConfig"),
        ({"trace_configs": "trace"}, TypeError, "trace_configs must be a list"),
        ({"trace_configs": None}, TypeError, "trace_configs must be a list"),
        ({"trace_configs": 5}, TypeError, "trace_configs must be a list"),
        ({"transport": object()}, TypeError, "transport must implement"),
    ],
)
def test_bad_configuration_is_rejected_at_construction(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    kwargs.setdefault("api_key", "valid-key")
    with pytest.raises(error, match=match) as caught:
        AsyncKernel(**kwargs)
    assert "abc" not in str(caught.value) or "api_key" not in kwargs


@pytest.mark.parametrize(
    ("base_url", "match"),
    [
        ("http://127.0.0.1:99999/", "Port out of range"),
        ("http://127.0.0.1:-1/", "Port out of range"),
        ("http://127.0.0.1:abc/", "port"),
        ("http://127.0.0.1:0/", "port 0"),
        ("http://127.0.0.1\\@api.example.test/", "backslash"),
        ("http://[::1/", "IPv6"),
        ("http://[zz]/", "IPv6"),
        # The IDNA codec's reason differs across Python versions: that it is refused counts.
        ("https://xn--a.example.test/", "not a valid URL"),
        ("https://api example.test/", "valid host name"),
        ("https://%/", "valid host name"),
        (URL("https://[::1]:0/"), "port 0"),
        ("http://[]@", "not a valid URL"),  # an IndexError in yarl 1.25's parser
    ],
)
def test_every_invalid_base_url_is_refused_naming_base_url(base_url: str | URL, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        AsyncKernel("k", base_url=base_url)
    assert "base_url" in str(caught.value)


@pytest.mark.parametrize("base_url", [123, b"https://api.example.test/"])
def test_a_base_url_that_is_not_text_is_a_type_error(base_url: object) -> None:
    with pytest.raises(TypeError, match=r"base_url must be a str or a yarl\.URL"):
        AsyncKernel("k", base_url=base_url)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(
    st.builds(
        "{}://{}{}{}".format,
        st.sampled_from(["http", "https", "ftp", "HTTP", ""]),
        st.text(max_size=20),
        st.sampled_from(["", ":0", ":1", ":80", ":65535", ":65536", ":-5", ":x", ":"]),
        st.text(max_size=10),
    )
    | st.text(max_size=40)
)
def test_a_base_url_is_accepted_whole_or_refused_by_name(base_url: str) -> None:
    # Whatever the text: a client that can build its request URL, or a ValueError or
    # TypeError naming base_url, never yarl's own unnamed error.
    refusal: Exception | None = None
    try:
        config = resolve_config(
            api_key="k",
            base_url=base_url,
            timeout=5,
            default_headers=None,
            environ={},
            allow_http=True,
        )
    except (ValueError, TypeError) as error:
        refusal = error
    if refusal is not None:
        assert "base_url" in str(refusal)
    else:
        assert config.invocations_url.with_query({"limit": "1"}).host
        assert 0 < (config.invocations_url.port or 0) < 65536


def test_plain_http_is_allowed_to_loopback_or_when_asked() -> None:
    for url in ("http://127.0.0.1:8080/", "http://[::1]:8080/", "http://localhost/"):
        assert AsyncKernel("k", base_url=url).base_url.scheme == "http"
    assert (
        AsyncKernel("k", base_url="http://api.example.test/", allow_http=True).base_url.host
        == "api.example.test"
    )


def test_timeout_fields_are_checked() -> None:
    with pytest.raises(ValueError, match=r"Timeout\.read"):
        Timeout(read=-1)
    with pytest.raises(ValueError, match=r"Timeout\.total must be a finite number"):
        Timeout(total=10**400)
    with pytest.raises(TypeError, match=r"Timeout\.total"):
        Timeout(total="60")  # type: ignore[arg-type]
    assert Timeout(total=None).total is None
