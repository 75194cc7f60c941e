"""Exercise (thing type 85a21ddb-db20-4c65-8d30-33c899ccf612) as an Observation.

Sources: LOINC 73985-4 "Exercise activity" (https://loinc.org/73985-4: the
observation's code; its value is the thing's activity) and 55411-3
"Exercise duration" (https://loinc.org/55411-3, a component in UCUM
``min``; imports also take ``s`` and ``h``), category activity, FHIR R4
Observation (http://hl7.org/fhir/R4/observation.html), the HealthVault
FHIR mapping library's exercise transformer
(https://github.com/microsoft/healthvault-fhir-library, ExerciseToFhir:
the distance as a component coded ``Distance`` in HealthVault's exercise
vocabulary, the title as text), and HealthVault's exercise schema
(exercise.xsd: ``when`` (approximate: descriptive text travels in the
thing-XML extension only), ``activity`` (vocabulary exercise-activities),
``title`` (a note), ``distance/m`` (in ``m``), ``duration`` (minutes);
``detail`` and ``segment`` travel in the extension).
"""

from ..mapping import CATEGORY, LOINC, Measure
from .fields import ElementMapping, Field

ACTIVITY = [{"coding": [{"system": CATEGORY, "code": "activity", "display": "Activity"}]}]
CODE = {"coding": [{"system": LOINC, "code": "73985-4", "display": "Exercise activity"}], "text": "Exercise activity"}
DISTANCE = ("urn:healthvault:wc:exercise", "Distance", "Distance")
DURATION = (LOINC, "55411-3", "Exercise duration")

MAPPING = ElementMapping(
    resource_type="Observation",
    type_ids=("85a21ddb-db20-4c65-8d30-33c899ccf612",),
    root="exercise",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", ACTIVITY), ("code", CODE)),
    fields=(
        Field("when", ("effectiveDateTime",), "approx", required=True),
        Field("activity", ("valueCodeableConcept",), "concept", required=True),
        Field("title", ("note", 0, "text"), "string"),
        Field(
            "distance",
            ("valueQuantity",),
            "quantity",
            component=DISTANCE,
            measure=Measure("distance/m", "", "Distance", "m", "m", "length", display_path="distance/display"),
        ),
        Field(
            "duration",
            ("valueQuantity",),
            "quantity",
            component=DURATION,
            measure=Measure("duration", "", "Exercise duration", "min", "min", "duration"),
        ),
    ),
    order=("when", "activity", "title", "distance", "duration", "detail", "segment"),
    by_codes=((LOINC, "73985-4"),),
)
