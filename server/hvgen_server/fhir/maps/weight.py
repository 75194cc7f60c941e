"""Weight (thing type 3d34d87e-7fc1-4153-800f-f56592cb0d17) as an Observation.

Sources: the FHIR R4 Vital Signs profile for body weight
(http://hl7.org/fhir/R4/bodyweight.html: LOINC 29463-7 "Body weight",
category vital-signs, UCUM ``kg``; imports also take ``g`` and
``[lb_av]``), and HealthVault's weight schema (weight.xsd: ``when``,
``value/kg``, ``value/display``).
"""

from ..mapping import Measure, MeasureObservation

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("3d34d87e-7fc1-4153-800f-f56592cb0d17",),
    root="weight",
    source=__doc__ or "",
    code=("29463-7", "Body weight"),
    profile="http://hl7.org/fhir/StructureDefinition/bodyweight",
    measures=(Measure("value/kg", "29463-7", "Body weight", "kg", "kg", "mass", display_path="value/display"),),
)
