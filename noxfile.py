"""Development sessions: `nox` runs tests (3.11-3.13), lint, typecheck, typing and docs.

`nox -s bench` and `nox -s mutation` run only when named.

Interpreters that are not installed are skipped; CI makes 3.12 and 3.13 visible (.ci/run).
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck", "typing", "docs"]
# A missing 3.12 or 3.13 is skipped, also under CI=true (where nox would otherwise fail).
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml("pyproject.toml")
# Never let uv download an interpreter: the machine's own are the ones to test.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def group(name: str) -> list[str]:
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite; on the oldest Python with branch coverage (floor: 95 %)."""
    session.install("-e", ".", *group("test"))
    if session.python == PYTHONS[-1]:
        # The optional fast JSON decoder: the newest Python runs with it, the others without.
        session.install("orjson")
    if session.python != PYTHONS[0]:
        # Coverage is measured once; tracing would only slow the other runs down.
        session.run("pytest", *session.posargs)
        return
    session.env["COVERAGE_FILE"] = f".coverage.{session.python}"
    session.run(
        "pytest",
        "--cov=kernel_async",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=95",
        *session.posargs,
    )


@nox.session(python=PYTHONS[0])
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHONS[0])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (with the optional orjson, so its branch is checked)."""
    session.install("-e", ".[fast]", *group("typecheck"))
    session.run("mypy", "--strict", "kernel_async")


@nox.session(python=PYTHONS[0])
def typing(session: nox.Session) -> None:
    """Type-only tests of the public API (tests/typing/), by mypy --strict and by pyright."""
    session.install("-e", ".[fast]", *group("typecheck"), "pyright")
    session.run("mypy", "--strict", "tests/typing")
    python = str(Path(session.bin) / "python")
    session.run("pyright", "--pythonpath", python, "tests/typing", "kernel_async")


@nox.session(python=PYTHONS[0])
def docs(session: nox.Session) -> None:
    """Build the docs with warnings as errors."""
    session.install("-e", ".", *group("docs"))
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHONS[0], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against the official SDK and raw aiohttp: `nox -s bench -- --write-docs`."""
    # The official SDK is a benchmark contestant only, never a runtime or test dependency.
    session.install("-e", ".[fast]", "kernel[aiohttp]", "matplotlib")
    session.run("python", "bench/run.py", *session.posargs)


# The test runner the mutation scores were measured with; the mutator is tools/mutate.py
# (its TOOL_VERSION), in this repository, so the commit pins it.
MUTATION_PINS = ["pytest==9.2.0", "pytest-asyncio==1.5.0", "hypothesis==6.170.17"]


@nox.session(python=PYTHONS[0], default=False)
def mutation(session: nox.Session) -> None:
    """Mutation score per pure module against its focused tests: `nox -s mutation`.

    Fails when a module is under 95 % killed with a survivor not listed (with the reason it
    changes nothing) in tests/mutation-survivors.txt. `-- --module _retry` narrows the run;
    `-- --show-survivors` lists every survivor.
    """
    session.install("-e", ".", *group("test"), *MUTATION_PINS)
    # _walk.py is being rewritten: its score is reported, not enforced, until it settles.
    session.run("python", "tools/mutate.py", "--report-only", "_walk", *session.posargs)
