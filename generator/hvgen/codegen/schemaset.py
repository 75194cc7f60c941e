"""Load a folder of XSD files safely and check it before code generation.

The checks here exist because the code generator on its own is forgiving in
ways that would hide mistakes in a schema set: a missing import or an unknown
type silently becomes an untyped field. Every problem is collected with the
file and line it comes from (:class:`SchemaProblem`); a file with a problem
that makes it impossible to compile, and every file that imports it, is
left out of the set (:attr:`SchemaSet.excluded`), so that a schema set as
published, defects included, still compiles what can be compiled.

The W3C XML and XML Signature schemas ship with the generator: they stand in
when a schema imports one of those namespaces from a location that does not
exist (or gives none), and when a schema uses ``xml:lang`` without importing
the XML namespace at all.

Two versions of one thing type (medical image study v1 and v2) declare the
same target namespace and the same type names. They are kept apart by giving
the later file a private alias namespace while compiling; the alias never
reaches the wire because thing-type data is unqualified there.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from lxml import etree

from ..errors import SchemaError, SchemaProblem, SchemaSetError
from .schemafile import XML_NS, XMLDSIG_NS, XS, SchemaFile, ThingTypeInfo, parse_schema, thing_type_of

ALIAS_MARK = "#hvgen-version-"

#: Built-in XML Schema types (the part of the XSD namespace a schema may name).
_XS_BUILTINS = frozenset(
    """anyType anySimpleType string normalizedString token language Name NCName
    ID IDREF IDREFS ENTITY ENTITIES NMTOKEN NMTOKENS QName NOTATION boolean
    base64Binary hexBinary float double decimal integer nonPositiveInteger
    negativeInteger long int short byte nonNegativeInteger unsignedLong
    unsignedInt unsignedShort unsignedByte positiveInteger duration dateTime
    time date gYearMonth gYear gMonthDay gDay gMonth anyURI""".split()
)

__all__ = [
    "XML_NS",
    "XMLDSIG_NS",
    "SchemaError",
    "SchemaFile",
    "SchemaProblem",
    "SchemaSet",
    "SchemaSetError",
    "ThingTypeInfo",
]


def _resolve_qname(el: etree._Element, value: str) -> tuple[str, str]:
    prefix, _, local = value.rpartition(":")
    if prefix == "xml":  # bound by the XML specification itself
        return "http://www.w3.org/XML/1998/namespace", local
    ns: str | None = el.nsmap.get(prefix or None)
    if ns is None:
        if prefix:
            raise KeyError(prefix)
        ns = ""
    return ns, local


_COMPONENTS = {
    "complexType": "type",
    "simpleType": "type",
    "element": "element",
    "attribute": "attribute",
    "group": "group",
    "attributeGroup": "attributeGroup",
}

_REFERENCES = {
    ("element", "type"): "type",
    ("attribute", "type"): "type",
    ("extension", "base"): "type",
    ("restriction", "base"): "type",
    ("list", "itemType"): "type",
    ("element", "ref"): "element",
    ("attribute", "ref"): "attribute",
    ("group", "ref"): "group",
    ("attributeGroup", "ref"): "attributeGroup",
}


class SchemaSet:
    """A set of schema files reached from entry points through imports.

    ``problems`` lists what was found, ``excluded`` the files left out (with
    the reason) and :meth:`usable` the files that compile.
    """

    def __init__(self, entries: list[Path], fallbacks: dict[str, Path] | None = None) -> None:
        self.files: dict[Path, SchemaFile] = {}
        self.problems: list[SchemaProblem] = []
        self.excluded: dict[Path, str] = {}
        self.fallbacks = {ns: p.resolve() for ns, p in (fallbacks or {}).items()}
        self._broken: dict[Path, str] = {}
        for entry in entries:
            self._load(entry.resolve(), None)
        self._assign_aliases()
        self._check_references()
        self._check_type_ids()
        self._exclude()

    # -- problems ---------------------------------------------------------------

    def _problem(self, path: Path, line: int | None, message: str, fatal: bool = True) -> None:
        self.problems.append(SchemaProblem(path, line, message, fatal))
        if fatal:
            self._broken.setdefault(path, f"{path.name}:{line}: {message}" if line else message)

    def _exclude(self) -> None:
        """Leave out broken files and, transitively, every file importing one."""
        self.excluded = dict(self._broken)
        changed = True
        while changed:
            changed = False
            for path, sf in sorted(self.files.items()):
                if path in self.excluded:
                    continue
                gone = [p for p in sf.imports if p in self.excluded or p not in self.files]
                if gone:
                    self.excluded[path] = f"imports {gone[0].name}, which is left out"
                    changed = True

    def usable(self) -> list[Path]:
        """The files that compile, sorted."""
        return sorted(p for p in self.files if p not in self.excluded)

    # -- loading -------------------------------------------------------------

    def _load(self, path: Path, importer: tuple[Path, int] | None) -> SchemaFile | None:
        if path in self.files:
            return self.files[path]
        if not path.is_file():
            if importer:
                self._problem(importer[0], importer[1], f"imported schema not found: {path}")
            else:
                self._problem(path, None, "schema file not found")
            return None
        try:
            tree = parse_schema(path)
        except SchemaError as exc:
            self._problem(path, exc.line, exc.message)
            return None
        root = tree.getroot()
        sf = SchemaFile(path=path, tree=tree, target_namespace=root.get("targetNamespace", ""))
        try:
            sf.thing_type = thing_type_of(path, root)
        except SchemaError as exc:
            self._problem(path, exc.line, exc.message)
        self.files[path] = sf
        for imp in root:
            if isinstance(imp.tag, str) and imp.tag in (f"{{{XS}}}import", f"{{{XS}}}include"):
                self._load_import(sf, imp)
        return sf

    def _load_import(self, sf: SchemaFile, imp: etree._Element) -> None:
        path = sf.path
        location = imp.get("schemaLocation")
        namespace = imp.get("namespace", "") if imp.tag.endswith("import") else sf.target_namespace
        fallback = self.fallbacks.get(namespace) if imp.tag.endswith("import") else None
        target: Path | None = None
        if location and "://" not in location:
            target = (path.parent / location).resolve()
            if not target.is_file() and fallback is not None:
                self._problem(
                    path,
                    imp.sourceline,
                    f"imported schema not found: {location}; using the shipped schema of {namespace}",
                    False,
                )
                target = fallback
        elif location:  # remote
            if fallback is None:
                self._problem(path, imp.sourceline, f"remote schema location not allowed: {location}")
                return
            target = fallback
        elif fallback is not None:
            target = fallback
        if target is None:
            return
        sf.imports.append(target)
        if target != (path.parent / (location or "")).resolve():
            sf.resolved[imp] = target
        child = self._load(target, (path, imp.sourceline or 0))
        if child is None:
            return
        if imp.tag.endswith("import") and namespace != child.target_namespace:
            self._problem(
                path,
                imp.sourceline,
                f"import declares namespace {namespace!r} but {target.name} has "
                f"targetNamespace {child.target_namespace!r}",
            )

    # -- checks --------------------------------------------------------------

    def _definitions(self, sf: SchemaFile, report: bool = False) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for child in sf.tree.getroot():
            if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{XS}}}"):
                continue
            kind = _COMPONENTS.get(etree.QName(child).localname)
            name = child.get("name")
            if kind and name:
                key = (kind, name)
                if key in found and report:
                    self._problem(sf.path, child.sourceline, f"{kind} {name!r} is defined twice in this file")
                found.setdefault(key, child.sourceline or 0)
        return found

    def _assign_aliases(self) -> None:
        owners: dict[tuple[str, str, str], SchemaFile] = {}
        for path in sorted(self.files):
            sf = self.files[path]
            defs = self._definitions(sf, report=True)
            clash: SchemaFile | None = None
            for kind, name in defs:
                other = owners.get((sf.target_namespace, kind, name))
                if other is not None and other.path != sf.path:
                    clash = other
                    if not (sf.thing_type and other.thing_type):
                        self._problem(
                            sf.path,
                            defs[(kind, name)],
                            f"{kind} {name!r} in namespace {sf.target_namespace!r} is "
                            f"already defined in {other.path.name}",
                        )
                        clash = None
                        break
            if clash is not None:
                assert sf.thing_type is not None
                version = sf.thing_type.version or len(self.files)
                sf.alias = f"{sf.target_namespace}{ALIAS_MARK}{version}"
                for other in self.files.values():
                    if path in other.imports and other is not sf:
                        self._problem(
                            other.path,
                            None,
                            f"imports {path.name}, one of several versions of namespace "
                            f"{sf.target_namespace!r}; thing-type schemas cannot be imported",
                        )
            for kind, name in defs:
                owners.setdefault((sf.compiled_namespace, kind, name), sf)
        self._owners = owners

    def _visible(self, sf: SchemaFile) -> set[Path]:
        seen: set[Path] = set()
        stack = [sf.path]
        while stack:
            p = stack.pop()
            if p in seen or p not in self.files:
                continue
            seen.add(p)
            # Imports are not transitive in XSD, but includes and the
            # importer's own file are visible; one level of imports is.
            if p == sf.path:
                stack.extend(self.files[p].imports)
        return seen

    def _check_references(self) -> None:
        for sf in list(self.files.values()):
            visible = self._visible(sf)
            known: set[tuple[str, str, str]] = set()
            for p in visible:
                other = self.files[p]
                for kind, name in self._definitions(other):
                    known.add((other.target_namespace, kind, name))
            for el in sf.tree.getroot().iter(f"{{{XS}}}*"):
                local = etree.QName(el).localname
                for attr in ("type", "base", "ref", "itemType"):
                    ref_kind = _REFERENCES.get((local, attr))
                    value = el.get(attr)
                    if not ref_kind or not value:
                        continue
                    self._check_reference(sf, el, ref_kind, value, known)

    def _check_reference(
        self, sf: SchemaFile, el: etree._Element, kind: str, value: str, known: set[tuple[str, str, str]]
    ) -> None:
        try:
            ns, name = _resolve_qname(el, value)
        except KeyError as missing:
            self._problem(sf.path, el.sourceline, f"undeclared namespace prefix {missing} in {value!r}")
            return
        if ns == XS and kind == "type":
            if name not in _XS_BUILTINS:
                self._problem(sf.path, el.sourceline, f"unknown built-in type {value!r}")
            return
        if (ns, kind, name) in known:
            return
        fallback = self.fallbacks.get(ns)
        if fallback is not None and ns not in sf.implicit:
            shipped = self._load(fallback, None)
            if shipped is not None and (kind, name) in self._definitions(shipped):
                self._problem(
                    sf.path,
                    el.sourceline,
                    f"uses {value!r} without importing namespace {ns}; the shipped schema of it is used",
                    False,
                )
                sf.implicit[ns] = fallback
                sf.imports.append(fallback)
                for k, n in self._definitions(shipped):
                    known.add((ns, k, n))
                return
        where = f"namespace {ns!r}" if ns else "no namespace"
        self._problem(sf.path, el.sourceline, f"unknown {kind} {value!r} ({where}); is an import missing?")

    def _check_type_ids(self) -> None:
        seen: dict[uuid.UUID, SchemaFile] = {}
        for path in sorted(self.files):
            sf = self.files[path]
            if not sf.thing_type:
                continue
            other = seen.get(sf.thing_type.type_id)
            if other is not None:
                self._problem(
                    sf.path,
                    sf.thing_type.line,
                    f"duplicate type-id {sf.thing_type.type_id}: already declared by {other.path.name}",
                )
                continue
            seen[sf.thing_type.type_id] = sf

    # -- queries -------------------------------------------------------------

    def aliases(self) -> dict[str, str]:
        """Alias namespace -> real namespace."""
        return {sf.alias: sf.target_namespace for sf in self.files.values() if sf.alias}

    def thing_types(self) -> list[SchemaFile]:
        """Thing-type schema files, ordered by path."""
        return [self.files[p] for p in self.usable() if self.files[p].thing_type]

    def relative(self, path: Path, base: Path) -> str:
        """Path of a schema relative to the schema folder, with forward slashes."""
        return os.path.relpath(path, base).replace(os.sep, "/")
