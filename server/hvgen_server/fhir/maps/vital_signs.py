"""Vital signs (thing type 73822612-c15f-4b49-9e65-6af369e55c65) as an Observation.

Sources: FHIR R4 Observation (http://hl7.org/fhir/R4/observation.html:
``component`` with its own code, value, interpretation and reference
range), LOINC 85353-1 "Vital signs, weight, height, head circumference,
oxygen saturation and BMI panel" (https://loinc.org/85353-1) as the code
of a set of results, 8310-5 "Body temperature", 9279-1 "Respiratory rate",
39156-5 "Body mass index (BMI) [Ratio]" and 8478-0 "Mean blood pressure"
(the FHIR R4 vital signs profiles, http://hl7.org/fhir/R4/observation-vitalsigns.html:
vital signs no other thing type holds), the HealthVault FHIR mapping
library's vital signs transformer (https://github.com/microsoft/healthvault-fhir-library,
VitalSignsToFhir: category vital-signs, each result's title as its code,
its unit's text as the quantity's unit, its reference minimum and maximum
as the reference range), and HealthVault's vital signs schema
(vital-signs.xsd: ``when``, ``vital-signs-results`` (``title`` in the
vocabulary vital-statistics, ``value``, ``unit`` in lab-results-units,
``reference-minimum``, ``reference-maximum``, ``text-value``, ``flag`` in
lab-results-flag), ``site``, ``position``).

One thing is one Observation (one resource per thing keeps identifiers,
imports and versions one to one): its results are components of the code
85353-1 (the panel's LOINC code; R4's panel profile links separate
Observations by ``hasMember``, which would make one thing several
resources). A thing of one result coded as a vital sign of its own (one of
the LOINC codes above, or HealthVault's vital-statistics vocabulary) is
that result as a plain Observation, as the R4 examples write a body
temperature or a respiratory rate; imports take both shapes. A result's
value keeps its own unit (the thing holds it: °F stays °F, with UCUM
``[degF]``); its text value is ``valueString`` when it has no number;
``site`` is the body site's text. ``position``, and a text value beside a
number, travel in the thing-XML extension only.
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from .. import units, xmlext
from ..datatypes import codable_element, concept, date_time, json_number, number, put_when, text
from ..errors import FhirError
from ..mapping import LOINC, Mapping
from .body_dimension import VITAL_SIGNS

PANEL = "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel"
CODE = {"coding": [{"system": LOINC, "code": "85353-1", "display": PANEL}], "text": "Vital signs"}
VOCABULARY = "urn:healthvault:wc:vital-statistics"
#: Vital signs no other thing type holds, imported as a result of their own.
OWN = {"8310-5": "Body temperature", "9279-1": "Respiratory rate", "39156-5": "Body mass index (BMI) [Ratio]",
       "8478-0": "Mean blood pressure"}  # fmt: skip
_RESULT = ("title", "value", "unit", "reference-minimum", "reference-maximum", "text-value", "flag")
#: What the part of a resource a result makes holds (at the top of a one-result resource, else in a component).
_PARTS = ("code", "valueQuantity", "valueString", "referenceRange", "interpretation")


def _alone(title: etree._Element | None) -> bool:
    """Whether a result titled so is a vital sign of its own (a one-result thing is then a plain Observation)."""
    codings = concept(title).get("coding", []) if title is not None else []
    loinc = [c["code"] for c in codings if c["system"] == LOINC]
    return all(c in OWN for c in loinc) and any(c["system"] == VOCABULARY or c["code"] in OWN for c in codings)


def quantity_of(value: str, unit: etree._Element | None) -> dict[str, Any]:
    """A double of the thing and its codable unit as a Quantity (UCUM when the unit has a UCUM code)."""
    try:
        shown: int | float = int(value)
    except ValueError:
        shown = json_number(number(value))
    found: dict[str, Any] = {"value": shown}
    if unit is not None:
        found["unit"] = text(unit, "text") or ""
        ucum = next((c for c in concept(unit).get("coding", []) if c["system"] == units.UCUM), None)
        if ucum is not None:
            found |= {"system": units.UCUM, "code": ucum["code"]}
    return found


def result_part(result: etree._Element) -> dict[str, Any]:
    """A ``vital-signs-results`` element as the elements of an Observation or a component."""
    title = result.find("title")
    part: dict[str, Any] = {"code": concept(title) if title is not None else {"text": ""}}
    value, unit = text(result, "value"), result.find("unit")
    if value is not None:
        part["valueQuantity"] = quantity_of(value, unit)
    elif text(result, "text-value") is not None:
        part["valueString"] = text(result, "text-value")
    bounds = {}
    for tag, name in (("reference-minimum", "low"), ("reference-maximum", "high")):
        bound = text(result, tag)
        if bound is not None:
            bounds[name] = quantity_of(bound, unit)
    if bounds:
        part["referenceRange"] = [bounds]
    flag = result.find("flag")
    if flag is not None:
        part["interpretation"] = [concept(flag)]
    return part


def result_element(part: dict[str, Any], where: str) -> etree._Element:
    """The ``vital-signs-results`` element of an Observation's or a component's elements."""
    el = etree.Element("vital-signs-results")
    code = part.get("code")
    if not isinstance(code, dict):
        raise FhirError(422, f"{where}: a code is needed")
    el.append(codable_element(code, "title"))
    quantity = part.get("valueQuantity")
    ranges = part.get("referenceRange") or [{}]
    if not isinstance(ranges, list) or len(ranges) > 1 or not isinstance(ranges[0], dict):
        raise FhirError(422, f"{where}: one referenceRange at most (the thing holds one minimum and maximum)")
    unit = None
    for given in (quantity, ranges[0].get("low"), ranges[0].get("high")):
        if isinstance(given, dict) and unit is None and (given.get("unit") or given.get("code")):
            unit = given
    if quantity is not None:
        if not isinstance(quantity, dict) or "value" not in quantity:
            raise FhirError(422, f"{where}: valueQuantity has no value")
        etree.SubElement(el, "value").text = str(quantity["value"])
    if unit is not None:
        el.append(unit_element(unit, "unit"))
    for name, tag in (("low", "reference-minimum"), ("high", "reference-maximum")):
        bound = ranges[0].get(name)
        if bound is not None:
            if not isinstance(bound, dict) or "value" not in bound:
                raise FhirError(422, f"{where}: referenceRange.{name} has no value")
            etree.SubElement(el, tag).text = str(bound["value"])
    if quantity is None and isinstance(part.get("valueString"), str):
        etree.SubElement(el, "text-value").text = part["valueString"]
    elif quantity is None and any(k.startswith("value") for k in part):
        raise FhirError(422, f"{where}: only valueQuantity or valueString is held")
    flags = part.get("interpretation") or []
    if len(flags) > 1:
        raise FhirError(422, f"{where}: one interpretation at most (the thing holds one flag)")
    if flags:
        el.append(codable_element(flags[0], "flag"))
    return el


def unit_element(quantity: dict[str, Any], tag: str) -> etree._Element:
    """The codable unit of a Quantity (a UCUM code when it has one, or its unit text is a known one)."""
    label = str(quantity.get("unit") or quantity.get("code"))
    code = units.ucum_code(quantity)
    known = quantity.get("system") == units.UCUM or code != label
    return codable_element({"text": label, "coding": [{"system": units.UCUM, "code": code}] if known else []}, tag)


class VitalSignsMapping(Mapping):
    def codes(self) -> tuple[tuple[str, str], ...]:
        return ((LOINC, "85353-1"), *((LOINC, c) for c in OWN))

    def claims(self, codes: set[tuple[Any, Any]]) -> bool:
        return super().claims(codes) or any(system == VOCABULARY for system, _ in codes)

    def takes(self, resource: dict[str, Any]) -> bool:
        return resource.get("resourceType") == "Observation" and xmlext.carried_root(resource, self.root) is not None

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
        resource["category"] = copy.deepcopy(VITAL_SIGNS)
        results = root.findall("vital-signs-results")
        parts = [result_part(r) for r in results]
        if len(results) == 1 and _alone(results[0].find("title")):
            resource |= parts[0]
        else:
            resource["code"] = copy.deepcopy(CODE)
            if parts:
                resource["component"] = parts
        when = root.find("when")
        if when is not None:
            resource["effectiveDateTime"] = date_time(when)
        site = text(root, "site")
        if site is not None:
            resource["bodySite"] = {"text": site}
        return resource

    def _parts(self, resource: dict[str, Any]) -> list[dict[str, Any]]:
        if resource.get("hasMember"):
            raise FhirError(422, "Observation (vital-signs): hasMember references are not imported (give the vital signs as components)")  # fmt: skip
        codes = {(c.get("system"), c.get("code")) for c in (resource.get("code") or {}).get("coding") or []}
        if (LOINC, "85353-1") in codes:
            return [c for c in resource.get("component") or [] if isinstance(c, dict)]
        if resource.get("component"):
            raise FhirError(422, "Observation (vital-signs): components of a single vital sign are not held")
        return [{k: resource[k] for k in _PARTS if k in resource}]

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        root = copy.deepcopy(base) if base is not None else etree.Element(self.root)
        put_when(root, resource, "vital-signs")
        had = {i: (r, result_part(r)) for i, r in enumerate(root.findall("vital-signs-results"))}
        anchor = root.find("when")
        for r, _ in had.values():
            root.remove(r)
        for i, part in enumerate(self._parts(resource)):
            kept = had.get(i)
            el = kept[0] if kept is not None and kept[1] == {k: part[k] for k in _PARTS if k in part} else None
            el = el if el is not None else result_element(part, f"Observation (vital-signs) result {i + 1}")
            anchor.addnext(el)
            anchor = el
        site = (resource.get("bodySite") or {}).get("text")
        old_site = root.find("site")
        if site is None and old_site is not None:
            root.remove(old_site)
        elif site is not None and text(root, "site") != site:
            new = etree.Element("site")
            new.text = str(site)
            if old_site is not None:
                root.replace(old_site, new)
            else:
                anchor.addnext(new)
        return root


MAPPING = VitalSignsMapping(
    resource_type="Observation",
    type_ids=("73822612-c15f-4b49-9e65-6af369e55c65",),
    root="vital-signs",
    source=__doc__ or "",
)
