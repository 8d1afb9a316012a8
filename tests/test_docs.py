"""Every Python example in README.md and docs/ runs, against an emulator, and succeeds.

Scripts run in a subprocess with KERNEL_API_KEY and KERNEL_BASE_URL pointing at a fresh
emulator; examples that define pytest tests run under pytest with the package's plugin.
"""

import asyncio
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from kernel_async.testing import KernelEmulator

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[object]:
    found = []
    for page in PAGES:
        for number, match in enumerate(BLOCK.finditer(page.read_text()), start=1):
            found.append(pytest.param(match.group(1), id=f"{page.relative_to(ROOT)}#{number}"))
    return found


def test_the_docs_have_examples() -> None:
    assert len(examples()) >= 8


async def run(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.parametrize("code", examples())
async def test_example_runs(code: str, tmp_path: Path) -> None:
    async with KernelEmulator(count=150, seed=4) as emulator:
        env = {**os.environ, "KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        env["PYTHONWARNINGS"] = "error"
        if "def test_" in code:
            # Each test module runs in a fresh project configured for the runner it is
            # written for: anyio's marker, pytest-asyncio's strict mode, or its auto mode.
            (tmp_path / "test_example.py").write_text(code)
            scope = "asyncio_default_fixture_loop_scope = function\n"
            args = [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"]
            if "pytest.mark.anyio" in code:
                ini, args = "", [*args, "-p", "no:asyncio"]
            elif "pytest.mark.asyncio" in code:
                ini = scope
            else:
                ini = f"asyncio_mode = auto\n{scope}"
            (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}")
            status, output = await run(*args, "test_example.py", env=env, cwd=tmp_path)
            assert " passed" in output, output
        else:
            (tmp_path / "example.py").write_text(code)
            status, output = await run(sys.executable, "example.py", env=env, cwd=tmp_path)
    assert status == 0, output


def cli_examples() -> list[object]:
    """`kernel-async invocations ...` lines of console blocks (the emulator command serves
    until interrupted and has a test of its own)."""
    found = []
    for page in PAGES:
        for block in CONSOLE.finditer(page.read_text()):
            for line in block.group(1).splitlines():
                command = line.removeprefix("$ ").split(" && ")[-1].removeprefix(".venv/bin/")
                if command.startswith("kernel-async invocations"):
                    found.append(pytest.param(command, id=f"{page.relative_to(ROOT)}:{command}"))
    return found


def test_the_docs_have_cli_examples() -> None:
    assert len(cli_examples()) >= 3


@pytest.mark.parametrize("command", cli_examples())
async def test_cli_example_runs(command: str, tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "kernel-async"
    async with KernelEmulator(count=150, seed=4) as emulator:
        env = {**os.environ, "KERNEL_API_KEY": emulator.api_key, "KERNEL_BASE_URL": emulator.url}
        args = [str(executable), *shlex.split(command)[1:]]
        if args[1:3] == ["invocations", "watch"] and "--max-events" not in args:
            args += ["--max-events", "3"]  # as written, it runs until Ctrl-C
        status, output = await run(*args, env=env, cwd=tmp_path)
    assert status == 0, output
    assert output.strip()


def public_docstrings() -> list[tuple[str, str]]:
    """Every docstring the API reference renders: public objects and their public members."""
    import inspect

    import kernel_async
    import kernel_async._errors
    import kernel_async.testing

    found = [("kernel_async._errors", kernel_async._errors.__doc__ or "")]
    for module in (kernel_async, kernel_async.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            found.append((name, inspect.getdoc(obj) or ""))
            for member, value in vars(obj).items() if inspect.isclass(obj) else ():
                if not member.startswith("_"):
                    found.append((f"{name}.{member}", inspect.getdoc(value) or ""))
    return found


def test_docs_cite_nothing_a_reader_cannot_open() -> None:
    """Internal notes (FACTS.md, FIELD-NOTES) are not in the repository: say what they say."""
    cited = [
        str(page.relative_to(ROOT))
        for page in PAGES
        if re.search(r"FACTS\.md|FIELD-NOTES", page.read_text())
    ]
    cited += [name for name, doc in public_docstrings() if re.search(r"FACTS|FIELD-NOTES", doc)]
    assert cited == []


AUTOCLASS = re.compile(r"^\.\. autoclass:: (\S+)\n((?:   :.*\n)*)", re.MULTILINE)


def test_the_api_reference_renders_every_member_it_names() -> None:
    """A member named in ``:members:`` but inherited is left out by Sphinx, silently.

    Unless the directive has ``:inherited-members:``: a method a class gets from a base (the
    resource's walks and watches, mixed in) is documented only then.
    """
    import importlib

    directives = AUTOCLASS.findall((ROOT / "docs" / "api.md").read_text())
    assert len(directives) > 10
    left_out = []
    for path, options in directives:
        module, _, name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        members = re.search(r"^   :members: (.+)$", options, re.MULTILINE)
        if members is None or ":inherited-members:" in options:
            continue
        names = [member.strip() for member in members.group(1).split(",")]
        left_out += [
            f"{name}.{member}"
            for member in names
            if member not in vars(cls) and any(member in vars(base) for base in cls.__mro__[1:])
        ]
    assert left_out == []
