"""What a thing type's mapping is, and the engine of measurement observations.

A type module of :mod:`.maps` gives a :class:`Mapping`: the resource type,
the thing type-ids, the data-xml root and the published mapping it follows
(``source``), and the two conversions: :meth:`Mapping.to_fhir` (the data
XML → the resource's mapped elements) and :meth:`Mapping.to_thing` (a
resource → data XML, patched into the XML the resource carries when it
carries one, so that unchanged values keep their bytes).

Measurements are data: a :class:`Measure` says where a value is in the
thing, its unit there, the LOINC code and unit FHIR shows, and the quantity
to convert in; :class:`MeasureObservation` makes an Observation of one
measure (``valueQuantity``) or of several (``component``, as the blood
pressure panel).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lxml import etree

from . import units
from .datatypes import date_time, json_number, number, put_when, text
from .errors import FhirError

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_CATEGORY_NAMES = {"vital-signs": "Vital Signs", "laboratory": "Laboratory", "activity": "Activity"}


@dataclass(frozen=True)
class Mapping:
    """A thing type as a FHIR resource type."""

    resource_type: str
    type_ids: tuple[str, ...]
    root: str
    source: str

    #: Whether FHIR resources are made into things by this mapping (else it is served only).
    imports = True
    #: Whether every resource of its type is this mapping's, whatever its code.
    any_code = False

    def codes(self) -> tuple[tuple[str, str], ...]:
        """(system, code) of the resource's ``code`` this mapping makes: an
        imported resource with one of them is this mapping's."""
        return ()

    def claims(self, codes: set[tuple[Any, Any]]) -> bool:
        """Whether an imported resource of its type with these (system, code) is this mapping's."""
        return self.any_code or bool(codes & set(self.codes()))

    def takes(self, resource: dict[str, Any]) -> bool:
        """Whether an imported resource is this mapping's by what it holds
        (a CCR or CDA attachment), before any mapping claims it by code."""
        return False

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        raise NotImplementedError

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        raise NotImplementedError

    def normal(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource as this mapping reads it (the same by default), for
        :mod:`.keeping` to compare with the resource its thing makes."""
        return resource

    def payload(self, resource: dict[str, Any]) -> tuple[str, str] | None:
        """The default blob an imported resource's thing gets: (content type,
        base64 of its bytes); None for none."""
        return None


@dataclass(frozen=True)
class Measure:
    """One value of a thing as a coded FHIR quantity."""

    path: str  # below the data-xml root, e.g. "value/kg"
    loinc: str
    display: str
    thing_unit: str  # the UCUM code of the value as the thing holds it
    fhir_unit: str  # the UCUM code FHIR shows
    kind: str  # the quantity (units.QUANTITIES) imports convert in
    integer: bool = False  # the thing holds a whole number
    display_path: str | None = None  # a display-value dropped when the value changes

    def quantity(self, root: etree._Element) -> dict[str, Any] | None:
        raw = text(root, self.path)
        if raw is None:
            return None
        if self.thing_unit == self.fhir_unit:  # no conversion: the number as written (the common case, kept fast)
            shown = _plain_number(raw)
        else:
            shown = json_number(units.convert(number(raw), self.thing_unit, self.fhir_unit, self.kind))
        return {"value": shown, "unit": self.fhir_unit, "system": units.UCUM, "code": self.fhir_unit}

    def thing_value(self, quantity: Any, where: str) -> Decimal:
        if not isinstance(quantity, dict) or "value" not in quantity:
            raise FhirError(422, f"{where}: a Quantity with a value is needed")
        unit = units.ucum_code(quantity)
        if unit is None:
            raise FhirError(422, f"{where}: {quantity['value']} has no unit (unit, or code in {units.UCUM})")
        value = units.convert(number(str(quantity["value"])), unit, self.thing_unit, self.kind)
        if self.integer:
            if value != value.to_integral_value():
                raise FhirError(422, f"{where}: {quantity['value']} {unit} is not a whole number of {self.thing_unit}")
            value = value.to_integral_value()
        if value < 0:
            raise FhirError(422, f"{where}: {quantity['value']} is negative")
        return value

    def set(self, root: etree._Element, value: Decimal, after: tuple[str, ...]) -> None:
        """Put ``value`` at :attr:`path` (the path's first step placed after
        the first present of ``after``), unless it is there already."""
        old = text(root, self.path)
        if old is not None and number(old) == value:
            return
        lexical = format(value.normalize(), "f") if not self.integer else str(int(value))
        steps = self.path.split("/")
        parent = root
        for i, step in enumerate(steps):
            found = parent.find(step)
            if found is None:
                found = etree.Element(step)
                anchor = None
                if i == 0:
                    anchor = next((root.find(a) for a in after if root.find(a) is not None), None)
                if anchor is not None:
                    anchor.addnext(found)
                else:
                    parent.append(found)
            parent = found
        parent.text = lexical
        if self.display_path is not None:
            shown = root.find(self.display_path)
            if shown is not None:
                shown.getparent().remove(shown)


def _plain_number(raw: str) -> int | float:
    """A number of the thing as JSON writes it (an integer when it is one)."""
    try:
        return int(raw)
    except ValueError:
        return json_number(number(raw))


@dataclass(frozen=True)
class Variant:
    """A codable value of the thing that picks the observation's LOINC code
    (e.g. whole blood or plasma glucose)."""

    path: str
    vocabulary: str  # HealthVault vocabulary (coded-value type)
    choices: tuple[tuple[str, str, str, str], ...]  # (HealthVault code, its text, LOINC, LOINC display)


@dataclass(frozen=True)
class MeasureObservation(Mapping):
    """An Observation of one measure (valueQuantity) or a panel of several (components)."""

    code: tuple[str, str] = ("", "")  # LOINC code and display of the observation
    category: str = "vital-signs"
    profile: str | None = None
    measures: tuple[Measure, ...] = ()
    panel: bool = False  # measures as components
    variant: Variant | None = None
    order: tuple[str, ...] = field(default=())  # the thing's elements in schema order

    def codes(self) -> tuple[tuple[str, str], ...]:
        found = [(LOINC, self.code[0])] if self.code[0] else []
        if self.variant is not None:
            found += [(LOINC, c[2]) for c in self.variant.choices]
        return tuple(found)

    def normal(self, resource: dict[str, Any]) -> dict[str, Any]:
        """An effectiveInstant or effectivePeriod.start is the effectiveDateTime (what :func:`put_when` reads)."""
        if "effectiveDateTime" in resource:
            return resource
        out = dict(resource)
        if "effectiveInstant" in out:
            out["effectiveDateTime"] = out.pop("effectiveInstant")
        elif isinstance(out.get("effectivePeriod"), dict) and "start" in out["effectivePeriod"]:
            period = dict(out.pop("effectivePeriod"))
            out["effectiveDateTime"] = period.pop("start")
            if period:
                out["effectivePeriod"] = period
        return out

    def _code(self, root: etree._Element | None) -> tuple[str, str]:
        if self.variant is not None and root is not None:
            chosen = text(root, f"{self.variant.path}/code/value")
            for value, _label, loinc, display in self.variant.choices:
                if value == chosen:
                    return loinc, display
        if self.code[0] or self.variant is None:
            return self.code
        first = self.variant.choices[0]
        return first[2], first[3]

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        loinc, display = self._code(root)
        resource: dict[str, Any] = {"resourceType": "Observation"}
        if self.profile:
            resource["meta"] = {"profile": [self.profile]}
        resource["status"] = "final"
        resource["category"] = [
            {"coding": [{"system": CATEGORY, "code": self.category, "display": _CATEGORY_NAMES[self.category]}]}
        ]
        resource["code"] = {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display}
        when = root.find("when")
        if when is not None:
            resource["effectiveDateTime"] = date_time(when)
        if self.panel:
            components = []
            for m in self.measures:
                q = m.quantity(root)
                if q is not None:
                    coding = {"system": LOINC, "code": m.loinc, "display": m.display}
                    components.append({"code": {"coding": [coding], "text": m.display}, "valueQuantity": q})
            resource["component"] = components
        else:
            q = self.measures[0].quantity(root)
            if q is not None:
                resource["valueQuantity"] = q
        return resource

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        root = copy.deepcopy(base) if base is not None else etree.Element(self.root)
        put_when(root, resource, self.root)
        if self.panel:
            found = {}
            for component in resource.get("component") or []:
                for coding in (component.get("code") or {}).get("coding") or []:
                    if coding.get("system") == LOINC:
                        found[coding.get("code")] = component.get("valueQuantity")
            for i, m in enumerate(self.measures):
                after = (*(x.path.split("/")[0] for x in reversed(self.measures[:i])), "when")
                if m.loinc in found:
                    m.set(root, m.thing_value(found[m.loinc], f"component {m.loinc}"), after)
                elif i == 0 or m.loinc == self.measures[1].loinc:
                    raise FhirError(422, f"Observation ({self.root}): the component {m.loinc} ({m.display}) is needed")
                else:
                    gone = root.find(m.path)
                    if gone is not None:
                        gone.getparent().remove(gone)
        else:
            m = self.measures[0]
            m.set(
                root,
                m.thing_value(resource.get("valueQuantity"), f"Observation ({self.root}) valueQuantity"),
                ("when",),
            )
        if self.variant is not None:
            self._set_variant(root, resource)
        return root

    def _set_variant(self, root: etree._Element, resource: dict[str, Any]) -> None:
        variant = self.variant
        assert variant is not None
        codes = {c.get("code") for c in (resource.get("code") or {}).get("coding") or [] if c.get("system") == LOINC}
        for value, label, loinc, _display in variant.choices:
            if loinc in codes:
                if text(root, f"{variant.path}/code/value") == value:
                    return
                el = etree.Element(variant.path)
                etree.SubElement(el, "text").text = label
                code = etree.SubElement(el, "code")
                for part, v in (("value", value), ("family", "wc"), ("type", variant.vocabulary), ("version", "1")):
                    etree.SubElement(code, part).text = v
                old = root.find(variant.path)
                if old is not None:
                    root.replace(old, el)
                else:
                    root.find(self.measures[-1].path.split("/")[0]).addnext(el)
                return
