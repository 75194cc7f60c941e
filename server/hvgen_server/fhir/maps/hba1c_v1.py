"""HbA1C, version 1 (thing type 227f55fb-1001-4d4e-9f6a-8d893e07b451), as an Observation.

Sources: LOINC 4548-4 "Hemoglobin A1c/Hemoglobin.total in Blood"
(https://loinc.org/4548-4, the NGSP percentage), category laboratory,
UCUM ``%``, and HealthVault's first HbA1C schema (HbA1C.xsd: ``when``,
``value`` a percentage written as a fraction from 0 to 1: 0.065 is 6.5 %;
``HbA1C-assay-method`` and ``device-id`` travel in the thing-XML
extension).
"""

from ..mapping import Measure, MeasureObservation

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("227f55fb-1001-4d4e-9f6a-8d893e07b451",),
    root="HbA1C",
    source=__doc__ or "",
    category="laboratory",
    code=("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    measures=(Measure("value", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "1", "%", "fraction"),),
)
