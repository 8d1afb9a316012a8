"""The API key never shows up in a repr, a str, an error, or anything an error chains to."""

import logging
import traceback

import pytest

from kernel_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncKernel,
    KernelError,
    Timeout,
)
from kernel_async.testing import KernelEmulator, ScriptedResponse

from conftest import CANARY_KEY


def everything_printable(error: BaseException) -> str:
    """The error's str, repr and full traceback, following __cause__ and __context__."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [
            str(current),
            repr(current),
            repr(vars(current)) if hasattr(current, "__dict__") else "",
        ]
        current = current.__cause__ or current.__context__
    parts.append("".join(traceback.format_exception(error)))
    return "\n".join(parts)


async def collect_errors(emulator: KernelEmulator, unused_port: int) -> list[KernelError]:
    errors: list[KernelError] = []
    async with emulator.client(max_retries=0) as client:
        for scripted in (
            ScriptedResponse(status=401, body=b'{"code":"unauthorized","message":"no"}'),
            ScriptedResponse(
                status=502, body=b"<html>bad gateway</html>", content_type="text/html"
            ),
            ScriptedResponse(status=200, body=b"[{]", headers={"X-Has-More": "false"}),
            ScriptedResponse(status=200, body=b"[]", headers={"X-Has-More": "true"}),
            ScriptedResponse(status=302, headers={"Location": "http://127.0.0.1:1/"}),
        ):
            emulator.script(scripted)
            try:
                await client.invocations.list_page()
            except KernelError as exc:
                errors.append(exc)
    async with AsyncKernel(
        CANARY_KEY, base_url=f"http://127.0.0.1:{unused_port}/", max_retries=0
    ) as client:
        try:
            await client.invocations.list_page()
        except APIConnectionError as exc:
            errors.append(exc)
    async with (
        KernelEmulator(count=1, latency=1.0, api_key=CANARY_KEY) as slow,
        slow.client(timeout=Timeout(total=0.1), max_retries=0) as client,
    ):
        try:
            await client.invocations.list_page()
        except APITimeoutError as exc:
            errors.append(exc)
    return errors


async def test_no_error_or_repr_shows_the_key(
    emulator: KernelEmulator, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors = await collect_errors(emulator, unused_tcp_port)
    assert len(errors) == 7, errors
    for error in errors:
        assert CANARY_KEY not in everything_printable(error)
    client = emulator.client()
    try:
        for text in (repr(client), str(client), repr(client._config), repr(client.invocations)):
            assert CANARY_KEY not in text
    finally:
        await client.aclose()
    assert CANARY_KEY not in caplog.text


def test_a_rejected_key_is_not_echoed() -> None:
    bad = CANARY_KEY + "\r\nX-Injected: 1"
    with pytest.raises(ValueError, match="control characters") as caught:
        AsyncKernel(bad)
    assert CANARY_KEY not in everything_printable(caught.value)


def test_a_key_that_is_not_valid_text_is_refused_and_not_echoed() -> None:
    # "k\ud800" would have gone out as "Bearer k": the surrogate is dropped on encoding.
    with pytest.raises(ValueError, match="api_key is not valid text") as caught:
        AsyncKernel(CANARY_KEY + "\ud800")
    assert CANARY_KEY not in everything_printable(caught.value)


def test_a_base_url_password_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="user or password") as caught:
        AsyncKernel("k", base_url=f"https://user:{CANARY_KEY}@api.example.test/")
    assert CANARY_KEY not in everything_printable(caught.value)
