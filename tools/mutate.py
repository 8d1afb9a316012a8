"""Mutation testing of the pure modules against their own focused tests.

Each mutant is one small change to one module, made on its syntax tree:

* an arithmetic, bitwise or augmented-assignment operator swapped (``+`` and ``-``, ``*`` and
  ``/``, ``//`` to ``/``, ``%`` and ``**`` to ``*``, ``|`` and ``&``, ``<<`` and ``>>``);
* a comparison swapped (``<`` and ``<=``, ``>`` and ``>=``, ``==`` and ``!=``, ``in`` and
  ``not in``, ``is`` and ``is not``), ``and`` and ``or`` swapped, a ``not`` or unary minus
  removed;
* a constant changed (a number ``n`` to ``n + 1``, ``True`` and ``False`` swapped, a string
  ``s`` to ``"XX" + s + "XX"``);
* a statement inside a function deleted (replaced by ``pass``).

Left alone, because a change there says nothing about the tests: docstrings, annotations,
``__all__``, and the text of exception messages and f-strings.

A mutant is *killed* when the module's focused test files fail (or time out) with it in place.
Each mutant runs in a child forked from a parent that has already imported pytest and the
third-party dependencies but not ``kernel_async``; an import hook in the child serves the
mutated module, so a run costs a pytest session, not an interpreter start.

A surviving mutant that changes nothing observable (an equivalent mutant) is listed with the
reason in ``tests/mutation-survivors.txt``; the run fails when a module is under ``--fail-under``
and has a survivor not listed there.

Usage: ``python tools/mutate.py [--module _retry ...] [--jobs 2] [--show-survivors]``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.abc
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

TOOL_VERSION = "1.0"
ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "kernel_async"

# The pure modules and the test files that are theirs alone.
FOCUSED_TESTS: dict[str, tuple[str, ...]] = {
    "_walk": (
        "tests/test_walk.py",
        "tests/test_walk_regressions.py",
        "tests/test_resume_search.py",
    ),
    "_walk_placement": (
        "tests/test_walk.py",
        "tests/test_walk_regressions.py",
        "tests/test_resume_search.py",
    ),
    "_walk_churn": ("tests/test_walk.py", "tests/test_walk_regressions.py"),
    "_anchor": (
        "tests/test_anchor.py",
        "tests/test_walk.py",
        "tests/test_resume.py",
        "tests/test_resume_search.py",
    ),
    "_anchor_pages": (
        "tests/test_anchor.py",
        "tests/test_walk.py",
        "tests/test_resume_search.py",
    ),
    "_guard": ("tests/test_guard.py",),
    "_window": ("tests/test_window.py",),
    "_resume": ("tests/test_resume.py",),
    "_resume_search": ("tests/test_resume_search.py",),
    "_timestamps": ("tests/test_timestamps.py",),
    "_protocol": ("tests/test_protocol.py",),
    "_retry": ("tests/test_retry.py",),
    "_params": ("tests/test_params.py",),
    "_compiled": ("tests/test_compiled_path.py",),
    "_tls": ("tests/test_tls.py",),
    "_throttle": ("tests/test_throttle.py",),
}
SURVIVORS_FILE = ROOT / "tests" / "mutation-survivors.txt"

_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&", ast.LShift: "<<", ast.RShift: ">>",
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}  # fmt: skip


@dataclass(frozen=True)
class Site:
    """One mutation: where, what, and the source line it changes (the survivor list's key)."""

    index: int
    line: int
    scope: str
    description: str
    source_line: str
    occurrence: int = 1  # the same change to the same text in the same function, counted

    def key(self, module: str) -> str:
        repeat = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{module}.py | {self.scope} | {self.source_line} | {self.description}{repeat}"


class _Walker:
    """Walks a module tree in a fixed order, numbering every mutation site.

    With ``target`` set, it applies that site's mutation in place and stops counting there.
    """

    def __init__(self, lines: Sequence[str], target: int | None = None) -> None:
        self.lines = lines
        self.target = target
        self.sites: list[Site] = []
        self.scope: list[str] = []
        self._seen: dict[tuple[str, str, str], int] = {}

    def _site(self, node: ast.AST, description: str) -> bool:
        line = getattr(node, "lineno", 0)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        scope = ".".join(self.scope) or "<module>"
        same = (scope, description, text)
        occurrence = 1 + self._seen.get(same, 0)
        self._seen[same] = occurrence
        self.sites.append(Site(len(self.sites), line, scope, description, text, occurrence))
        return self.target == len(self.sites) - 1

    def walk(self, node: ast.AST, *, in_function: bool = False, quiet: bool = False) -> None:
        for field, value in ast.iter_fields(node):
            if field in {"annotation", "returns", "type_comment"}:
                continue
            if isinstance(value, list):
                self._walk_list(node, value, in_function=in_function, quiet=quiet)
            elif isinstance(value, ast.AST):
                replacement = self._visit(value, in_function=in_function, quiet=quiet)
                if replacement is not None:
                    setattr(node, field, replacement)

    def _walk_list(
        self, parent: ast.AST, items: list[Any], *, in_function: bool, quiet: bool
    ) -> None:
        for position, item in enumerate(items):
            if not isinstance(item, ast.AST):
                continue
            if (
                isinstance(item, ast.stmt)
                and in_function
                and _deletable(parent, position, item)
                and self._site(item, "delete statement")
            ):
                items[position] = ast.copy_location(ast.Pass(), item)
                continue
            replacement = self._visit(item, in_function=in_function, quiet=quiet)
            if replacement is not None:
                items[position] = replacement

    def _visit(self, node: ast.AST, *, in_function: bool, quiet: bool) -> ast.AST | None:
        """Mutate ``node`` where it is a site; return a replacement node or ``None``."""
        if _is_docstring_or_all(node):
            return None
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                self.walk(decorator, in_function=in_function, quiet=quiet)
            self.walk(node.args, in_function=in_function, quiet=quiet)
            self.scope.append(node.name)
            self._walk_list(node, node.body, in_function=True, quiet=quiet)
            self.scope.pop()
            return None
        if isinstance(node, ast.ClassDef):
            self.scope.append(node.name)
            self.walk(node, in_function=in_function, quiet=quiet)
            self.scope.pop()
            return None
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            return None
        if isinstance(node, ast.JoinedStr):
            return None  # message text: checking every word of it would make brittle tests
        if isinstance(node, ast.Raise):
            self.walk(node, in_function=in_function, quiet=True)
            return None
        if isinstance(node, ast.BinOp | ast.AugAssign):
            swap = _BINOP_SWAPS.get(type(node.op))
            if swap is not None and self._site(
                node, f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[swap]}"
            ):
                node.op = swap()
                return None
        elif isinstance(node, ast.Compare):
            for position, op in enumerate(node.ops):
                swap_cmp = _COMPARE_SWAPS[type(op)]
                if self._site(node, f"{_SYMBOLS[type(op)]} -> {_SYMBOLS[swap_cmp]}"):
                    node.ops[position] = swap_cmp()
                    return None
        elif isinstance(node, ast.BoolOp):
            new = "or" if isinstance(node.op, ast.And) else "and"
            old = "and" if new == "or" else "or"
            if self._site(node, f"{old} -> {new}"):
                node.op = ast.Or() if new == "or" else ast.And()
                return None
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            if self._site(node, "remove not" if isinstance(node.op, ast.Not) else "remove -"):
                return node.operand
        elif isinstance(node, ast.Constant) and not (quiet and isinstance(node.value, str)):
            mutated = _mutate_constant(node.value)
            if mutated is not _NO_CHANGE and self._site(
                node, f"{_short(node.value)} -> {_short(mutated)}"
            ):
                return ast.copy_location(ast.Constant(mutated), node)
        self.walk(node, in_function=in_function, quiet=quiet)
        return None


_NO_CHANGE = object()


def _mutate_constant(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return f"XX{value}XX"
    return _NO_CHANGE


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_docstring_or_all(node: ast.AST) -> bool:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str)
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
    return isinstance(node, ast.Import | ast.ImportFrom)


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _deletable(parent: ast.AST, position: int, stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass) or _is_docstring_or_all(stmt):
        return False
    body = getattr(parent, "body", None)
    # A function's docstring is not a statement worth deleting; neither is a lone `pass`.
    return not (position == 0 and body is not None and _is_docstring_or_all(stmt))


def sites_of(source: str) -> list[Site]:
    walker = _Walker(source.splitlines())
    walker.walk(ast.parse(source))
    return walker.sites


def mutant_code(source: str, filename: str, index: int) -> Any:
    tree = ast.parse(source)
    walker = _Walker(source.splitlines(), target=index)
    walker.walk(tree)
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec")


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one module's mutated code object in place of its source."""

    def __init__(self, fullname: str, path: Path, code: Any) -> None:
        self.fullname, self.path, self.code = fullname, path, code

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.fullname:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=str(self.path))

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__file__ = str(self.path)
        exec(self.code, module.__dict__)  # noqa: S102 - running the mutant is the point


def _run_child(module: str, code: Any | None, tests: Sequence[str]) -> int:
    """In a forked child: run the focused tests, with the mutant when ``code`` is given."""
    sys.path.insert(0, str(ROOT))  # this tree's package, whatever is installed
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if code is not None:
        fullname = f"{PACKAGE}.{module}"
        path = ROOT / PACKAGE / f"{module}.py"
        sys.meta_path.insert(0, _MutantFinder(fullname, path, code))
    import pytest

    # --assert=plain: the rewriting import hook would load the module from disk, not the mutant.
    args = [*tests, "-x", "-q", "--assert=plain", "-p", "no:cacheprovider", "-p", "no:randomly"]
    return int(pytest.main(args))


def _fork(module: str, code: Any | None, tests: Sequence[str]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 3
        try:
            status = _run_child(module, code, tests)
        finally:
            os._exit(status)
    return pid


@dataclass
class Result:
    module: str
    total: int
    killed: int
    survivors: list[Site]

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0


def _baseline(module: str, tests: Sequence[str]) -> float:
    started = time.monotonic()
    _, status = os.waitpid(_fork(module, None, tests), 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{module}: the focused tests fail without any mutant: {tests}")
    return time.monotonic() - started


def run_module(module: str, *, jobs: int, progress: bool) -> Result:
    tests = [str(ROOT / name) for name in FOCUSED_TESTS[module]]
    path = ROOT / PACKAGE / f"{module}.py"
    source = path.read_text()
    sites = sites_of(source)
    timeout = 10 * _baseline(module, tests) + 10
    pending: Iterator[Site] = iter(sites)
    running: dict[int, tuple[Site, float]] = {}
    survivors: list[Site] = []
    killed = 0
    done = 0
    while True:
        while len(running) < jobs:
            site = next(pending, None)
            if site is None:
                break
            code = mutant_code(source, str(path), site.index)
            running[_fork(module, code, tests)] = (site, time.monotonic())
        if not running:
            break
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for child, (_site, started) in list(running.items()):
                if now - started > timeout:
                    os.kill(child, signal.SIGKILL)
            time.sleep(0.01)
            continue
        site, _ = running.pop(pid)
        done += 1
        if os.WIFSIGNALED(status) or os.waitstatus_to_exitcode(status) != 0:
            killed += 1
        else:
            survivors.append(site)
        if progress:
            print(f"\r{module}: {done}/{len(sites)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    survivors.sort(key=lambda s: s.index)
    return Result(module, len(sites), killed, survivors)


def listed_survivors() -> set[str]:
    """The keys of the equivalent mutants in the survivors file (``key -- reason`` lines)."""
    if not SURVIVORS_FILE.exists():
        return set()
    keys = set()
    for line in SURVIVORS_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            keys.add(line.split(" -- ", 1)[0].strip())
    return keys


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(FOCUSED_TESTS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--fail-under", type=float, default=95.0)
    parser.add_argument("--show-survivors", action="store_true")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--report-only",
        action="append",
        default=[],
        metavar="MODULE",
        help="report this module's score without failing on it",
    )
    args = parser.parse_args(argv)
    modules = args.module or list(FOCUSED_TESTS)
    if args.list:
        for module in modules:
            for site in sites_of((ROOT / PACKAGE / f"{module}.py").read_text()):
                print(f"{site.line:4d}  {site.key(module)}")
        return 0
    # The children inherit these imports, so each pays only for pytest's session.
    import aiohttp  # noqa: F401
    import attrs  # noqa: F401
    import cattrs  # noqa: F401
    import pytest  # noqa: F401
    import yarl  # noqa: F401

    assert PACKAGE not in sys.modules, "the parent must not import the package it mutates"
    listed = listed_survivors()
    failed = False
    print(f"mutation testing (tools/mutate.py {TOOL_VERSION}): killed / mutants per module")
    for module in modules:
        result = run_module(module, jobs=args.jobs, progress=sys.stderr.isatty())
        unlisted = [s for s in result.survivors if s.key(module) not in listed]
        note = ""
        if module in args.report_only:
            note = " (reported only)"
        elif result.score < args.fail_under and unlisted:
            failed = True
            note = f"  FAIL: under {args.fail_under:.0f} % with {len(unlisted)} unlisted survivors"
        listed_count = len(result.survivors) - len(unlisted)
        print(
            f"{module + '.py':16} {result.killed:4d} / {result.total:4d}  {result.score:5.1f} %"
            f"  ({listed_count} listed as equivalent){note}"
        )
        if args.show_survivors or note.strip().startswith("FAIL"):
            for site in unlisted if not args.show_survivors else result.survivors:
                print(f"    line {site.line}: {site.key(module)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
