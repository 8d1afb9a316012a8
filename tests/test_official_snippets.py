"""The official SDK's documented ways of listing invocations, run with only the imports changed.

The snippets below are the official ``kernel`` package's README (0.131.0) and api.md, as text.
Where the README shows them on ``client.deployments`` or on the sync client, they are the
same documented pattern on ``client.invocations`` (api.md: ``client.invocations.list(**params)
-> AsyncOffsetPagination[InvocationListResponse]``) in its async form ("import AsyncKernel
instead of Kernel and use await with each API call"). :func:`migrate` then changes the
imports and nothing else, and each one runs against the emulator over TCP, configured as a
user's program is: by ``KERNEL_API_KEY`` and ``KERNEL_BASE_URL``.
"""

import ast
import asyncio
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from kernel_async.testing import (
    KernelEmulator,
    ScriptedResponse,
    deployment_id_for,
    make_invocation,
)

from conftest import CANARY_KEY, NOW

README_ASYNC_PAGINATION = """\
import asyncio
from kernel import AsyncKernel

client = AsyncKernel()


async def main() -> None:
    all_invocations = []
    # Iterate through items across all pages, issuing requests as needed.
    async for invocation in client.invocations.list(
        app_name="YOUR_APP",
        limit=2,
    ):
        all_invocations.append(invocation)
    print(all_invocations)


asyncio.run(main())
"""

README_CLIENT = """\
from kernel import AsyncKernel

client = AsyncKernel()
"""

README_PAGE_METHODS = """\
first_page = await client.invocations.list(
    app_name="YOUR_APP",
    limit=2,
)
if first_page.has_next_page():
    print(f"will fetch next page using these details: {first_page.next_page_info()}")
    next_page = await first_page.get_next_page()
    print(f"number of items we just fetched: {len(next_page.items)}")

# Remove `await` for non-async usage.
"""

README_PAGE_DATA = """\
first_page = await client.invocations.list(
    app_name="YOUR_APP",
    limit=2,
)

print(
    f"the offset where the next page starts: {first_page.next_offset}"
)  # => "the offset where the next page starts: 2"
for invocation in first_page.items:
    print(invocation.id)

# Remove `await` for non-async usage.
"""

README_ERRORS = """\
import kernel
from kernel import AsyncKernel

client = AsyncKernel()

try:
    await client.invocations.list(
        app_name="YOUR_APP",
    )
except kernel.APIConnectionError as e:
    print("The server could not be reached")
    print(e.__cause__)  # an underlying Exception, likely raised within httpx.
except kernel.RateLimitError as e:
    print("A 429 status code was received; we should back off a bit.")
except kernel.APIStatusError as e:
    print("Another non-200-range status code was received")
    print(e.status_code)
    print(e.response)
"""

API_MD_LIST_PARAMS = """\
from kernel import AsyncKernel

client = AsyncKernel()

params = {
    "action_name": "analyze",
    "app_name": "YOUR_APP",
    "deployment_id": "DEPLOYMENT_ID",
    "limit": 2,
    "offset": 0,
    "query": "inv_your_app",
    "since": "2025-12-01T00:00:00Z",
    "status": "succeeded",
    "version": "1.0.0",
}
page = await client.invocations.list(**params)
async for invocation in page:
    print(invocation.id)
""".replace("DEPLOYMENT_ID", deployment_id_for("YOUR_APP", "1.0.0"))  # the emulator's

SNIPPETS = [
    README_ASYNC_PAGINATION,
    README_CLIENT,
    README_PAGE_METHODS,
    README_PAGE_DATA,
    README_ERRORS,
    API_MD_LIST_PARAMS,
]

YOUR_APP = 5  # invocations of YOUR_APP: pages of 2, 2 and 1


def migrate(source: str) -> str:
    """What a user changes: ``kernel`` becomes ``kernel_async`` in the imports."""
    source = re.sub(r"^from kernel import ", "from kernel_async import ", source, flags=re.M)
    return re.sub(r"^import kernel$", "import kernel_async as kernel", source, flags=re.M)


@pytest.mark.parametrize("source", SNIPPETS)
def test_only_the_imports_change(source: str) -> None:
    before, after = source.splitlines(), migrate(source).splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert all(old.split()[:2] in (["from", "kernel"], ["import", "kernel"]) for old, _ in changed)
    assert "kernel_async" in migrate(source) or "import" not in source


@pytest.fixture
async def emulator() -> Any:
    async with KernelEmulator(count=40, seed=7, now=NOW, api_key=CANARY_KEY) as emu:
        for n in range(YOUR_APP):
            emu.add_invocation(
                make_invocation(
                    id=f"inv_your_app_{n}",
                    app_name="YOUR_APP",
                    started_at=f"2026-01-0{n + 1}T00:00:00Z",
                )
            )
        yield emu


@pytest.fixture
def environment(emulator: KernelEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("KERNEL_API_KEY", emulator.api_key)
    monkeypatch.setenv("KERNEL_BASE_URL", emulator.url)
    return {**os.environ}


def your_app_ids(emulator: KernelEmulator) -> list[str]:
    return [item["id"] for item in emulator.list_invocations(app_name="YOUR_APP")]


async def run_script(source: str, env: dict[str, str], tmp_path: Path) -> str:
    """Run a whole program, as its user would; its standard output."""
    script = tmp_path / "snippet.py"
    script.write_text(migrate(source))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, errors.decode()
    # Standard error is not checked: this README program never closes its client, and at
    # exit aiohttp reports the session left open (docs/migration.md says to close it).
    return output.decode()


async def run_fragment(*sources: str) -> dict[str, Any]:
    """Run README fragments (top-level ``await``) in this loop, one namespace; then close
    the client they made, as the program around them would."""
    namespace: dict[str, Any] = {"__name__": "__snippet__"}
    for source in sources:
        code = compile(migrate(source), "<snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        pending = eval(code, namespace)  # the documented snippets above
        if pending is not None:
            await pending
    await namespace["client"].aclose()
    return namespace


async def test_the_readme_async_pagination_program(
    emulator: KernelEmulator, environment: dict[str, str], tmp_path: Path
) -> None:
    output = await run_script(README_ASYNC_PAGINATION, environment, tmp_path)
    assert re.findall(r"Invocation\(id='([^']+)'", output) == your_app_ids(emulator)
    assert len(your_app_ids(emulator)) == YOUR_APP


async def test_the_readme_page_methods(
    emulator: KernelEmulator, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = await run_fragment(README_CLIENT, README_PAGE_METHODS)
    assert capsys.readouterr().out == (
        "will fetch next page using these details: PageInfo(params={'offset': 2})\n"
        "number of items we just fetched: 2\n"
    )
    assert [item.id for item in namespace["next_page"].items] == your_app_ids(emulator)[2:4]
    assert [r.offset for r in emulator.requests] == [0, 2]


async def test_the_readme_page_data(
    emulator: KernelEmulator, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    await run_fragment(README_CLIENT, README_PAGE_DATA)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["the offset where the next page starts: 2", *your_app_ids(emulator)[:2]]


async def test_the_api_md_list_parameters(
    emulator: KernelEmulator, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = await run_fragment(API_MD_LIST_PARAMS)
    params = namespace["params"]
    sent = {name: str(value) for name, value in params.items()}
    assert all(
        request.query == {**sent, "offset": request.query["offset"]}
        for request in emulator.requests
    )
    filters = {k: v for k, v in sent.items() if k not in ("limit", "offset")}
    expected = [item["id"] for item in emulator.list_invocations(**filters)]
    assert len(expected) == YOUR_APP
    assert capsys.readouterr().out.split() == expected  # every page, in turn


async def test_the_readme_error_handling_on_a_rate_limit(
    emulator: KernelEmulator, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    limited = ScriptedResponse(status=429, body=b"{}", headers={"retry-after-ms": "1"})
    emulator.script(limited, limited, limited)  # the first attempt and both retries
    await run_fragment(README_ERRORS)
    assert capsys.readouterr().out == (
        "A 429 status code was received; we should back off a bit.\n"
    )


async def test_the_readme_error_handling_on_a_status_error(
    emulator: KernelEmulator,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KERNEL_API_KEY", "sk-wrong-key")
    await run_fragment(README_ERRORS)
    output = capsys.readouterr().out
    first, status, response = output.splitlines()
    assert first == "Another non-200-range status code was received"
    assert status == "401"
    assert "401" in response
    assert "sk-wrong-key" not in output


async def test_the_readme_error_handling_when_the_server_cannot_be_reached(
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KERNEL_BASE_URL", f"http://127.0.0.1:{port}/")
    await run_fragment(README_ERRORS)
    assert capsys.readouterr().out.splitlines()[0] == "The server could not be reached"
