"""Assemble the runtime of a generated package.

The runtime has two kinds of modules:

* plain Python modules (``runtime/*.py``), copied into the package
  verbatim. Each one names the schema classes it imports from the generated
  ``schema`` module in a ``SCHEMA_CLASSES`` dict (stable name -> qualified
  schema name), and optional ones in ``OPTIONAL_SCHEMA_CLASSES``;
* templates (``templates/runtime/*.py.jinja2``) for what derives from the
  schema set: the ``schema`` module itself, the method table, the package
  docstring and public names (with the tree of the kept modules'
  exceptions, :mod:`.exceptiontree`). A template that needs schema classes says so with
  ``{% set requires = "QNAME ..." %}``.

A module whose schema classes are missing is left out, and so is every
module that imports a left-out module; the package docstring lists them.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from ..errors import SchemaError
from .exceptiontree import draw

#: Modules of a generated package that no runtime part provides.
GENERATED = frozenset({"bindings", "schema"})


class _Symbol(Protocol):
    @property
    def module(self) -> str: ...

    @property
    def name(self) -> str: ...

    def import_line(self, alias: str | None = None) -> str: ...


@dataclass
class Part:
    """One runtime module: where it comes from and what it needs."""

    name: str
    source: Path
    template: bool
    needs: dict[str, str] = field(default_factory=dict)  # stable name -> qname
    optional: dict[str, str] = field(default_factory=dict)
    imports: set[str] = field(default_factory=set)  # sibling modules it imports
    summary: str = ""
    text: str = ""


def _literal_dict(tree: ast.Module, name: str, path: Path) -> dict[str, str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value_node = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value_node = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name:
            try:
                value = ast.literal_eval(value_node)
            except ValueError:
                raise SchemaError(path, node.lineno, f"{name} must be a literal dict") from None
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise SchemaError(path, node.lineno, f"{name} must map names to qualified names")
            return value
    return {}


def _analyze(part: Part) -> None:
    """Fill in what a module imports and which schema classes it takes."""
    try:
        tree = ast.parse(part.text, filename=str(part.source))
    except SyntaxError as exc:
        raise SchemaError(part.source, exc.lineno, f"does not parse: {exc.msg}") from None
    part.summary = (ast.get_docstring(tree) or "").strip().split("\n")[0].rstrip(".")
    from_schema: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module is None:
            part.imports.update(alias.name for alias in node.names)
            continue
        top = node.module.split(".")[0]
        part.imports.add(top)
        if node.module == "schema":
            from_schema.update(alias.name for alias in node.names)
    if part.template:
        return
    part.needs = _literal_dict(tree, "SCHEMA_CLASSES", part.source)
    part.optional = _literal_dict(tree, "OPTIONAL_SCHEMA_CLASSES", part.source)
    tables = {"THING_TYPES", "SCHEMAS", "ROOTS", "REQUEST_INFO", "RESPONSE_INFO"}
    undeclared = from_schema - set(part.needs) - set(part.optional) - tables
    if undeclared:
        raise SchemaError(
            part.source,
            None,
            "imports from .schema without declaring it in SCHEMA_CLASSES: " + ", ".join(sorted(undeclared)),
        )


def load_plain(runtime_dir: Path) -> list[Part]:
    """The plain runtime modules, analyzed."""
    parts = []
    for path in sorted(runtime_dir.glob("*.py")):
        part = Part(path.stem, path, template=False, text=path.read_text(encoding="utf-8"))
        _analyze(part)
        parts.append(part)
    return parts


@dataclass
class Assembly:
    """The runtime files of one package and what was left out."""

    files: dict[str, str]
    verbatim: set[str]  # paths copied unchanged (never reformatted)
    left_out: list[tuple[str, str]]


def assemble(
    package: str,
    runtime_dir: Path,
    template_dir: Path,
    symbols: Mapping[str, _Symbol],
    context: dict[str, Any],
) -> Assembly:
    """Choose the runtime modules the schema set supports and render them.

    ``symbols`` maps every qualified schema name to its generated class;
    ``context`` is what templates see besides the names added here.
    """
    plain = load_plain(runtime_dir)
    left_out: dict[str, str] = {}
    for part in plain:
        missing = [q for q in part.needs.values() if q not in symbols]
        if missing:
            left_out[part.name] = f"needs {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")

    env = Environment(
        loader=FileSystemLoader(str(template_dir)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    templates = sorted(p for p in template_dir.glob("*.py.jinja2"))
    template_names = {t.name[: -len(".py.jinja2")] for t in templates}
    known = {p.name for p in plain} | template_names | GENERATED

    def needed_exports(parts: list[Part]) -> list[tuple[str, _Symbol]]:
        exports: dict[str, _Symbol] = {}
        for part in parts:
            wanted = dict(part.needs)
            wanted.update({k: v for k, v in part.optional.items() if v in symbols})
            for name, qname in wanted.items():
                symbol = symbols[qname]
                other = exports.get(name)
                if other is not None and (other.module, other.name) != (symbol.module, symbol.name):
                    raise SchemaError(part.source, None, f"{name} names two different schema classes")
                exports[name] = symbol
        for t in context.get("thing_types", []):
            exports.setdefault(t.alias, t.symbol)
        for m in context.get("methods", []):
            exports.setdefault(m.alias, m.symbol)
        return sorted(exports.items(), key=lambda item: (item[1].module, item[0].lower()))

    def has(*qnames: str) -> bool:
        return all(q in symbols for q in qnames)

    # Templates are rendered once the set of plain modules is known, because
    # the schema module exports what the included modules need.
    rendered: dict[str, Part] = {}
    while True:
        for part in plain:
            if part.name in left_out:
                continue
            unknown = part.imports - known
            if unknown:
                raise SchemaError(part.source, None, f"imports unknown module(s) {sorted(unknown)}")
            gone = sorted(part.imports & set(left_out))
            if gone:
                left_out[part.name] = f"imports {gone[0]}, which is left out"
        kept = [p for p in plain if p.name not in left_out]
        full = dict(context)
        full.update(
            package=package,
            exports=needed_exports(kept),
            has=has,
            modules=[],
            left_out=[],
            exception_tree=[],
            exceptions={},
        )
        rendered = {}
        changed = False
        for template in templates:
            name = template.name[: -len(".py.jinja2")]
            if name in left_out:
                continue
            try:
                module = env.get_template(template.name).make_module(full)
            except TemplateError as exc:
                line = getattr(exc, "lineno", None)
                raise SchemaError(template, line, f"template error: {exc}") from None
            needed = str(getattr(module, "requires", "")).split()
            if needed and not has(*needed):
                missing = [q for q in needed if q not in symbols]
                left_out[name] = f"needs {missing[0]}"
                changed = True
                continue
            part = Part(name, template, template=True, text=str(module))
            _analyze(part)
            rendered[name] = part
        for part in rendered.values():
            gone = sorted(part.imports & set(left_out))
            if gone and part.name != "__init__":
                left_out[part.name] = f"imports {gone[0]}, which is left out"
                changed = True
        if not changed:
            break

    kept = [p for p in plain if p.name not in left_out]
    summaries = sorted(
        [(p.name, p.summary) for p in kept] + [(p.name, p.summary) for p in rendered.values() if p.name != "__init__"]
    )
    files: dict[str, str] = {}
    verbatim: set[str] = set()
    for part in kept:
        path = f"{package}/{part.name}.py"
        files[path] = part.text
        verbatim.add(path)
    notes = sorted(left_out.items())
    tree = draw({p.name: p.text for p in kept})
    for name, part in rendered.items():
        text = part.text
        if name == "__init__":
            full = dict(context)
            full.update(
                package=package,
                exports=[],
                has=has,
                modules=summaries,
                left_out=notes,
                exception_tree=tree.lines,
                exceptions=tree.named,
            )
            text = str(env.get_template("__init__.py.jinja2").make_module(full))
        files[f"{package}/{name}.py"] = text
    return Assembly(files=files, verbatim=verbatim, left_out=notes)
