"""Development sessions: `nox` runs tests (3.11-3.13), lint, typecheck, typing and docs.

Every CPython 3.11-3.13 the machine has is used: the ones on PATH, and pyenv's, which pyenv
keeps off PATH (its shims answer "command not found" for a version that is installed but not
selected). Each one found is linked into .nox/pythons, put first on PATH for nox and uv
(under its versioned name only: `python3` stays the machine's default). The Pythons that are
not found are named loudly, at the start and again at the end: a skipped session is never a
silent green.

`nox -s bench`, `nox -s conformance` and `nox -s mutation` run only when named.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "plugin_oldest", "lint", "typecheck", "typing", "docs"]
# A missing 3.12 or 3.13 is skipped, also under CI=true (where nox would otherwise fail); the
# banner below says which.
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml("pyproject.toml")
# Never let uv download an interpreter: the machine's own are the ones to test.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in path.name.split("."))


def _candidates(version: str, path: str, pyenv_root: Path | None) -> Iterator[Path]:
    for directory in path.split(os.pathsep):
        if directory:
            yield Path(directory) / f"python{version}"
    if pyenv_root is not None:
        installed = sorted((pyenv_root / "versions").glob(f"{version}.*"), key=_version_key)
        for prefix in reversed(installed):  # the newest patch release first
            yield prefix / "bin" / f"python{version}"


def _real_executable(candidate: Path, version: str) -> Path | None:
    """The interpreter behind ``candidate`` if it runs and is ``version``, else ``None``."""
    if not os.access(candidate, os.X_OK) or candidate.is_dir():
        return None
    probe = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"
    try:
        result = subprocess.run(  # noqa: S603 - the machine's own interpreters
            [str(candidate), "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2 or lines[1] != version:
        return None  # a pyenv shim for a version not selected, say
    return Path(lines[0])


def find_interpreters(
    versions: Sequence[str], *, path: str, pyenv_root: Path | None
) -> dict[str, Path]:
    """Each version's interpreter that really runs: from PATH first, then pyenv's newest."""
    found: dict[str, Path] = {}
    for version in versions:
        for candidate in _candidates(version, path, pyenv_root):
            executable = _real_executable(candidate, version)
            if executable is not None:
                found[version] = executable
                break
    return found


def _pyenv_root(environ: Mapping[str, str]) -> Path | None:
    root = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    return root if root.is_dir() else None


def _link_first_on_path(interpreters: Mapping[str, Path], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("python*"):  # what an earlier run found is not evidence
        stale.unlink()
    for version, executable in interpreters.items():
        (directory / f"python{version}").symlink_to(executable)
    os.environ["PATH"] = os.pathsep.join([str(directory), os.environ.get("PATH", "")])


INTERPRETERS = find_interpreters(
    PYTHONS, path=os.environ.get("PATH", ""), pyenv_root=_pyenv_root(os.environ)
)
_link_first_on_path(INTERPRETERS, Path(__file__).resolve().parent / ".nox" / "pythons")
MISSING = [version for version in PYTHONS if version not in INTERPRETERS]


def _announce() -> None:
    found = ", ".join(f"{v} ({path})" for v, path in INTERPRETERS.items()) or "none"
    print(f"nox: Pythons found: {found}", file=sys.stderr, flush=True)
    if MISSING:
        names = ", ".join(f"tests-{version}" for version in MISSING)
        print(
            f"\n*** nox: Python {', '.join(MISSING)} NOT FOUND (looked on PATH and in pyenv's "
            f"versions): {names} SKIPPED ***\n",
            file=sys.stderr,
            flush=True,
        )


_announce()
atexit.register(_announce)


def group(name: str) -> list[str]:
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite; on the oldest Python with branch coverage (floor: 95 %)."""
    session.install("-e", ".", *group("test"))
    if session.python == PYTHONS[-1]:
        # The fast extra's decoders: the newest Python runs with both, the oldest with neither
        # (the coverage run), the others with msgspec alone (its fallback: the stdlib's json).
        session.install("orjson", "msgspec")
    elif session.python != PYTHONS[0]:
        session.install("msgspec")
    # On every core: the tests wait on loopback and subprocesses as much as they compute,
    # and each is independent of the others (its own emulator, ports picked by the OS).
    parallel = ["-n", "auto"]
    if session.python != PYTHONS[0]:
        # Coverage is measured once; tracing would only slow the other runs down.
        session.run("pytest", *parallel, *session.posargs)
        return
    session.env["COVERAGE_FILE"] = f".coverage.{session.python}"
    session.run(
        "pytest",
        *parallel,
        "--cov=kernel_async",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=95",
        *session.posargs,
    )


@nox.session(python=PYTHONS[0])
def plugin_oldest(session: nox.Session) -> None:
    """The pytest plugin in fresh projects, with the oldest runners docs/testing.md names."""
    session.install("-e", ".", "pytest==8.3.*", "pytest-asyncio==1.0.0", "anyio==4.0.0")
    session.run("pytest", "-p", "no:cacheprovider", "tests/test_pytest_plugin.py", *session.posargs)


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
    """Type-only tests of the public API and the docs' examples: mypy --strict and pyright."""
    session.install("-e", ".[fast]", *group("typecheck"), "pyright")
    session.run("mypy", "--strict", "tests/typing")
    # Every ```python block of README.md and docs/, as a reader would copy it.
    session.run("python", "tests/typing/check_docs.py")
    python = str(Path(session.bin) / "python")
    session.run("pyright", "--pythonpath", python, "tests/typing", "kernel_async")


@nox.session(python=PYTHONS[0])
def docs(session: nox.Session) -> None:
    """Build the docs with warnings as errors."""
    session.install("-e", ".", *group("docs"))
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHONS[0], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against the official SDK and raw aiohttp: `nox -s bench -- --write-docs`.

    One run measures every target of docs/benchmarks.md (about 15 minutes on 2 cores), each
    client walk in a fresh process, the contestants alternating. `-- --quick` is a two-minute
    pass for development; `-- --only a,b` runs some scenarios (grid, a, b, c, d, e, g).
    """
    # The official SDK is a benchmark contestant only, never a runtime or test dependency.
    session.install("-e", ".[fast]", "kernel[aiohttp]", "matplotlib")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHONS[0], default=False)
def conformance(session: nox.Session) -> None:
    """The official SDK and kernel-async walk the emulator in every live-data mode."""
    # The official SDK is the reference walked against, never a runtime or test dependency.
    session.install("-e", ".", "kernel")
    session.run("python", "bench/conformance.py", *session.posargs)


# The test runner the mutation scores were measured with; the mutator is tools/mutate.py
# (its TOOL_VERSION), in this repository, so the commit pins it.
MUTATION_PINS = ["pytest==9.2.0", "pytest-asyncio==1.5.0", "hypothesis==6.170.17"]


@nox.session(python=PYTHONS[0], default=False)
def mutation(session: nox.Session) -> None:
    """Mutation score per pure module against its focused tests: `nox -s mutation`.

    Every module of tools/mutate.py's FOCUSED_TESTS: _params, _protocol, _retry, _timestamps,
    _resume, _resume_search, _window, _guard, _walk (with its bases _walk_placement and
    _walk_churn), _anchor, _anchor_pages, _compiled, _tls and _throttle. Fails when a module is
    under 95 % killed with a survivor not listed (with the reason it changes nothing) in
    tests/mutation-survivors.txt.
    `-- --module _retry` narrows the run; `-- --show-survivors` lists every survivor.
    """
    session.install("-e", ".", *group("test"), *MUTATION_PINS)
    session.run("python", "tools/mutate.py", *session.posargs)
