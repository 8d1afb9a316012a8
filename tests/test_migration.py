"""What code written for the official SDK reaches for: exc.status_code, exc.response,
model.to_dict() / to_json(), page[0], and the key's rules. Run against the emulator."""

import asyncio
import json
from datetime import datetime

import pytest

from kernel_async import (
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncKernel,
    AuthenticationError,
    ClientClosedError,
    ErrorResponse,
    Invocation,
    InvocationStatus,
    MissingAPIKeyError,
    RateLimitError,
    RetryPolicy,
    Timeout,
)
from kernel_async._protocol import status_error
from kernel_async.testing import KernelEmulator, ScriptedResponse, make_invocation

from conftest import CANARY_KEY

ERROR_BODY = b'{"code": "unauthorized", "message": "invalid API key"}'


def test_status_errors_carry_status_code_and_a_response_stand_in() -> None:
    headers = {"x-request-id": "req_1", "retry-after": "3", "Content-Type": "application/json"}
    exc = status_error(429, headers, b'{"code":"slow_down","message":"later"}', url="u")
    assert isinstance(exc, RateLimitError)
    assert exc.status_code == exc.status == 429
    response = exc.response
    assert isinstance(response, ErrorResponse)
    assert response.status_code == 429
    assert response.request_id == "req_1"  # whatever the header's case
    assert response.headers["Retry-After"] == response.headers["retry-after"] == "3"
    assert exc.headers["RETRY-AFTER"] == "3"
    assert response.content == b'{"code":"slow_down","message":"later"}'
    assert response.text == '{"code":"slow_down","message":"later"}'
    assert response.json() == {"code": "slow_down", "message": "later"}
    assert response.url == "u"
    with pytest.raises(TypeError):
        response.headers["X-New"] = "no"  # type: ignore[index]
    headers["retry-after"] = "999"  # the error keeps a copy
    assert exc.headers["Retry-After"] == "3"


def test_a_non_json_error_body_is_still_readable() -> None:
    exc = status_error(502, {}, b"<html>bad gateway</html>")
    assert exc.response.text == "<html>bad gateway</html>"
    with pytest.raises(ValueError):  # noqa: PT011 - json's own error, as httpx raises it
        exc.response.json()


async def test_a_real_401_has_a_response_and_no_credentials(emulator: KernelEmulator) -> None:
    emulator.script(ScriptedResponse(status=401, body=ERROR_BODY))
    async with emulator.client(max_retries=0) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.invocations.list_page()
    exc = caught.value
    assert exc.status_code == 401
    assert exc.response.json()["code"] == "unauthorized"
    assert exc.response.request_id == exc.request_id
    assert exc.response.request_id is not None
    # Only what the server sent: no request headers, no aiohttp object, no key.
    assert not any(
        isinstance(v, object) and "aiohttp" in type(v).__module__ for v in vars(exc).values()
    )
    seen = repr(exc.response) + str(dict(exc.response.headers)) + exc.response.text
    assert CANARY_KEY not in seen
    assert "Authorization" not in dict(exc.response.headers)


async def test_a_validation_error_from_a_response_carries_it_too(emulator: KernelEmulator) -> None:
    emulator.script(ScriptedResponse(status=200, body=b"[{]", headers={"X-Has-More": "false"}))
    async with emulator.client(max_retries=0) as client:
        with pytest.raises(APIResponseValidationError) as caught:
            await client.invocations.list_page()
    assert caught.value.status_code == 200
    assert caught.value.response is not None
    assert caught.value.response.content == b"[{]"
    # Built by hand, an invocation has no response to point at.
    with pytest.raises(APIResponseValidationError) as by_hand:
        Invocation.from_dict({"id": 1})
    assert by_hand.value.response is None


def invocation(**fields: object) -> Invocation:
    return Invocation.from_dict(
        make_invocation(
            id="inv_1",
            started_at="2025-06-01T12:34:56.123456789Z",
            finished_at="2025-06-01T12:35:00Z",
            status="failed",
            status_reason="Zürich \x1b]0;x\x07",
            **fields,
        )
    )


def test_to_dict_takes_the_official_keywords() -> None:
    inv = invocation(output=None)
    assert inv.to_dict()["started_at"] == "2025-06-01T12:34:56.123456789Z"
    assert "output" not in inv.to_dict()
    assert inv.to_dict(exclude_unset=False)["output"] is None
    python = inv.to_dict(mode="python")
    assert python["status"] is InvocationStatus.FAILED
    assert isinstance(python["started_at"], datetime)
    running = Invocation.from_dict({**inv.to_dict(), "finished_at": None, "status": "running"})
    assert "finished_at" in running.to_dict()
    assert "finished_at" not in running.to_dict(exclude_none=True)
    assert inv.to_dict(use_api_names=False) == inv.to_dict()
    with pytest.raises(ValueError, match="mode"):
        inv.to_dict(mode="yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exclude_none"):
        inv.to_dict(exclude_none="yes")  # type: ignore[arg-type]


def test_to_json_is_indented_like_the_official_sdk_and_safe_to_print() -> None:
    inv = invocation()
    text = inv.to_json()
    assert text.startswith('{\n  "id": "inv_1",')
    assert json.loads(text) == inv.to_dict()
    assert "\n" not in inv.to_json(indent=None)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\u00fc" in text  # non-ASCII escaped too
    assert Invocation.from_dict(json.loads(text)) == inv


async def test_a_page_is_a_sequence(emulator: KernelEmulator, client: AsyncKernel) -> None:
    page = await client.invocations.list_page(limit=10)
    assert page[0].id == emulator.invocations[0]["id"]
    assert page[-1] == page.items[-1]
    assert page[2:4] == page.items[2:4]
    assert page[0] in page
    assert list(reversed(page)) == list(reversed(page.items))
    assert page.index(page[3]) == 3
    with pytest.raises(IndexError):
        page[10]


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_an_empty_key_is_no_key(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "argument":
        monkeypatch.setenv("KERNEL_API_KEY", "a-good-key-that-is-not-used")
        with pytest.raises(MissingAPIKeyError, match="api_key is an empty string"):
            AsyncKernel(api_key="", base_url="http://127.0.0.1:1/")
    else:
        monkeypatch.setenv("KERNEL_API_KEY", "")
        with pytest.raises(MissingAPIKeyError, match="no API key"):
            AsyncKernel(base_url="http://127.0.0.1:1/")


async def test_a_server_that_never_answers_costs_one_read_timeout_per_attempt() -> None:
    accepted = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # and never answer
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        async with AsyncKernel(
            "k",
            base_url=f"http://127.0.0.1:{port}/",
            timeout=Timeout(total=5, connect=1, read=0.05),
            retry=RetryPolicy(max_retries=2, initial_delay=0.001),
        ) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.invocations.list_page()
    assert caught.value.limit == "read"  # the silence limit, not the attempt's total
    assert len(accepted) == 3  # the attempt and the two default retries


def test_status_error_names_match_the_official_attribute() -> None:
    exc = APIStatusError("x", status=418)
    assert exc.status_code == 418
    assert exc.response.status_code == 418
    assert exc.response.content == b""


async def test_close_is_acloses_official_name(emulator: KernelEmulator) -> None:
    client = emulator.client()
    await client.invocations.list_page()
    await client.close()  # the official SDK's spelling
    assert client.closed
    await client.close()  # safe twice, as aclose()
    with pytest.raises(ClientClosedError):
        await client.invocations.list_page()
