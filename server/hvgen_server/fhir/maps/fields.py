"""The engine of the element-by-element mappings (clinical types and the
measurements whose date is approximate): a :class:`Field` pairs one child
of the thing's root with one place in the resource, by the HealthVault
data type it has; an :class:`ElementMapping` is a list of fields.

HealthVault → FHIR data types: ``codable-value`` → CodeableConcept (a
vocabulary with a published code system, e.g. HealthVault's CVX-coded
immunizations, gets that system), ``approx-date-time`` → dateTime or, when
descriptive, string (a choice element ``[x]``), ``date-time`` → dateTime,
``approx-date`` → date, ``time`` → time (``HH:MM:SS``), ``person`` → a
Reference's display (the person's full name), ``string`` → string, an
integer → integer, a measured value → Quantity (a
:class:`~..mapping.Measure`, UCUM-converted on import).

Imports patch the carried thing XML (or build a new one): a field whose
FHIR value is unchanged leaves its element's bytes alone; a changed one
replaces the element, placed in schema order (:attr:`ElementMapping.order`).
This module is not a mapping of its own (it is not in :data:`.MODULES`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ..datatypes import (
    approx_date_time,
    approx_date_time_element,
    child,
    codable_element,
    concept,
    date_time,
    date_time_element,
    number,
    text,
)
from ..errors import FhirError
from ..mapping import Mapping, Measure

CVX = "http://hl7.org/fhir/sid/cvx"
#: HealthVault vocabularies whose codes may be those of a published code system
#: (HealthVault's immunization vocabularies hold CVX codes, and names in older data:
#: only a code of the system's form, :data:`CODE_FORMS`, is served as one).
PUBLISHED = {
    "urn:healthvault:wc:immunizations": CVX,
    "urn:healthvault:wc:immunizations-common": CVX,
}
_PLAIN = {v: k for k, v in reversed(list(PUBLISHED.items()))}
#: The form of a published system's codes (CVX: one to three digits).
CODE_FORMS = {CVX: re.compile(r"[0-9]{1,3}")}
_DATE_PARTS = ("y", "m", "d")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(?:\.([0-9]+))?")

Path = tuple[str | int, ...]


def get(resource: Any, path: Path) -> Any:
    """The value at ``path`` (keys and list indexes) of a resource, None when absent."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(resource, list) or len(resource) <= step:
                return None
        elif not isinstance(resource, dict):
            return None
        resource = resource[step] if isinstance(step, int) else resource.get(step)
    return resource


def fresh(value: Any) -> Any:
    """A copy of JSON data (many times faster than ``copy.deepcopy``: resources are made by the thousand)."""
    if isinstance(value, dict):
        return {k: fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fresh(v) for v in value]
    return value


def put(resource: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``value`` at ``path``, making the dicts and one-item lists on the way."""
    at: Any = resource
    for i, step in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(step, int):
            while len(at) <= step:
                at.append({} if not isinstance(nxt, int) else [])
            at = at[step]
        else:
            at = at.setdefault(step, [] if isinstance(nxt, int) else {})
    last = path[-1]
    if isinstance(last, int):
        while len(at) <= last:
            at.append(None)
    at[last] = value


@dataclass(frozen=True, eq=False)
class Field:
    """One child of the thing's root as one element of the resource."""

    tag: str  # the child of the root
    path: Path  # where in the resource; for a choice element (``choice``) its name without the type
    kind: str  # concept, approx, datetime, date, time, person, string, integer, quantity
    required: bool = False  # the schema needs it: an import without it is refused
    choice: bool = False  # approx: ``{name}DateTime`` or ``{name}String``; else descriptive text is left out
    default: Any = None  # what FHIR shows when the thing has none (it needs one); imported, it makes none
    measure: Measure | None = None  # quantity: where the value is (below the root) and its units
    #: An Observation component (path: its value element) coded (system, code, display), and other
    #: codes other tools give it (e.g. the mass concentration of what the thing holds in moles).
    component: tuple[str, str, str] | None = None
    also: tuple[str, ...] = ()

    def name(self) -> str:
        if self.component is not None:
            return f"component {self.component[1]} ({self.component[2]})"
        return ".".join(str(s) for s in self.path) + ("[x]" if self.choice else "")

    def _component(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        assert self.component is not None
        system, code, _ = self.component
        for item in resource.get("component") or []:
            codings = (item.get("code") or {}).get("coding") or [] if isinstance(item, dict) else []
            if any(isinstance(c, dict) and c.get("system") == system and c.get("code") in (code, *self.also)
                   for c in codings):  # fmt: skip
                found: dict[str, Any] = item
                return found
        return None

    def read(self, resource: dict[str, Any]) -> Any:
        """The field's value in a resource (a choice: ``{type: value}``)."""
        if self.component is not None:
            item = self._component(resource)
            return get(item, self.path) if item is not None else None
        if self.choice:
            head, name = self.path[:-1], str(self.path[-1])
            holder = get(resource, head) if head else resource
            if not isinstance(holder, dict):
                return None
            found = {k[len(name) :]: v for k, v in holder.items() if k in (f"{name}DateTime", f"{name}String")}
            return found or None
        return get(resource, self.path)

    def write(self, resource: dict[str, Any], value: Any) -> None:
        if self.component is not None:
            system, code, display = self.component
            item = {"code": {"coding": [{"system": system, "code": code, "display": display}], "text": display}}
            put(item, self.path, value)
            resource.setdefault("component", []).append(item)
        elif self.choice:
            for suffix, v in value.items():
                put(resource, (*self.path[:-1], f"{self.path[-1]}{suffix}"), v)
        else:
            put(resource, self.path, value)

    def to_fhir(self, root: etree._Element) -> Any:
        if self.kind == "quantity":
            assert self.measure is not None
            return self.measure.quantity(root)
        el = child(root, self.tag)
        if el is None:
            return None
        if self.kind == "concept":
            found = concept(el)
            for coding in found.get("coding", []):
                published = PUBLISHED.get(coding["system"])
                if published is not None and CODE_FORMS[published].fullmatch(str(coding.get("code") or "")):
                    coding["system"] = published
                    coding.pop("version", None)  # (HealthVault's vocabulary version, not the code system's)
            return found
        if self.kind == "approx":
            value, kind = approx_date_time(el)
            if self.choice:
                return {kind: value}
            return value if kind == "DateTime" else None
        if self.kind == "datetime":
            return date_time(el)
        if self.kind == "date":
            parts = [text(el, p) for p in _DATE_PARTS]
            widths = (4, 2, 2)
            return "-".join(f"{int(p):0{w}d}" for p, w in zip(parts, widths, strict=True) if p)
        if self.kind == "person":
            return {"display": text(el, "name/full") or ""}
        if self.kind == "time":
            h, m, sec, f = (int(text(el, p) or "0") for p in ("h", "m", "s", "f"))
            return f"{h:02d}:{m:02d}:{sec:02d}" + (f".{f:03d}" if f else "")
        if self.kind == "integer":
            return int(number((el.text or "").strip()))
        return (el.text or "").strip() or None  # string

    def element(self, value: Any) -> etree._Element:
        """The thing's element holding a FHIR value."""
        where = self.name()
        if self.kind == "concept":
            if not isinstance(value, dict):
                raise FhirError(422, f"{where}: a CodeableConcept is needed")
            value = copy.deepcopy(value)
            for coding in value.get("coding") or []:
                if isinstance(coding, dict) and coding.get("system") in _PLAIN:
                    coding["system"] = _PLAIN[coding["system"]]
            return codable_element(value, self.tag)
        if self.kind == "approx":
            if self.choice:
                (suffix, v), *more = value.items()
                if more:
                    raise FhirError(422, f"{where}: given twice ({', '.join(sorted(value))})")
                return approx_date_time_element(str(v), self.tag, descriptive=suffix == "String")
            return approx_date_time_element(str(value), self.tag)
        if self.kind == "datetime":
            return date_time_element(str(value), self.tag)
        el = etree.Element(self.tag)
        if self.kind == "date":
            parts = str(value).split("T")[0].split("-")  # a dateTime's time is not kept
            if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
                raise FhirError(422, f"{where}: {value!r} is not a FHIR date")
            for part, v in zip(_DATE_PARTS, parts, strict=False):
                etree.SubElement(el, part).text = str(int(v))
        elif self.kind == "time":
            found = _TIME.fullmatch(str(value))
            if found is None:
                raise FhirError(422, f"{where}: {value!r} is not a FHIR time (HH:MM:SS)")
            h, m, sec, f = found.groups()
            for part, v in (("h", h), ("m", m), ("s", sec)):
                etree.SubElement(el, part).text = str(int(v))
            if f and int(f[:3].ljust(3, "0")):
                etree.SubElement(el, "f").text = str(int(f[:3].ljust(3, "0")))
        elif self.kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise FhirError(422, f"{where}: an integer is needed")
            el.text = str(value)
        elif self.kind == "person":
            full = value.get("display") if isinstance(value, dict) else None
            if not full:
                raise FhirError(422, f"{where}: a Reference with a display (the person's name) is needed")
            etree.SubElement(etree.SubElement(el, "name"), "full").text = str(full)
        else:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise FhirError(422, f"{where}: a string is needed")
            el.text = str(value)
        return el


@dataclass(frozen=True, eq=False)
class ElementMapping(Mapping):
    """A resource type made of :class:`Field` s; :meth:`finish` and
    :meth:`patch` add what is derived from several elements (a status)."""

    fixed: tuple[tuple[str, Any], ...] = ()  # elements every resource has (e.g. a status)
    fields: tuple[Field, ...] = ()
    order: tuple[str, ...] = ()  # the root's children in schema order
    #: (system, code) of the resource's ``code``, or code systems, that make an
    #: imported resource this mapping's; none: every resource of its type is.
    by_codes: tuple[tuple[str, str], ...] = field(default=())
    by_systems: tuple[str, ...] = field(default=())

    @property
    def any_code(self) -> bool:  # type: ignore[override]
        return not self.by_codes and not self.by_systems

    def codes(self) -> tuple[tuple[str, str], ...]:
        return self.by_codes

    def claims(self, codes: set[tuple[Any, Any]]) -> bool:
        return super().claims(codes) or any(system in self.by_systems for system, _ in codes)

    def normal(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A component coded by another code a field takes (:attr:`Field.also`) as coded by the field's own."""
        also = {(f.component[0], a): f.component[1] for f in self.fields if f.component is not None for a in f.also}
        if not also or not isinstance(resource.get("component"), list):
            return resource
        components = fresh(resource["component"])
        for item in components:
            for coding in (item.get("code") or {}).get("coding") or [] if isinstance(item, dict) else []:
                if isinstance(coding, dict) and (coding.get("system"), coding.get("code")) in also:
                    coding["code"] = also[(coding["system"], coding["code"])]
                    coding.pop("display", None)
        return {**resource, "component": components}

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": self.resource_type}
        resource.update(fresh(dict(self.fixed)))
        for f in self.fields:
            value = f.to_fhir(root)
            if value is None:
                value = fresh(f.default)
            if value is not None:
                f.write(resource, value)
        self.finish(root, resource)
        return resource

    def finish(self, root: etree._Element, resource: dict[str, Any]) -> None:
        """Elements derived from the thing as a whole (none by default)."""

    def patch(self, root: etree._Element, resource: dict[str, Any], made: dict[str, Any]) -> None:
        """The thing's elements derived from resource elements as a whole (none by default)."""

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        root = copy.deepcopy(base) if base is not None else etree.Element(self.root)
        made = self.to_fhir(root) if base is not None else {}
        for f in self.fields:
            wanted, had = f.read(resource), f.read(made)
            if f.default is not None and wanted == f.default:
                wanted = had if had == f.default else None
            if wanted == had:
                continue
            if f.kind == "quantity":
                assert f.measure is not None
                if wanted is None:
                    self.drop(root, f.tag)
                    continue
                value = f.measure.thing_value(wanted, f"{self.resource_type} {f.name()}")
                f.measure.set(root, value, self._before(f.tag.split("/")[0]))
                continue
            self.drop(root, f.tag)
            if wanted is not None:
                self.place(root, f.element(wanted))
        self.patch(root, resource, made)
        for f in self.fields:
            if f.required and child(root, f.tag) is None:
                raise FhirError(422, f"{self.resource_type} ({self.root}): {f.name()} is needed")
        return root

    def drop(self, root: etree._Element, tag: str) -> None:
        old = child(root, tag)
        if old is not None:
            old.getparent().remove(old)

    def _before(self, tag: str) -> tuple[str, ...]:
        """The schema predecessors of ``tag``, nearest first."""
        return tuple(reversed(self.order[: self.order.index(tag)]))

    def place(self, root: etree._Element, el: etree._Element) -> None:
        """Put ``el`` in place of its namesake, or after its schema predecessors."""
        old = child(root, str(el.tag))
        if old is not None:
            root.replace(old, el)
            return
        before = set(self._before(str(el.tag)))
        anchor = next((c for c in reversed(list(root)) if c.tag in before), None)
        if anchor is not None:
            anchor.addnext(el)
        else:
            root.insert(0, el)
