"""Blood glucose (thing type 879e7c04-4e8a-4707-9ad3-b054df467ce4) as an Observation.

Sources: LOINC 15074-8 "Glucose [Moles/volume] in Blood" and 14749-6
"Glucose [Moles/volume] in Serum or Plasma" (https://loinc.org), picked by
the thing's ``glucose-measurement-type`` (HealthVault vocabulary
glucose-measurement-type: ``wb`` whole blood, ``plasma``), category
laboratory as in the FHIR R4 glucose example
(http://hl7.org/fhir/R4/observation-example-f001-glucose.html), UCUM
``mmol/L``; imports also take ``mg/dL`` (molar mass 180.156 g/mol); and
HealthVault's blood glucose schema (blood-glucose.xsd: ``when``,
``value/mmolPerL``, ``value/display``, ``glucose-measurement-type``; the
rest travels in the thing-XML extension).
"""

from ..mapping import Measure, MeasureObservation, Variant

MAPPING = MeasureObservation(
    resource_type="Observation",
    type_ids=("879e7c04-4e8a-4707-9ad3-b054df467ce4",),
    root="blood-glucose",
    source=__doc__ or "",
    category="laboratory",
    measures=(
        Measure("value/mmolPerL", "15074-8", "Glucose", "mmol/L", "mmol/L", "glucose", display_path="value/display"),
    ),
    variant=Variant(
        "glucose-measurement-type",
        "glucose-measurement-type",
        (
            ("wb", "Whole blood", "15074-8", "Glucose [Moles/volume] in Blood"),
            ("plasma", "Plasma", "14749-6", "Glucose [Moles/volume] in Serum or Plasma"),
        ),
    ),
)
