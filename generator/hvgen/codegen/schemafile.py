"""One schema file: parsed safely, the thing type it declares, and its text as
compiled and as shipped in a generated package."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..errors import SchemaError

XS = "http://www.w3.org/2001/XMLSchema"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass
class ThingTypeInfo:
    """What a thing-type schema declares about its type."""

    type_id: uuid.UUID
    name: str
    version: int | None
    root: str
    line: int


@dataclass
class SchemaFile:
    """One parsed schema file."""

    path: Path
    tree: etree._ElementTree
    target_namespace: str
    thing_type: ThingTypeInfo | None = None
    alias: str | None = None
    imports: list[Path] = field(default_factory=list)
    #: import/include element -> the file it resolved to (where the location
    #: was missing or absent and a shipped schema stands in, that one).
    resolved: dict[etree._Element, Path] = field(default_factory=dict)
    #: Namespaces used without an import, satisfied by a shipped schema.
    implicit: dict[str, Path] = field(default_factory=dict)

    @property
    def compiled_namespace(self) -> str:
        """The namespace the classes of this file are compiled under."""
        return self.alias or self.target_namespace

    def _rewritten(self, locate: Callable[[Path], str]) -> etree._Element:
        root = copy.deepcopy(self.tree.getroot())
        for copied, original in zip(root, self.tree.getroot(), strict=False):
            target = self.resolved.get(original)
            if target is not None:
                copied.set("schemaLocation", locate(target))
        for namespace, target in sorted(self.implicit.items()):
            imp = etree.Element(f"{{{XS}}}import", namespace=namespace, schemaLocation=locate(target))
            root.insert(0, imp)
        return root

    def to_bytes(self, locate: Callable[[Path], str] = lambda target: target.as_uri()) -> bytes:
        """The schema as handed to the compiler: no DTD, alias applied, every
        import pointing (through ``locate``) at the file it resolved to."""
        root = self._rewritten(locate)
        if self.alias:
            root = _rename_namespace(root, self.target_namespace, self.alias)
        return bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))

    def package_text(self, locate: Callable[[Path], str]) -> str:
        """The schema as shipped in a generated package (for validation),
        imports relative to where ``locate`` puts each file."""
        if not self.resolved and not self.implicit:
            return self.path.read_text(encoding="utf-8")
        root = self._rewritten(locate)
        return str(etree.tostring(root, encoding="unicode"))


def schema_parser() -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network: a schema is data.
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_schema(path: Path) -> etree._ElementTree:
    try:
        tree = etree.parse(str(path), schema_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise SchemaError(path, line, f"not well-formed XML: {exc.msg}") from None
    except OSError as exc:
        raise SchemaError(path, None, f"cannot read schema: {exc}") from None
    for node in tree.iter(etree.Entity):
        raise SchemaError(path, node.sourceline, f"entity reference &{node.name}; is not allowed")
    root = tree.getroot()
    if root.tag != f"{{{XS}}}schema":
        raise SchemaError(path, root.sourceline, f"root element is {root.tag}, not xs:schema")
    return tree


def _rename_namespace(root: etree._Element, old: str, new: str) -> etree._Element:
    """Copy of a schema root with `old` replaced by `new` in targetNamespace and
    in every namespace declaration, so that QName references follow."""
    text = etree.tostring(root, encoding="unicode")
    pattern = re.compile(r'(targetNamespace|xmlns(?::[\w.-]+)?)=(["\'])' + re.escape(old) + r"\2")
    text = pattern.sub(lambda m: f"{m.group(1)}={m.group(2)}{new}{m.group(2)}", text)
    return etree.fromstring(text.encode("utf-8"), schema_parser())


def _doc_text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return " ".join("".join(el.itertext()).split()) or None


def _child(el: etree._Element, local: str) -> etree._Element | None:
    """First child with this local name, whatever its namespace: documentation
    content often sits in the schema's default (XML Schema) namespace."""
    for child in el:
        if isinstance(child.tag, str) and etree.QName(child).localname == local:
            return child
    return None


def thing_type_of(path: Path, root: etree._Element) -> ThingTypeInfo | None:
    docs = root.findall(f"{{{XS}}}annotation/{{{XS}}}documentation")
    for doc in docs:
        type_id_el = _child(doc, "type-id")
        if type_id_el is None:
            continue
        raw = _doc_text(type_id_el) or ""
        try:
            type_id = uuid.UUID(raw)
        except ValueError:
            raise SchemaError(path, type_id_el.sourceline, f"type-id {raw!r} is not a GUID") from None
        version_text = _doc_text(_child(doc, "version"))
        elements = root.findall(f"{{{XS}}}element")
        if len(elements) != 1:
            raise SchemaError(
                path,
                type_id_el.sourceline,
                f"a thing-type schema must declare exactly one global element (found {len(elements)})",
            )
        return ThingTypeInfo(
            type_id=type_id,
            name=_doc_text(_child(doc, "type-name")) or elements[0].get("name", ""),
            version=int(version_text) if version_text and version_text.isdigit() else None,
            root=elements[0].get("name", ""),
            line=type_id_el.sourceline or 0,
        )
    return None
