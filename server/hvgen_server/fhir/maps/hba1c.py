"""HbA1C, version 2 (thing type 62160199-b80f-4905-a55a-ac4ba825ceae), as an Observation.

Sources: LOINC 59261-8 "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC
protocol" (https://loinc.org/59261-8), category laboratory, UCUM
``mmol/mol``, and HealthVault's HbA1C schema, version 2 (HbA1C.2.xsd:
``when``, ``value/mmol-per-mol``, ``value/display``;
``HbA1C-assay-method`` and ``device-id`` travel in the thing-XML
extension). The NGSP percentage (LOINC 4548-4) is version 1's
(:mod:`.hba1c_v1`): the two scales are not proportional, so neither is
converted into the other.
"""

from ..mapping import Measure, MeasureObservation

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("62160199-b80f-4905-a55a-ac4ba825ceae",),
    root="HbA1C",
    source=__doc__ or "",
    category="laboratory",
    code=("59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol"),
    measures=(
        Measure(
            "value/mmol-per-mol",
            "59261-8",
            "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol",
            "mmol/mol",
            "mmol/mol",
            "hba1c",
            display_path="value/display",
        ),
    ),
)
