"""Heart rate (thing type b81eb4a6-6eac-4292-ae93-3872d6870994) as an Observation.

Sources: the FHIR R4 Vital Signs profile for heart rate
(http://hl7.org/fhir/R4/heartrate.html: LOINC 8867-4 "Heart rate",
category vital-signs, UCUM ``/min``), and HealthVault's heart rate schema
(heart-rate.xsd: ``when``, ``value`` in beats per minute, a whole number;
its measurement method, conditions and flags travel in the thing-XML
extension).
"""

from ..mapping import Measure, MeasureObservation

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("b81eb4a6-6eac-4292-ae93-3872d6870994",),
    root="heart-rate",
    source=__doc__ or "",
    code=("8867-4", "Heart rate"),
    profile="http://hl7.org/fhir/StructureDefinition/heartrate",
    measures=(Measure("value", "8867-4", "Heart rate", "/min", "/min", "rate", integer=True),),
)
