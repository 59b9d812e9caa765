"""The package's module graph has no circles: no module imports (at the top or inside a function)
another that imports it back, directly or through others. A circle means a helper lives in the
wrong module (docs/design.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import genbench

ROOT = Path(genbench.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """genbench module → the genbench modules it imports (the package ``genbench`` itself left out:
    its ``__init__`` re-exports the public API)."""
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {resolve(a.name) for a in node.names if a.name.startswith("genbench.")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                if base.startswith("genbench"):
                    deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else resolve(base)
                             for a in node.names}
        graph[name] = deps - {None, name, "genbench"}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_circles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_is_read_from_the_source():
    graph = import_graph()
    assert "genbench.harness.runner" in graph["genbench.harness.suite"] | graph["genbench.harness.one_model"]
    assert "genbench.cli.options" in graph["genbench.cli.run"]


def test_no_module_imports_another_that_imports_it_back():
    assert circles(import_graph()) == []
