"""Lab test results (thing type 5800eab5-a8c2-482a-a4d6-f1db25ae08c3) as an Observation.

Sources: LOINC 11502-2 "Laboratory report" (https://loinc.org/11502-2), the
code of every lab test results Observation, beside the codes of its first
group's name (the group's text is the code's text); category laboratory;
FHIR R4 Observation (http://hl7.org/fhir/R4/observation.html: a
``component`` per result, with its code, value, reference ranges and
interpretations); the HealthVault FHIR mapping library's lab test results
transformer (https://github.com/microsoft/healthvault-fhir-library,
LabTestResultsToFhir: a result's clinical code as its code, its structured
measurement as a Quantity of the units' text and code, its display text
as a string, its ranges' type, text, minimum and maximum as reference
ranges, its flags); and HealthVault's lab test results schema
(lab-test-results.xsd: ``when`` (approximate: a descriptive date travels
in the thing-XML extension only), ``lab-group`` s (``group-name``,
``laboratory-name``, ``status``, ``sub-groups``, ``results``),
``ordered-by``; a result's ``when``, ``name``, ``substance``,
``collection-method``, ``clinical-code``, ``value`` (``measurement``:
``display`` and ``structured`` values with their ``units``; ``ranges``;
``flag`` s), ``status``, ``note``).

The library made a DiagnosticReport of Observations; DiagnosticReport is
not served, and one resource per thing keeps identifiers, imports and
versions one to one: the results of all groups, sub-groups first as the
schema orders them, are the components of one Observation. The groups'
structure, their laboratories and statuses, the results' own dates,
names (beside a clinical code), substances, collection methods,
statuses and notes travel in the thing-XML extension only. Imported
without it, the results make one group named by the code.
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from .. import xmlext
from ..datatypes import approx_date_time, approx_date_time_element, codable_element, concept, text
from ..errors import FhirError
from ..mapping import CATEGORY, LOINC, Mapping
from .vital_signs import quantity_of, unit_element

LABORATORY = [{"coding": [{"system": CATEGORY, "code": "laboratory", "display": "Laboratory"}]}]
REPORT = {"system": LOINC, "code": "11502-2", "display": "Laboratory report"}
_PARTS = ("code", "valueQuantity", "valueString", "referenceRange", "interpretation")
_RESULT = ("when", "name", "substance", "collection-method", "clinical-code", "value", "status", "note")


def result_part(result: etree._Element) -> dict[str, Any]:
    """A ``results`` element as a component."""
    code = result.find("clinical-code")
    part: dict[str, Any] = {"code": concept(code) if code is not None else {"text": text(result, "name") or "Result"}}
    measurement = result.find("value/measurement")
    if measurement is not None:
        structured = measurement.find("structured")
        if structured is not None and text(structured, "value") is not None:
            part["valueQuantity"] = quantity_of(text(structured, "value") or "", structured.find("units"))
        else:
            part["valueString"] = text(measurement, "display") or ""
    ranges = []
    for held in result.findall("value/ranges"):
        found: dict[str, Any] = {}
        for tag, name in (("value/minimum-range", "low"), ("value/maximum-range", "high")):
            bound = text(held, tag)
            if bound is not None:
                found[name] = quantity_of(bound, None)
        kind, label = held.find("type"), held.find("text")
        if kind is not None:
            found["type"] = concept(kind)
        if label is not None:
            found["text"] = text(label, "text") or ""
        ranges.append(found)
    if ranges:
        part["referenceRange"] = ranges
    flags = [concept(f) for f in result.findall("value/flag")]
    if flags:
        part["interpretation"] = flags
    return part


def _codable(value: Any, tag: str, where: str) -> etree._Element:
    if not isinstance(value, dict):
        raise FhirError(422, f"{where}: a CodeableConcept is needed")
    return codable_element(value, tag)


def result_element(part: dict[str, Any], where: str) -> etree._Element:
    """The ``results`` element of a component."""
    el = etree.Element("results")
    el.append(_codable(part.get("code"), "clinical-code", f"{where} code"))
    value = etree.Element("value")
    measurement = etree.SubElement(value, "measurement")
    quantity, string = part.get("valueQuantity"), part.get("valueString")
    if isinstance(quantity, dict) and "value" in quantity:
        unit = str(quantity.get("unit") or quantity.get("code") or "")
        etree.SubElement(measurement, "display").text = f"{quantity['value']} {unit}".strip()
        structured = etree.SubElement(measurement, "structured")
        etree.SubElement(structured, "value").text = str(quantity["value"])
        structured.append(unit_element(quantity if unit else {"unit": "1"}, "units"))
    elif isinstance(string, str):
        etree.SubElement(measurement, "display").text = string
    elif quantity is not None or any(k.startswith("value") for k in part):
        raise FhirError(422, f"{where}: only valueQuantity (with a value) or valueString is held")
    for i, held in enumerate(part.get("referenceRange") or []):
        if not isinstance(held, dict):
            raise FhirError(422, f"{where} referenceRange {i}: not an object")
        ranges = etree.SubElement(value, "ranges")
        ranges.append(_codable(held.get("type") or {"text": "normal"}, "type", f"{where} referenceRange {i} type"))
        low, high = held.get("low"), held.get("high")
        label = held.get("text") or "–".join(str((b or {}).get("value", "")) for b in (low, high))
        ranges.append(codable_element({"text": label}, "text"))
        if low is not None or high is not None:
            bounds = etree.SubElement(ranges, "value")
            for bound, tag in ((low, "minimum-range"), (high, "maximum-range")):
                if bound is not None:
                    if not isinstance(bound, dict) or "value" not in bound:
                        raise FhirError(422, f"{where} referenceRange {i}: a bound has no value")
                    etree.SubElement(bounds, tag).text = str(bound["value"])
    for i, flag in enumerate(part.get("interpretation") or []):
        value.append(_codable(flag, "flag", f"{where} interpretation {i}"))
    if len(measurement):
        el.append(value)
    elif len(value) > 1:
        raise FhirError(422, f"{where}: a reference range or interpretation without a value")
    return el


def _name(group: etree._Element | None) -> dict[str, Any]:
    name = group.find("group-name") if group is not None else None
    return concept(name) if name is not None else {"text": REPORT["display"]}


class LabTestResultsMapping(Mapping):
    def codes(self) -> tuple[tuple[str, str], ...]:
        return ((LOINC, REPORT["code"]),)

    def takes(self, resource: dict[str, Any]) -> bool:
        return resource.get("resourceType") == "Observation" and xmlext.carried_root(resource, self.root) is not None

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
        resource["category"] = copy.deepcopy(LABORATORY)
        name = _name(root.find("lab-group"))
        resource["code"] = {"coding": [dict(REPORT), *name.get("coding", [])], "text": name["text"]}
        when = root.find("when")
        if when is not None:
            value, kind = approx_date_time(when)
            if kind == "DateTime":
                resource["effectiveDateTime"] = value
        parts = [result_part(r) for r in root.iter("results")]
        if parts:
            resource["component"] = parts
        return resource

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        root = copy.deepcopy(base) if base is not None else etree.Element(self.root)
        made = self.to_fhir(root) if base is not None else {}
        effective = resource.get("effectiveDateTime")
        if effective != made.get("effectiveDateTime"):
            old = root.find("when")
            if old is not None:
                root.remove(old)
            if effective:
                root.insert(0, approx_date_time_element(str(effective), "when"))
        code = resource.get("code")
        if not isinstance(code, dict):
            raise FhirError(422, "Observation (lab-test-results): code is needed")
        codings = [c for c in code.get("coding") or [] if c != REPORT and not (
            isinstance(c, dict) and c.get("system") == LOINC and c.get("code") == REPORT["code"])]  # fmt: skip
        name = {"text": code.get("text") or REPORT["display"], "coding": codings}
        group = root.find("lab-group")
        if group is None:
            group = etree.Element("lab-group")
            when = root.find("when")
            if when is not None:
                when.addnext(group)
            else:
                root.insert(0, group)
        if made.get("code") != resource.get("code") or group.find("group-name") is None:
            old_name = group.find("group-name")
            new_name = codable_element(name, "group-name")
            if old_name is not None:
                group.replace(old_name, new_name)
            else:
                group.insert(0, new_name)
        wanted = [c for c in resource.get("component") or [] if isinstance(c, dict)]
        had = list(root.iter("results"))
        if len(wanted) == len(had):  # each result changed in place: the groups stay as they are
            for i, (el, part) in enumerate(zip(had, wanted, strict=True)):
                if result_part(el) != {k: part[k] for k in _PARTS if k in part}:
                    el.getparent().replace(el, result_element(part, f"Observation (lab-test-results) component {i}"))
            return root
        for extra in root.findall("lab-group")[1:]:  # another number of results: one group holds them
            root.remove(extra)
        for old in group.findall("sub-groups") + group.findall("results"):
            group.remove(old)
        for i, part in enumerate(wanted):
            group.append(result_element(part, f"Observation (lab-test-results) component {i}"))
        return root


MAPPING = LabTestResultsMapping(
    resource_type="Observation",
    type_ids=("5800eab5-a8c2-482a-a4d6-f1db25ae08c3",),
    root="lab-test-results",
    source=__doc__ or "",
)
