"""The thing types the local platform accepts, and how their data is checked.

The types of the ``healthvault`` package come first. ``hvgen serve --schemas
DIR`` adds the types of other schema sets (the published catalog, or a
user's own types): each is compiled by ``hvgen generate`` into a package of
its own, which the server loads from its folder. A type-id known to several
packages is served by the first. Data of every type is checked against its
schema and its binding classes, strictly: what the codec would only warn
about is refused here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from uuid import UUID

from lxml import etree

import healthvault
from healthvault.errors import HealthVaultXmlError
from hvgen.loading import load_generated, submodule


class SchemaPackageError(Exception):
    """A schema package given to the server cannot be used."""


@dataclass(frozen=True)
class KnownType:
    """A thing type the platform accepts."""

    type_id: str
    name: str
    element: str  # the data-xml root, unqualified as on the wire
    package: str  # where it comes from: "healthvault", or a schema folder
    check: Callable[[etree._Element], None]  # raises HealthVaultXmlError


@dataclass
class _Source:
    label: str
    registry: ModuleType
    validation: ModuleType | None
    codec: ModuleType | None
    failure: type[Exception]  # the base error of the package's own runtime

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
        return cls(label, registry, optional("validation"), optional("codec"), errors.HealthVaultError)

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

    def get(self, type_id: str) -> KnownType | None:
        """The type a type-id names, or None when no package knows it."""
        key = _normal(type_id)
        if key not in self._cache:
            found = None
            for source in self._sources:
                found = source.known(key)
                if found is not None:
                    break
            self._cache[key] = found
        return self._cache[key]

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
