"""Blood pressure (thing type ca3c57f4-f4c1-4e15-be67-0a3caf5414ed) as an Observation.

Sources: the FHIR R4 Vital Signs profile for blood pressure
(http://hl7.org/fhir/R4/bp.html: LOINC 85354-9 "Blood pressure panel with
all children optional", components 8480-6 "Systolic blood pressure" and
8462-4 "Diastolic blood pressure" in UCUM ``mm[Hg]``; the pulse as a
component 8867-4 "Heart rate" in ``/min``, as the HealthVault FHIR mapping
library did), and HealthVault's blood pressure schema (bp.xsd: ``when``,
``systolic``, ``diastolic``, ``pulse``; ``irregular-heartbeat`` travels in
the thing-XML extension).
"""

from ..mapping import Measure, MeasureObservation

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("ca3c57f4-f4c1-4e15-be67-0a3caf5414ed",),
    root="blood-pressure",
    source=__doc__ or "",
    code=("85354-9", "Blood pressure panel with all children optional"),
    profile="http://hl7.org/fhir/StructureDefinition/bp",
    panel=True,
    measures=(
        Measure("systolic", "8480-6", "Systolic blood pressure", "mm[Hg]", "mm[Hg]", "pressure", integer=True),
        Measure("diastolic", "8462-4", "Diastolic blood pressure", "mm[Hg]", "mm[Hg]", "pressure", integer=True),
        Measure("pulse", "8867-4", "Heart rate", "/min", "/min", "rate", integer=True),
    ),
)
