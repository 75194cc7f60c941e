"""The exceptions of a generated package's runtime, drawn as a tree for its docstring.

Read from the source of the runtime modules the package keeps (a module left
out takes its exceptions with it): every top-level class that derives,
directly or through others, from a built-in exception. Warnings are not
drawn. A class hangs under its first base of the package; its other bases
(a built-in such as ``ValueError`` that callers catch) are named after its
module. A class with many subclasses from one module, none with subclasses
of its own, shows them as one line (``… N subclasses``).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field

#: More leaf subclasses than this, all from one module, are drawn as one line.
COLLAPSE = 8


@dataclass
class ExceptionClass:
    """One exception class of the runtime."""

    name: str
    module: str
    bases: list[str]  # simple names, as written
    children: list[ExceptionClass] = field(default_factory=list)
    parent: str | None = None

    @property
    def public(self) -> bool:
        return not self.name.startswith("_")


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _builtin(name: str, kind: type[BaseException]) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, kind)


def exception_classes(sources: Mapping[str, str]) -> dict[str, ExceptionClass]:
    """The exception classes (warnings aside) of ``sources`` (module name -> text),
    by name, each linked to its parent and children."""
    classes: dict[str, ExceptionClass] = {}
    for module, text in sorted(sources.items()):
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, ExceptionClass(node.name, module, [_base_name(b) for b in node.bases]))

    def derives(name: str, kind: type[BaseException], seen: frozenset[str] = frozenset()) -> bool:
        if _builtin(name, kind):
            return True
        cls = classes.get(name)
        if cls is None or name in seen:
            return False
        return any(derives(base, kind, seen | {name}) for base in cls.bases)

    found = {
        name: cls
        for name, cls in classes.items()
        if any(derives(b, BaseException) for b in cls.bases) and not any(derives(b, Warning) for b in cls.bases)
    }
    for cls in found.values():
        cls.parent = next((b for b in cls.bases if b in found), None)
        if cls.parent is not None:
            found[cls.parent].children.append(cls)
    for cls in found.values():
        cls.children.sort(key=lambda c: c.name)
    return found


def _others(cls: ExceptionClass) -> list[str]:
    return [b for b in cls.bases if b not in (cls.parent, "Exception", "BaseException")]


@dataclass
class Tree:
    """The drawing, and the classes it names one by one (name -> module)."""

    lines: list[str]
    named: dict[str, str]


def draw(sources: Mapping[str, str]) -> Tree:
    """The tree of every root's exceptions, one text line per class."""
    rows: list[tuple[str, str]] = []  # (connectors and name, module and other bases)
    named: dict[str, str] = {}

    def visit(cls: ExceptionClass, prefix: str, last: bool, top: bool) -> None:
        lead = "" if top else prefix + ("└── " if last else "├── ")
        rows.append((lead + cls.name, ", ".join([cls.module, *(f"also {b}" for b in _others(cls))])))
        named[cls.name] = cls.module
        inner = "" if top else prefix + ("    " if last else "│   ")
        children = [c for c in cls.children if c.public]
        modules = {c.module for c in children}
        if len(children) > COLLAPSE and len(modules) == 1 and not any(c.children for c in children):
            rows.append((inner + f"└── … {len(children)} subclasses", modules.pop()))
            return
        for i, child in enumerate(children):
            visit(child, inner, i == len(children) - 1, False)

    classes = exception_classes(sources)
    for root in sorted((c for c in classes.values() if c.parent is None and c.public), key=lambda c: c.name):
        visit(root, "", True, True)
    width = max((len(left) for left, _ in rows), default=0) + 2
    return Tree([f"{left:<{width}}{right}".rstrip() for left, right in rows], named)
