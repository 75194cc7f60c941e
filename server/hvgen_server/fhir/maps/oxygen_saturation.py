"""Blood oxygen saturation (thing type 3a54f95f-03d8-4f62-815f-f691fc94a500) as an Observation.

Sources: the FHIR R4 Vital Signs profile for oxygen saturation
(http://hl7.org/fhir/R4/oxygensat.html: LOINC 2708-6 "Oxygen saturation in
Arterial blood", category vital-signs, UCUM ``%``), and HealthVault's blood
oxygen saturation schema (blood-oxygen-saturation.xsd: ``when``, ``value``
a percentage written as a fraction from 0 to 1, UCUM ``1``: 0.97 is 97 %;
``measurement-method`` and ``measurement-flags`` travel in the thing-XML
extension).
"""

from ..mapping import Measure, MeasureObservation

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("3a54f95f-03d8-4f62-815f-f691fc94a500",),
    root="blood-oxygen-saturation",
    source=__doc__ or "",
    code=("2708-6", "Oxygen saturation in Arterial blood"),
    profile="http://hl7.org/fhir/StructureDefinition/oxygensat",
    measures=(Measure("value", "2708-6", "Oxygen saturation in Arterial blood", "1", "%", "fraction"),),
)
