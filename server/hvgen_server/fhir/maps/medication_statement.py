"""Medication, version 2 (thing type 30cafccc-047d-4288-94ef-643571f7919d), as a MedicationStatement.

Sources: FHIR R4 MedicationStatement
(http://hl7.org/fhir/R4/medicationstatement.html: status, medication[x]
as a CodeableConcept or a reference to a contained Medication, effectivePeriod,
reasonCode, dosage.route) and HealthVault's medication schema
(medication.xsd: ``name`` (preferred vocabulary RxNorm: its codes keep their
vocabulary, RxNorm as http://www.nlm.nih.gov/research/umls/rxnorm),
``route``, ``indication``, ``date-started`` and ``date-discontinued``
(approximate; descriptive text travels in the thing-XML extension only);
``generic-name``, ``dose``, ``strength``, ``frequency``, ``prescribed`` and
``prescription`` travel in the extension). The status is ``completed``
when the statement shows a discontinued date (effectivePeriod.end), else
``active``. An imported
statement whose medication is a reference to a contained Medication
(``#id``) takes that Medication's code; one whose effective[x] is a
dateTime (a moment, as R4's medicationstatementexample1) takes it as the
date started. Every MedicationStatement maps.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..errors import FhirError
from .fields import ElementMapping, Field, get

ORDER = (
    "name", "generic-name", "dose", "strength", "frequency", "route", "indication",
    "date-started", "date-discontinued", "prescribed", "prescription",
)  # fmt: skip


def contained_medication(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with a reference to a contained Medication replaced by its code."""
    if "medicationCodeableConcept" in resource:
        return resource
    reference = str((resource.get("medicationReference") or {}).get("reference") or "")
    for item in resource.get("contained") or []:
        if (
            isinstance(item, dict)
            and item.get("resourceType") == "Medication"
            and reference == f"#{item.get('id')}"
            and isinstance(item.get("code"), dict)
        ):
            return {**resource, "medicationCodeableConcept": item["code"]}
    if reference:
        raise FhirError(422, f"MedicationStatement: medicationReference {reference!r} is not a contained Medication")
    return resource


class MedicationMapping(ElementMapping):
    """A medication version: the status by the end of its period; contained Medications."""

    def finish(self, root: etree._Element, resource: dict[str, Any]) -> None:
        resource["status"] = "completed" if get(resource, ("effectivePeriod", "end")) else "active"

    def normal(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The contained Medication's code as medicationCodeableConcept (what
        else that Medication says stays, to be found not kept); a moment as the date started."""
        out = contained_medication(resource)
        if out is not resource:
            out = dict(out)
            reference = out.pop("medicationReference").get("reference")
            rest = []
            for item in out.pop("contained", None) or []:
                if (
                    isinstance(item, dict)
                    and item.get("resourceType") == "Medication"
                    and f"#{item.get('id')}" == reference
                ):
                    item = {k: v for k, v in item.items() if k not in ("resourceType", "id", "code", "meta", "text")}
                rest.append(item)
            if any(rest):
                out["contained"] = rest
        if "effectiveDateTime" in out and "effectivePeriod" not in out:
            out = {k: v for k, v in out.items() if k != "effectiveDateTime"}
            out["effectivePeriod"] = {"start": resource["effectiveDateTime"]}
        return out

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        resource = contained_medication(resource)
        if "effectiveDateTime" in resource and "effectivePeriod" not in resource:  # a moment: the date started
            resource = {**resource, "effectivePeriod": {"start": resource["effectiveDateTime"]}}
        return super().to_thing(resource, base)


MAPPING = MedicationMapping(
    resource_type="MedicationStatement",
    type_ids=("30cafccc-047d-4288-94ef-643571f7919d",),
    root="medication",
    source=__doc__ or "",
    fields=(
        Field("name", ("medicationCodeableConcept",), "concept", required=True),
        Field("route", ("dosage", 0, "route"), "concept"),
        Field("indication", ("reasonCode", 0), "concept"),
        Field("date-started", ("effectivePeriod", "start"), "approx"),
        Field("date-discontinued", ("effectivePeriod", "end"), "approx"),
    ),
    order=ORDER,
)
