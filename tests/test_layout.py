"""The module layout: no import cycles, and no imports hidden in functions.

Every import counts, wherever it is written (module level, inside a
function, under ``if TYPE_CHECKING:``): a cycle hidden by any of them is
still a cycle in the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

#: Source folders and the package name each one is imported as.
PACKAGES = {
    "server/hvgen_server": "hvgen_server",
    "runtime": "healthvault",
    "imaging/hvgen_imaging": "hvgen_imaging",
    "generator/hvgen": "hvgen",
    "cli/hvgen_cli": "hvgen_cli",
}


def _module_name(folder: Path, path: Path, package: str) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement may refer to (modules or their members)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".")[: None if is_package else -1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def import_graph(folder: Path, package: str) -> dict[str, set[str]]:
    """Module -> modules of the same package it imports (its own enclosing
    packages aside: they are imported before it anyway)."""
    paths = {_module_name(folder, p, package): p for p in folder.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for name in _imported(node, module, path.name == "__init__.py"):
                while name and name not in paths:
                    name = name.rpartition(".")[0]
                if name and name != module and not module.startswith(name + "."):
                    edges.add(name)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that ends where it starts), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_graph_sees_relative_and_hidden_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .. import top\n")
    (pkg / "top.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("def f():\n    from ..top import x\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.top"] == {"pkg.sub", "pkg.sub.leaf"}
    assert graph["pkg.sub.leaf"] == {"pkg.top"}
    assert graph["pkg.sub"] == {"pkg.top"}
    assert find_cycle(graph) == ["pkg.sub", "pkg.top", "pkg.sub"]


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_no_import_cycles(folder: str) -> None:
    graph = import_graph(ROOT / folder, PACKAGES[folder])
    assert len(graph) > 1
    assert find_cycle(graph) is None


def test_server_imports_only_at_module_level() -> None:
    hidden = []
    for path in sorted((ROOT / "server" / "hvgen_server").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [
                    f"{path.relative_to(ROOT)}:{node.lineno}"
                    for node in ast.walk(function)
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                ]
    assert hidden == []


def test_sql_stays_in_the_store() -> None:
    """SQL runs only in the store's backends (store/sqlite, store/postgres); store/thingsql.py
    writes the text of the things queries both run."""
    server = ROOT / "server" / "hvgen_server"
    outside = [
        str(path.relative_to(server))
        for path in sorted(server.rglob("*.py"))
        if not {"sqlite", "postgres"} & set(path.relative_to(server).parts)
        and any(
            word in path.read_text(encoding="utf-8")
            for word in ("sqlite3", "import psycopg", "from psycopg", ".execute(")
        )
    ]
    assert outside == []
