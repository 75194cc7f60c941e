"""What the generated package's templates are told about: where each class
lives (:class:`Symbol`), the thing types, and the platform methods paired
from their request and response schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

METHODS_NS = "urn:com.microsoft.wc.methods."
RESPONSE_NS = "urn:com.microsoft.wc.methods.response."


@dataclass(frozen=True)
class Symbol:
    """Where a generated class lives, for templates that import it."""

    module: str  # dotted, relative to the package root, e.g. "bindings.thing"
    name: str

    def import_line(self, alias: str | None = None) -> str:
        suffix = f" as {alias}" if alias and alias != self.name else ""
        return f"from .{self.module} import {self.name}{suffix}"


@dataclass(frozen=True)
class ThingTypeSymbol:
    """A thing type root class with what its schema declares."""

    symbol: Symbol
    type_id: str
    name: str
    version: int | None
    root: str
    alias: str = ""
    schema: str = ""  # path of the schema file inside the package's xsd/ folder


@dataclass(frozen=True)
class MethodInfo:
    """The ``info`` class of a method request or response schema."""

    namespace: str
    response: bool
    symbol: Symbol

    @property
    def name(self) -> str:
        """Method name with the schema's version suffix, e.g. GetThings3."""
        return self.namespace.rpartition(".")[2]

    @property
    def alias(self) -> str:
        return self.name + ("Result" if self.response else "Params")


def method_infos(symbols: dict[str, Symbol]) -> list[MethodInfo]:
    """Method info classes, from global ``info`` elements of method namespaces."""
    found = []
    for qname, symbol in sorted(symbols.items()):
        ns, _, local = qname[1:].partition("}")
        if qname.startswith("{" + METHODS_NS) and local == "info":
            found.append(MethodInfo(ns, ns.startswith(RESPONSE_NS), symbol))
    return found


@dataclass(frozen=True)
class MethodSpec:
    """A platform method: name, version and its info classes (if any)."""

    name: str
    version: int
    params: MethodInfo | None
    result: MethodInfo | None

    @property
    def constant(self) -> str:
        """UPPER_SNAKE name of the method constant, e.g. PUT_THINGS."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).upper()


def _split_version(name: str) -> tuple[str, int | None]:
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, None)


def method_specs(infos: list[MethodInfo]) -> list[MethodSpec]:
    """Pair request and response info schemas into methods.

    A request schema urn:...methods.NAME[N] is method NAME, version N (1 when
    unnumbered). Its response schema is urn:...methods.response.NAME[N], else
    ...response.NAME. Response schemas left unpaired are methods whose request
    info is empty (BeginPutBlob, AllocatePackageId...), version 1.
    """
    responses = {i.name: i for i in infos if i.response}
    used: set[str] = set()
    specs = []
    for info in (i for i in infos if not i.response):
        base, version = _split_version(info.name)
        result = responses.get(info.name) or (responses.get(base) if version else None)
        if result is not None:
            used.add(result.name)
        specs.append(MethodSpec(base, version or 1, info, result))
    for name, info in responses.items():
        if name not in used:
            base, version = _split_version(name)
            specs.append(MethodSpec(base, version or 1, None, info))
    return sorted(specs, key=lambda m: (m.name, m.version))
