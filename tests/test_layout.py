"""The module layout: which package may import which, no import cycles, no
imports hidden in functions, modules of at most 500 lines, and one exception
root per package, drawn in its docstring.

Every import counts, wherever it is written (module level, inside a
function, under ``if TYPE_CHECKING:``): a cycle or a layer crossed by any of
them is still one in the design.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import architecture
from .conftest import ROOT

#: The package map and the layer rules are written once, in the tables of
#: docs/architecture.md; these are what the document says.
#: Package -> the project's packages it may import.
MAY_IMPORT = architecture.may_import()
#: Source folders and the package name each one is imported as (the
#: runtime's hand-written modules are checked in their own folder too).
PACKAGES = {
    folder: package for package, folder in architecture.package_folders().items() if package != "healthvault"
} | {"runtime": "healthvault"}

#: Folders of hand-written Python whose modules stay under the size limit.
HAND_WRITTEN = ["generator", "cli", "server", "imaging", "runtime", "tests", "bench"]
MAX_LINES = 500


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


#: Server modules that may import inside a function, and why.
LATE_IMPORTS = {
    # the shared store's modules (psycopg, boto3) only where a server is configured to use them
    "server/hvgen_server/backends.py",
}


def test_server_imports_only_at_module_level() -> None:
    hidden = []
    for path in sorted((ROOT / "server" / "hvgen_server").rglob("*.py")):
        if str(path.relative_to(ROOT)) in LATE_IMPORTS:
            continue
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
    """SQL runs only in the store's backends (store/sqlite, store/postgres): the tables,
    written once in store/sql, run it through a backend's adapter."""
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


# -- the package map ------------------------------------------------------------------------------


def imported_packages(folder: Path) -> dict[str, set[str]]:
    """Module file (from the package folder) -> the project's packages it imports, absolutely."""
    ours = set(MAY_IMPORT)
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(folder.parent))] = names & ours
    return found


def layer_violations(folder: Path, package: str) -> list[str]:
    return [
        f"{module} imports {other}"
        for module, imported in imported_packages(folder).items()
        for other in sorted(imported - MAY_IMPORT[package] - {package})
    ]


def test_layer_checker_sees_a_crossing(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "ok.py").write_text("import healthvault.codec\nfrom lxml import etree\n")
    (pkg / "bad.py").write_text("def f():\n    from hvgen_cli import main\n")
    assert layer_violations(pkg, "hvgen_server") == ["pkg/bad.py imports hvgen_cli"]


@pytest.mark.parametrize("folder", sorted([*PACKAGES, "generated/healthvault"]))
def test_packages_import_only_what_the_map_allows(folder: str) -> None:
    package = "healthvault" if folder in ("runtime", "generated/healthvault") else PACKAGES[folder]
    assert imported_packages(ROOT / folder)
    assert layer_violations(ROOT / folder, package) == []


def test_the_map_keeps_the_build_step_and_the_command_line_out_of_the_libraries() -> None:
    for package in ("healthvault", "hvgen_server", "hvgen_imaging"):
        assert not {"hvgen", "hvgen_cli"} & MAY_IMPORT[package]
    assert not {"hvgen_server", "hvgen_imaging", "hvgen_cli"} & MAY_IMPORT["hvgen"]
    assert all("hvgen_cli" not in allowed for allowed in MAY_IMPORT.values())


# -- module size ----------------------------------------------------------------------------------


def test_modules_stay_under_the_size_limit() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for name in HAND_WRITTEN
        for path in sorted((ROOT / name).rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert long == []


# -- one exception root per package ---------------------------------------------------------------


@dataclass
class Drawn:
    """One line of an exception tree drawn in a docstring."""

    depth: int
    name: str  # a class name, or "…" for subclasses drawn as one line
    module: str
    also: set[str]
    count: int = 0


def drawn_tree(doc: str, root: str) -> list[Drawn]:
    """The tree that starts at the line naming ``root`` (connectors ├── └── │,
    four columns a level; then two spaces or more, the module, ``also`` bases)."""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"\s*{root}\s{{2,}}\S", line)), None)
    if start is None:
        return []
    indent = len(lines[start]) - len(lines[start].lstrip())
    tree = []
    for line in lines[start:]:
        if not line.strip() or not line.startswith(" " * indent):
            break
        body = line[indent:]
        lead = re.match(r"[│├└─ ]*", body)
        assert lead is not None and lead.end() % 4 == 0, line
        name, where = re.split(r"\s{2,}", body[lead.end() :].strip(), maxsplit=1)
        module, *others = [part.strip() for part in where.split(",")]
        assert all(o.startswith("also ") for o in others), line
        collapsed = re.fullmatch(r"… (\d+) subclasses", name)
        tree.append(
            Drawn(
                lead.end() // 4,
                "…" if collapsed else name,
                module,
                {o.removeprefix("also ") for o in others},
                int(collapsed.group(1)) if collapsed else 0,
            )
        )
    return tree


def exception_classes(package: str) -> list[type[BaseException]]:
    """Every exception class (warnings aside) the package's modules define."""
    top = importlib.import_module(package)
    names = [package] + [
        m.name for m in pkgutil.walk_packages(top.__path__, package + ".") if not m.name.endswith("__main__")
    ]
    found: dict[str, type[BaseException]] = {}
    for name in names:
        for value in vars(importlib.import_module(name)).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and not issubclass(value, Warning)
                and value.__module__.split(".")[0] == package
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def root_problems(package: str, classes: list[type[BaseException]], doc: str) -> list[str]:
    """What is wrong with the package's exceptions: not one root, or a tree in
    its docstring that differs from the classes."""
    roots = [c for c in classes if not any(b in classes for b in c.__bases__)]
    if not classes:
        return []
    if len(roots) != 1:
        return [f"{package} has {len(roots)} exception roots: {sorted(c.__name__ for c in roots)}"]
    (root,) = roots
    problems = [f"{c.__name__} does not derive from {root.__name__}" for c in classes if not issubclass(c, root)]
    tree = drawn_tree(doc, root.__name__)
    if not tree:
        return problems + [f"the docstring of {package} does not draw the tree of {root.__name__}"]
    by_name = {c.__name__: c for c in classes}
    assert len(by_name) == len(classes), "two exception classes of one name"
    stack: list[str] = []
    shown: set[str] = set()
    collapsed: dict[str, tuple[str, int]] = {}  # parent -> (module, count)
    for line in tree:
        del stack[line.depth :]
        parent = stack[-1] if stack else None
        if line.name == "…":
            collapsed[parent or ""] = (line.module, line.count)
            continue
        cls = by_name.get(line.name)
        if cls is None:
            problems.append(f"{line.name} is drawn but is no exception class of {package}")
            stack.append(line.name)
            continue
        shown.add(line.name)
        if cls.__module__ != f"{package}.{line.module}":
            problems.append(f"{line.name} is drawn in {line.module}, defined in {cls.__module__}")
        bases = {b.__name__ for b in cls.__bases__} - {"Exception"}
        drawn = ({parent} if parent else set()) | line.also
        if bases != drawn:
            problems.append(f"{line.name} is drawn with bases {sorted(drawn)}, has {sorted(bases)}")
        stack.append(line.name)
    for cls in classes:
        if cls.__name__ in shown or cls.__name__.startswith("_"):
            continue
        parent = next(b.__name__ for b in cls.__bases__ if b in classes)
        if parent not in collapsed:
            problems.append(f"{cls.__name__} is not drawn in the docstring of {package}")
    for parent, (module, count) in collapsed.items():
        hidden = [
            c
            for c in classes
            if c.__name__ not in shown and not c.__name__.startswith("_") and by_name.get(parent) in c.__bases__
        ]
        if len(hidden) != count or any(c.__module__ != f"{package}.{module}" for c in hidden):
            problems.append(f"'… {count} subclasses' of {parent} stands for {len(hidden)} classes")
    return problems


def test_root_checker_finds_what_is_wrong() -> None:
    class Root(Exception):
        __module__ = "pkg.errors"

    class Child(Root, ValueError):
        __module__ = "pkg.errors"

    class Leaf(Child):
        __module__ = "pkg.leaves"

    class Other(Exception):
        __module__ = "pkg.other"

    classes: list[type[BaseException]] = [Root, Child, Leaf]
    good = "Doc.\n\n    Root           errors\n    └── Child      errors, also ValueError\n        └── Leaf   leaves\n"
    assert root_problems("pkg", classes, good) == []
    assert root_problems("pkg", [*classes, Other], good) == ["pkg has 2 exception roots: ['Other', 'Root']"]
    assert root_problems("pkg", classes, good.replace(", also ValueError", "")) == [
        "Child is drawn with bases ['Root'], has ['Root', 'ValueError']"
    ]
    assert root_problems("pkg", classes, good.replace("        └── Leaf   leaves\n", "")) == [
        "Leaf is not drawn in the docstring of pkg"
    ]
    assert root_problems("pkg", classes, good.replace("Leaf   leaves", "Leaf   errors")) == [
        "Leaf is drawn in errors, defined in pkg.leaves"
    ]
    collapsed = good.replace("└── Leaf   leaves", "└── … 1 subclasses   leaves")
    assert root_problems("pkg", classes, collapsed) == []
    assert root_problems("pkg", classes, collapsed.replace("… 1", "… 2")) == [
        "'… 2 subclasses' of Child stands for 1 classes"
    ]
    assert root_problems("pkg", classes, "no tree") == ["the docstring of pkg does not draw the tree of Root"]


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_one_exception_root_per_package_drawn_in_its_docstring(package: str) -> None:
    classes = exception_classes(package)
    assert classes or package == "hvgen_cli"
    assert root_problems(package, classes, importlib.import_module(package).__doc__ or "") == []


def test_the_architecture_document_maps_every_package() -> None:
    """docs/architecture.md's tables name each package the project ships, with
    its folder, and say for each what it may import."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = {
        name: folder
        for name, folder in project["tool"]["setuptools"]["package-dir"].items()
        if "." not in name and name != "healthvault"
    } | {"healthvault": "generated/healthvault"}
    assert architecture.package_folders() == shipped
    assert set(MAY_IMPORT) == set(shipped)
    assert all(allowed <= set(shipped) for allowed in MAY_IMPORT.values())


def test_the_map_is_read_from_the_document() -> None:
    text = "| package | may import |\n| --- | --- |\n| `a` | — |\n| `b` | `a`, `c` |\n\nafter\n"
    assert architecture.may_import(text) == {"a": set(), "b": {"a", "c"}}
    text = "| package | folder | what |\n| --- | --- | --- |\n| `a` | `src/a` | A |\n"
    assert architecture.package_folders(text) == {"a": "src/a"}
    with pytest.raises(AssertionError):
        architecture.may_import("no table here")


def test_the_tables_written_once_know_no_database() -> None:
    """store/sql (the tables of every SQL backend) reaches a database only
    through a backend's adapter: no driver, no connection of its own."""
    tables = ROOT / "server" / "hvgen_server" / "store" / "sql"
    drivers = ("sqlite3", "psycopg", ".execute(", ".cursor(", "sqlite_master", "pg_")
    found = [
        f"{path.name}: {word}"
        for path in sorted(tables.rglob("*.py"))
        for word in drivers
        if word in path.read_text(encoding="utf-8")
    ]
    assert len(list(tables.glob("*.py"))) >= 8
    assert found == []
