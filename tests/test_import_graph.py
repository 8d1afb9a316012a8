"""The package's modules import one another one way: no cycle, not even for type checking.

Imports are read from the source with ``ast``, wherever they are (module level, under
``if TYPE_CHECKING:``, inside functions), so a cycle that only type checkers see counts too.
"""

import ast
from pathlib import Path

import kernel_async

PACKAGE = Path(kernel_async.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of the package, and the modules of the package it names in an import."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from package import module` imports the module; anything else, the base.
                targets |= {
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                }
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_the_source() -> None:
    graph = import_graph()
    assert "kernel_async._transport" in graph["kernel_async._client"]
    assert "kernel_async._invocations" in graph["kernel_async._client"]
    assert "kernel_async._client" in graph["kernel_async.testing._emulator"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_client_transport_and_resource_import_one_way() -> None:
    graph = import_graph()
    assert "kernel_async._client" not in graph["kernel_async._invocations"]
    assert "kernel_async._client" not in graph["kernel_async._transport"]
    assert "kernel_async._invocations" not in graph["kernel_async._transport"]


def test_what_only_reads_the_transports_values_does_not_import_the_aiohttp_transport() -> None:
    graph = import_graph()
    for reader in ("kernel_async._redact", "kernel_async.testing._memory"):
        assert "kernel_async._transport_protocol" in graph[reader]
        assert "kernel_async._transport" not in graph[reader]


def test_what_the_resource_needs_of_its_client_is_declared_apart_from_both() -> None:
    graph = import_graph()
    for user in ("kernel_async._invocations", "kernel_async._walking"):
        assert "kernel_async._client_protocol" in graph[user]
    for module in ("kernel_async._client", "kernel_async._invocations", "kernel_async._walking"):
        assert module not in graph["kernel_async._client_protocol"]


def test_the_watchs_state_machine_and_its_poll_values_import_no_io_layer() -> None:
    graph = import_graph()
    io = {"kernel_async._watch", "kernel_async._listing", "kernel_async._client"}
    for pure in ("kernel_async._watch_state", "kernel_async._watch_poll"):
        assert not graph[pure] & io, pure


def test_the_walk_plans_bases_import_neither_the_plan_nor_an_io_layer() -> None:
    graph = import_graph()
    io = {"kernel_async._listing", "kernel_async._listing_walk", "kernel_async._client"}
    bases = ("kernel_async._walk_placement", "kernel_async._walk_churn")
    for base in bases:
        assert base in graph["kernel_async._walk"]
        assert "kernel_async._walk" not in graph[base], base
    for pure in ("kernel_async._walk", *bases):
        assert not graph[pure] & io, pure


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []
