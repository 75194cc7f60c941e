"""Body composition (thing type 18adc276-5144-4e7e-bf6c-e56d8250adf8) as an Observation.

Sources: the HealthVault FHIR mapping library's body composition
transformer (https://github.com/microsoft/healthvault-fhir-library,
BodyCompositionToFhir: category vital-signs, the code is the thing's
measurement name, a mass and a percentage), FHIR R4 Observation
(http://hl7.org/fhir/R4/observation.html), LOINC 41982-0 "Percentage of
body fat Measured" (https://loinc.org/41982-0), UCUM ``kg`` and ``%``, and
HealthVault's body composition schema (body-composition.xsd: ``when``
(approximate: descriptive text travels in the thing-XML extension only),
``measurement-name`` (vocabulary body-composition-measurement-names),
``value/mass-value/kg`` (valueQuantity), ``value/percent-value`` (a
fraction: as valueQuantity in ``%`` when there is no mass, else as a
component "Percentage"); ``measurement-method`` and ``site`` travel in
the extension). Imports take Observations coded in that vocabulary or
LOINC 41982-0; a valueQuantity in ``%`` is the percentage.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .. import units
from ..datatypes import child
from ..mapping import LOINC, Measure
from .body_dimension import VITAL_SIGNS
from .fields import ElementMapping, Field

PERCENT = ("http://unitsofmeasure.org", "%", "Percentage")
_MASS = Measure("value/mass-value/kg", "", "Mass", "kg", "kg", "mass", display_path="value/mass-value/display")
_PERCENT = Measure("value/percent-value", "", "Percentage", "1", "%", "fraction")


class BodyCompositionMapping(ElementMapping):
    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        resource = super().to_fhir(root)
        if "valueQuantity" not in resource and "component" in resource:  # a percentage alone is the value
            resource["valueQuantity"] = resource.pop("component")[0]["valueQuantity"]
        return resource

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        value = resource.get("valueQuantity")
        if isinstance(value, dict) and units.ucum_code(value) in units.QUANTITIES["fraction"]:
            resource = {k: v for k, v in resource.items() if k != "valueQuantity"}
            code = {"coding": [{"system": PERCENT[0], "code": PERCENT[1]}]}
            resource["component"] = [{"code": code, "valueQuantity": value}]
        root = super().to_thing(resource, base)
        held = child(root, "value")
        mass = child(held, "mass-value")
        if held is not None and mass is not None and held.index(mass) != 0:  # schema order: mass, percentage
            held.insert(0, mass)
        return root


MAPPING = BodyCompositionMapping(
    resource_type="Observation",
    type_ids=("18adc276-5144-4e7e-bf6c-e56d8250adf8",),
    root="body-composition",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", VITAL_SIGNS)),
    fields=(
        Field("when", ("effectiveDateTime",), "approx", required=True),
        Field("measurement-name", ("code",), "concept", required=True),
        Field("value/mass-value", ("valueQuantity",), "quantity", measure=_MASS),
        Field("value/percent-value", ("valueQuantity",), "quantity", measure=_PERCENT, component=PERCENT),
    ),
    order=("when", "measurement-name", "value", "measurement-method", "site"),
    by_codes=((LOINC, "41982-0"),),
    by_systems=("urn:healthvault:wc:body-composition-measurement-names",),
)
