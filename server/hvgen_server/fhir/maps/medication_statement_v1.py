"""Medication, version 1 (thing type 5c5f1223-f63c-4464-870c-3e36ba471def), as a MedicationStatement.

Sources: FHIR R4 MedicationStatement
(http://hl7.org/fhir/R4/medicationstatement.html: status,
medicationCodeableConcept, effectivePeriod, reasonCode, dosage) and
HealthVault's first medication schema (medication.1.xsd: ``name`` (a
string: the medication's text), ``route``, ``indication`` (a string: the
reason's text), ``instructions`` (the dosage's text), ``date-discontinued``
(approximate; descriptive text travels in the thing-XML extension only);
the numeric ``code`` s, fill and prescription details travel in the
extension). The status is ``completed`` when the statement shows a
discontinued date (effectivePeriod.end), else ``active``; a thing with no name shows the text "unnamed
medication" (FHIR needs a medication). Imports make version 2 things when
the server serves version 2 (:mod:`.medication_statement`), these when it
serves only version 1.
"""

from .fields import Field
from .medication_statement import MedicationMapping

ORDER = (
    "name", "code", "date-discontinued", "date-filled", "date-prescribed", "is-prescribed", "indication",
    "amount-prescribed", "dose-value", "dose-unit", "strength-value", "strength-unit", "frequency", "route",
    "duration", "duration-unit", "refills", "refills-left", "days-supply", "prescription-duration",
    "instructions", "substitution-permitted", "pharmacy", "prescription-number",
)  # fmt: skip

MAPPING = MedicationMapping(
    resource_type="MedicationStatement",
    type_ids=("5c5f1223-f63c-4464-870c-3e36ba471def",),
    root="medication",
    source=__doc__ or "",
    fields=(
        Field("name", ("medicationCodeableConcept", "text"), "string", default="unnamed medication"),
        Field("date-discontinued", ("effectivePeriod", "end"), "approx"),
        Field("indication", ("reasonCode", 0, "text"), "string"),
        Field("route", ("dosage", 0, "route"), "concept"),
        Field("instructions", ("dosage", 0, "text"), "string"),
    ),
    order=ORDER,
)
