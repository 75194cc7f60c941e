"""Peak flow (thing type 5d8419af-90f0-4875-a370-0f881c18f6b3) as an Observation.

Sources: LOINC 19935-6 "Maximum expiratory gas flow Respiratory system
airway by Peak flow meter" (https://loinc.org/19935-6, the value, UCUM
``L/min``; imports also take ``L/s``) and 20150-9 "FEV1"
(https://loinc.org/20150-9, a component in ``L``; imports also take
``mL``), category vital-signs, FHIR R4 Observation
(http://hl7.org/fhir/R4/observation.html), and HealthVault's peak flow
schema (peak-flow.xsd: ``when`` (approximate: descriptive text travels in
the thing-XML extension only), ``pef/liters-per-second``, ``fev1/liters``,
their ``display``; ``fev6`` and ``measurement-flags`` travel in the
extension).
"""

from ..mapping import LOINC, Measure
from .body_dimension import VITAL_SIGNS
from .fields import ElementMapping, Field

PEF = "Maximum expiratory gas flow Respiratory system airway by Peak flow meter"
CODE = {"coding": [{"system": LOINC, "code": "19935-6", "display": PEF}], "text": "Peak expiratory flow"}

MAPPING = ElementMapping(
    resource_type="Observation",
    type_ids=("5d8419af-90f0-4875-a370-0f881c18f6b3",),
    root="peak-flow",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", VITAL_SIGNS), ("code", CODE)),
    fields=(
        Field("when", ("effectiveDateTime",), "approx", required=True),
        Field(
            "pef",
            ("valueQuantity",),
            "quantity",
            measure=Measure("pef/liters-per-second", "", PEF, "L/s", "L/min", "flow", display_path="pef/display"),
        ),
        Field(
            "fev1",
            ("valueQuantity",),
            "quantity",
            component=(LOINC, "20150-9", "FEV1"),
            measure=Measure("fev1/liters", "", "FEV1", "L", "L", "volume", display_path="fev1/display"),
        ),
    ),
    order=("when", "pef", "fev1", "fev6", "measurement-flags"),
    by_codes=((LOINC, "19935-6"),),
)
