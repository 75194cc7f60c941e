"""Height (thing type 40750a6a-89b2-455c-bd8d-b420a4cb500b) as an Observation.

Sources: the FHIR R4 Vital Signs profile for body height
(http://hl7.org/fhir/R4/bodyheight.html: LOINC 8302-2 "Body height",
category vital-signs, UCUM ``cm`` or ``[in_i]``: shown in ``cm``, imports
also take ``m``, ``mm`` and ``[ft_i]``), and HealthVault's height schema
(height.xsd: ``when``, ``value/m``, ``value/display``).
"""

from ..mapping import Measure, MeasureObservation

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("40750a6a-89b2-455c-bd8d-b420a4cb500b",),
    root="height",
    source=__doc__ or "",
    code=("8302-2", "Body height"),
    profile="http://hl7.org/fhir/StructureDefinition/bodyheight",
    measures=(Measure("value/m", "8302-2", "Body height", "m", "cm", "length", display_path="value/display"),),
)
