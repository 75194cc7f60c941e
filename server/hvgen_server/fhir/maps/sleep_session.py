"""Sleep session, the sleep journal's morning entry (thing type 11c52484-7f1a-11db-aeac-87d355d89593), as an Observation.

Sources: the HealthVault FHIR mapping library's sleep journal transformer
(https://github.com/microsoft/healthvault-fhir-library, SleepJournalAmToFhir:
bed and wake times as components of FHIR type time, sleep and settling
minutes as quantities in minutes, the wake state, the medications),
LOINC 93832-4 "Sleep duration" (https://loinc.org/93832-4: the
observation's code and value, UCUM ``min``; imports also take ``h`` and
``s``), category activity, FHIR R4 Observation
(http://hl7.org/fhir/R4/observation.html), and HealthVault's sleep
journal (morning) schema (sleepjournal-am.xsd: ``when``, ``bed-time``,
``wake-time``, ``sleep-minutes``, ``settling-minutes``, ``medications``,
``wake-state`` (1 wide awake, 2 awake but tired, 3 sleepy: an integer);
``awakening`` s and the device's summary (``times-woken-up``,
``average-resting-hr``, …) travel in the thing-XML extension). The
components are coded in HealthVault's vocabulary ``sleep-journal-am``
(``urn:healthvault:wc:sleep-journal-am``), as that library did.
"""

from ..mapping import CATEGORY, LOINC, Measure
from .fields import ElementMapping, Field

ACTIVITY = [{"coding": [{"system": CATEGORY, "code": "activity", "display": "Activity"}]}]
CODE = {"coding": [{"system": LOINC, "code": "93832-4", "display": "Sleep duration"}], "text": "Sleep duration"}
VOCABULARY = "urn:healthvault:wc:sleep-journal-am"


def _part(tag: str, kind: str, value: str, display: str, required: bool = True) -> Field:
    measure = Measure(tag, "", display, "min", "min", "duration", integer=True) if kind == "quantity" else None
    return Field(tag, (value,), kind, required=required, component=(VOCABULARY, tag, display), measure=measure)


ORDER = (
    "when", "bed-time", "wake-time", "sleep-minutes", "settling-minutes", "awakening", "medications", "wake-state",
    "times-woken-up", "average-resting-hr", "calories-burned", "awake-minutes", "sleep-phase-summary-group",
)  # fmt: skip

MAPPING = ElementMapping(
    resource_type="Observation",
    type_ids=("11c52484-7f1a-11db-aeac-87d355d89593",),
    root="sleep-am",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", ACTIVITY), ("code", CODE)),
    fields=(
        Field("when", ("effectiveDateTime",), "datetime", required=True),
        _part("bed-time", "time", "valueTime", "Bed time"),
        _part("wake-time", "time", "valueTime", "Wake time"),
        Field(
            "sleep-minutes",
            ("valueQuantity",),
            "quantity",
            required=True,
            measure=Measure("sleep-minutes", "", "Sleep duration", "min", "min", "duration", integer=True),
        ),
        _part("settling-minutes", "quantity", "valueQuantity", "Settling minutes"),
        _part("medications", "concept", "valueCodeableConcept", "Medications", required=False),
        _part("wake-state", "integer", "valueInteger", "Wake state"),
    ),
    order=ORDER,
    by_codes=((LOINC, "93832-4"),),
)
