"""The thing types the local platform accepts, and how their data is checked.

The types of the ``healthvault`` package come first. ``hvgen serve --schemas
DIR`` adds the types of other schema sets (the published catalog, or a
user's own types): each is compiled by ``hvgen generate`` into a package of
its own, which the server loads from its folder. A type-id known to several
packages is served by the first. Data of every type is checked against its
schema and its binding classes, strictly: what the codec would only warn
about is refused here.

GetThingType describes the types (:meth:`ThingTypes.definition`): each
package ships its schemas under ``xsd/`` (``registry.SCHEMAS`` maps a
type-id to its file), the types sharing a data-xml root element are the
versions of one type, and a schema's ``effective-date-element`` annotation
names where a thing's effective date is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from uuid import UUID

from lxml import etree

import healthvault
from healthvault.errors import HealthVaultXmlError
from healthvault.loading import load_generated, submodule

from .clinicaldocs import DOCUMENT_TYPES
from .errors import ServerError
from .versioning import Versions


class SchemaPackageError(ServerError):
    """A schema package given to the server cannot be used."""


@dataclass(frozen=True)
class KnownType:
    """A thing type the platform accepts."""

    type_id: str
    name: str
    element: str  # the data-xml root, unqualified as on the wire ({namespace}name: a clinical document)
    package: str  # where it comes from: "healthvault", or a schema folder
    check: Callable[[etree._Element], None]  # raises HealthVaultXmlError


@dataclass(frozen=True)
class TypeVersion:
    """One version of a thing type: its type-id, name and place in the sequence."""

    type_id: str
    name: str
    sequence: int


@dataclass(frozen=True)
class TypeDefinition:
    """What GetThingType says of a type: its name, data-xml root element,
    schema, versions and where its effective date is."""

    type_id: str
    name: str
    root: str
    package: str
    schema_file: Path | None
    versions: tuple[TypeVersion, ...]

    @cached_property
    def schema_text(self) -> str:
        """The type's schema as shipped with its package ("" if it has none)."""
        if self.schema_file is None or not self.schema_file.is_file():
            return ""
        return self.schema_file.read_text(encoding="utf-8")

    @cached_property
    def effective_date_xpath(self) -> str | None:
        """``ROOT/ELEMENT``, relative to data-xml, of the element the schema's
        documentation names as the effective date; None when it names none."""
        if not self.schema_text:
            return None
        try:
            root = etree.fromstring(self.schema_text.encode("utf-8"), etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError:
            return None
        for found in root.iterfind(f"{{{XS}}}annotation/{{{XS}}}documentation/*"):
            if isinstance(found.tag, str) and etree.QName(found).localname == "effective-date-element":
                element = (found.text or "").strip()
                return f"{self.root}/{element}" if element else None
        return None


#: The XML Schema namespace.
XS = "http://www.w3.org/2001/XMLSchema"


@dataclass
class _Source:
    label: str
    registry: ModuleType
    validation: ModuleType | None
    codec: ModuleType | None
    failure: type[Exception]  # the base error of the package's own runtime
    xsd_dir: Path

    @classmethod
    def of(cls, package: ModuleType, label: str) -> _Source:
        def optional(name: str) -> ModuleType | None:
            try:
                return submodule(package, name)
            except ImportError:  # left out of a reduced schema set
                return None

        try:
            registry = submodule(package, "registry")
        except ImportError:
            raise SchemaPackageError(f"{label} has no thing types (its package has no registry)") from None
        errors = submodule(package, "errors")
        xsd_dir = Path(str(package.__file__)).parent / "xsd"
        return cls(label, registry, optional("validation"), optional("codec"), errors.HealthVaultError, xsd_dir)

    def known(self, type_id: str) -> KnownType | None:
        cls = self.registry.thing_class(type_id)
        if cls is None:
            return None
        validation, codec, failure = self.validation, self.codec, self.failure

        def check(root: etree._Element) -> None:
            try:
                if validation is not None:
                    validation.validate_data(root, type_id)
                if codec is not None:
                    codec.decode_data(root, type_id, strict=True)
            except HealthVaultXmlError:
                raise
            except failure as exc:  # another package's runtime has its own error classes
                raise HealthVaultXmlError(str(exc)) from None

        return KnownType(type_id, str(getattr(cls, "TYPE_NAME", "")), str(cls.ELEMENT), self.label, check)

    def type_ids(self) -> list[str]:
        return [str(t) for t in self.registry.THING_TYPES]

    def definition(self, type_id: str) -> TypeDefinition | None:
        cls = self.registry.thing_class(type_id)
        if cls is None:
            return None
        root = str(cls.ELEMENT)
        versions = sorted(
            (
                TypeVersion(str(c.TYPE_ID), str(getattr(c, "TYPE_NAME", "")), getattr(c, "TYPE_VERSION", None) or 1)
                for c in self.registry.classes_for_root(root)
                if getattr(c, "TYPE_ID", None) is not None
            ),
            key=lambda v: (v.sequence, v.type_id),
        )
        relative = getattr(self.registry, "SCHEMAS", {}).get(UUID(type_id))
        return TypeDefinition(
            type_id,
            str(getattr(cls, "TYPE_NAME", "")),
            root,
            self.label,
            self.xsd_dir / relative if relative else None,
            tuple(versions),
        )


class ThingTypes:
    """Thing types by type-id: ``healthvault``'s, then those of ``packages``
    (folders of packages made by ``hvgen generate``)."""

    def __init__(self, packages: Sequence[Path] = ()) -> None:
        self._sources = [_Source.of(healthvault, "healthvault")]
        for folder in packages:
            try:
                package = load_generated(folder)
            except Exception as exc:  # an unusable folder is named with its reason
                raise SchemaPackageError(f"cannot load the schema package {folder}: {exc}") from None
            self._sources.append(_Source.of(package, str(folder)))
        self._cache: dict[str, KnownType | None] = {}
        self._definitions: dict[str, TypeDefinition | None] = {}

    def get(self, type_id: str) -> KnownType | None:
        """The type a type-id names, or None when no package knows it."""
        key = _normal(type_id)
        if key not in self._cache:
            found = None
            document = DOCUMENT_TYPES.get(key)
            if document is not None:  # a clinical document kept as given (clinicaldocs)
                found = KnownType(key, document.name, document.element, "healthvault", document.check)
            for source in self._sources:
                if found is not None:
                    break
                found = source.known(key)
            self._cache[key] = found
        return self._cache[key]

    def binding(self, type_id: str) -> type[Any] | None:
        """The binding class of a type's data-xml root (from the package that serves it)."""
        key = _normal(type_id)
        if self.get(key) is None:
            return None
        for source in self._sources:
            cls = source.registry.thing_class(key)
            if cls is not None:
                return cast("type[Any]", cls)
        return None

    def family(self, type_id: str) -> tuple[str, ...]:
        """The type-ids of a type's versions, oldest first (one: not versioned)."""
        found = self.definition(type_id)
        if found is None:
            return (_normal(type_id),)
        return tuple(v.type_id for v in found.versions if self.get(v.type_id) is not None) or (found.type_id,)

    def name(self, type_id: str) -> str:
        known = self.get(type_id)
        return known.name if known is not None else ""

    def checker(self, type_id: str) -> Callable[[etree._Element], None] | None:
        known = self.get(type_id)
        return known.check if known is not None else None

    @cached_property
    def versions(self) -> Versions:
        """The versions of the types and the transforms between them."""
        return Versions(self)

    def type_ids(self) -> list[str]:
        """Every type-id the platform accepts, in the order of its packages."""
        return list(dict.fromkeys(t for source in self._sources for t in source.type_ids()))

    def definition(self, type_id: str) -> TypeDefinition | None:
        """The definition of a type (from the package that serves it), or None."""
        key = _normal(type_id)
        if key not in self._definitions:
            found = None
            document = DOCUMENT_TYPES.get(key)
            if document is not None:  # no schema: its content is kept as given
                version = TypeVersion(key, document.name, 1)
                found = TypeDefinition(key, document.name, document.local_name, "healthvault", None, (version,))
            elif self.get(key) is not None:
                for source in self._sources:
                    found = source.definition(key)
                    if found is not None:
                        break
            self._definitions[key] = found
        return self._definitions[key]

    @cached_property
    def digest(self) -> str:
        """A digest of every type's id, package and schema: it changes when the
        types the platform accepts change."""
        h = hashlib.sha256()
        for type_id in self.type_ids():
            found = self.definition(type_id)
            if found is not None:
                h.update(f"{type_id}\0{found.package}\0{found.schema_text}\0".encode())
        return h.hexdigest()

    def count(self) -> dict[str, int]:
        """How many types each package brings that no earlier package had."""
        seen: set[str] = set()
        counts: dict[str, int] = {}
        for source in self._sources:
            new = set(source.type_ids()) - seen
            counts[source.label] = len(new)
            seen |= new
        return counts


def _normal(type_id: str) -> str:
    try:
        return str(UUID(type_id.strip()))
    except ValueError:
        return type_id
