"""Thing type versioning: things read in the version an application supports.

The versions of a type are the types sharing its data-xml root element
(:meth:`ThingTypes.definition`). An application says which versions it
reads and writes by its registration (``hvgen app versions``, kept with the
application) and, per request, by ``<format><type-version-format>`` in
GetThings (which takes precedence for the types it names). For a type of
which the application names versions:

- GetThings returns a thing stored in another version transformed to the
  version the application supports (the newest it names of that type),
  with ``flags`` Downversioned (0x2) when that version is older, Upversioned
  (0x4) when newer. A thing its supported version cannot hold (data the
  target requires is missing, or a value the target's schema refuses) is
  returned as stored, unflagged.
- A query by type-id finds the things of every version of the type.
- PutThings refuses (INVALID_THING_TYPE_VERSION, 85) an update written in
  an older version than the stored one, rather than drop what the newer
  version held; an update in a newer version upgrades the thing.

Transforms: medical image study 1 ↔ 2 are written by hand
(:mod:`.studies`); every other pair of versions of the project's types and
of the schema packages given to ``hvgen serve --schemas`` is derived from
the compiled classes' fields when first needed (:mod:`.derive`). Each
declares what it loses (:attr:`Transform.losses`).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree

from healthvault.errors import HealthVaultXmlError

from .. import thingxml
from ..appview import DOWNVERSIONED, UPVERSIONED, parse_flags
from . import studies
from .derive import Apply, Loss, Untransformable, derived, losses


class Types(Protocol):
    """What versioning needs of :class:`..thingtypes.ThingTypes`."""

    def family(self, type_id: str) -> tuple[str, ...]: ...

    def binding(self, type_id: str) -> type[Any] | None: ...

    def name(self, type_id: str) -> str: ...

    def checker(self, type_id: str) -> Callable[[etree._Element], None] | None: ...


@dataclass(frozen=True)
class Transform:
    """How data of one version of a type becomes another version's."""

    source: str
    target: str
    apply: Apply
    losses: tuple[Loss, ...]
    #: Written by hand (else derived from the classes).
    by_hand: bool = False


#: Transforms written by hand: (source, target) -> (apply, losses).
HAND_WRITTEN: dict[tuple[str, str], tuple[Apply, tuple[Loss, ...]]] = {
    (studies.V1, studies.V2): (studies.to_v2, studies.LOSSES_1_TO_2),
    (studies.V2, studies.V1): (studies.to_v1, studies.LOSSES_2_TO_1),
}


class Versions:
    """The versions of the platform's types and the transforms between them."""

    def __init__(self, types: Types) -> None:
        self.types = types
        self._transforms: dict[tuple[str, str], Transform | None] = {}

    def transform(self, source: str, target: str) -> Transform | None:
        """The transform from one version of a type to another (None when
        they are not versions of one type)."""
        key = (source, target)
        if key not in self._transforms:
            self._transforms[key] = self._make(source, target)
        return self._transforms[key]

    def _make(self, source: str, target: str) -> Transform | None:
        if source == target or target not in self.types.family(source):
            return None
        written = HAND_WRITTEN.get((source, target))
        if written is not None:
            return Transform(source, target, written[0], written[1], by_hand=True)
        src, dst = self.types.binding(source), self.types.binding(target)
        if src is None or dst is None:
            return None
        return Transform(source, target, derived(src, dst), losses(src, dst))

    def pairs(self, type_ids: Iterable[str]) -> list[tuple[str, str]]:
        """Every ordered pair of versions of one type among ``type_ids``' types."""
        found: list[tuple[str, str]] = []
        seen: set[tuple[str, ...]] = set()
        for type_id in type_ids:
            family = self.types.family(type_id)
            if len(family) > 1 and family not in seen:
                seen.add(family)
                found.extend((a, b) for a in family for b in family if a != b)
        return found

    def target(self, type_id: str, wanted: frozenset[str]) -> str | None:
        """The version to return a thing of ``type_id`` in, for an
        application that supports ``wanted`` (None: as stored)."""
        if not wanted or type_id in wanted:
            return None
        family = self.types.family(type_id)
        named = [t for t in family if t in wanted]
        return named[-1] if named else None  # the newest the application names

    def wanted(self, registered: str, requested: Iterable[str]) -> frozenset[str]:
        """The versions an application supports in a request: those the
        request names (``type-version-format``), and those of its
        registration for the types the request names none of."""
        asked = {_guid(t) for t in requested} - {""}
        covered = {f for t in asked for f in self.types.family(t)}
        kept = {t for t in (_guid(t) for t in registered.split()) if t and t not in covered}
        return frozenset(asked | kept)

    def expand(self, type_ids: Iterable[str], wanted: frozenset[str]) -> tuple[str, ...]:
        """The type ids a filter by ``type_ids`` matches: every version of a
        type of which the application supports the named one."""
        out: dict[str, None] = {}
        for type_id in type_ids:
            out[type_id] = None
            if type_id in wanted:
                out.update(dict.fromkeys(self.types.family(type_id)))
        return tuple(out)

    def convert(self, thing: etree._Element, source: str, target: str) -> int:
        """Transform a thing element (its data-xml root, type-id and flags) in
        place to ``target``; returns the flag set (0: not transformed)."""
        transform = self.transform(source, target)
        data_xml = thing.find("data-xml")
        roots = [c for c in data_xml if isinstance(c.tag, str) and c.tag != "common"] if data_xml is not None else []
        check = self.types.checker(target)
        if transform is None or not roots or check is None:
            return 0
        moved = copy.deepcopy(roots[0])
        try:
            transform.apply(moved)
            check(moved)
        except (Untransformable, HealthVaultXmlError):
            return 0
        data_xml_el = roots[0].getparent()
        assert data_xml_el is not None
        moved.tail = roots[0].tail
        data_xml_el.replace(roots[0], moved)
        family = self.types.family(source)
        flag = DOWNVERSIONED if family.index(target) < family.index(source) else UPVERSIONED
        type_el = thing.find("type-id")
        if type_el is not None:
            type_el.text = target
            type_el.set("name", self.types.name(target))
        flags_el = thingxml.child(thing, "flags")
        current = (parse_flags(flags_el.text) or 0) if flags_el is not None else 0
        thingxml.set_child(
            thing, "flags", thingxml.element("flags", str((current & ~(DOWNVERSIONED | UPVERSIONED)) | flag))
        )
        return flag


def _guid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return ""


__all__ = ["DOWNVERSIONED", "UPVERSIONED", "Loss", "Transform", "Untransformable", "Versions"]
