"""Cholesterol profile, version 2 (thing type 98f76958-e34f-459b-a760-83c1699add38), as an Observation.

Sources: LOINC 57698-3 "Lipid panel with direct LDL - Serum or Plasma"
(https://loinc.org/57698-3), its members in moles as the thing holds them
(UCUM ``mmol/L``): 14647-2 "Cholesterol [Moles/volume] in Serum or
Plasma", 14646-4 "Cholesterol in HDL [Moles/volume] in Serum or Plasma",
22748-8 "Cholesterol in LDL [Moles/volume] in Serum or Plasma", 14927-8
"Triglyceride [Moles/volume] in Serum or Plasma" (imports also take the
mass codes 2093-3, 2085-9, 18262-6, 13457-7 and 2571-8 in ``mg/dL``,
converted by molar mass: :mod:`..units`), category laboratory, FHIR R4
Observation components (http://hl7.org/fhir/R4/observation.html), and
HealthVault's cholesterol profile schema, version 2
(cholesterol-profile.2.xsd: ``when``, ``ldl``, ``hdl``,
``total-cholesterol``, ``triglyceride``, each ``mmolPerL`` and
``display``). Version 1 (whole mg/dL numbers, a date without a time) is
not mapped.
"""

from ..mapping import CATEGORY, LOINC, Measure
from .fields import ElementMapping, Field

LABORATORY = [{"coding": [{"system": CATEGORY, "code": "laboratory", "display": "Laboratory"}]}]
PANEL = "Lipid panel with direct LDL - Serum or Plasma"
CODE = {"coding": [{"system": LOINC, "code": "57698-3", "display": PANEL}], "text": PANEL}


def _member(tag: str, code: str, display: str, kind: str, *also: str) -> Field:
    return Field(
        tag,
        ("valueQuantity",),
        "quantity",
        component=(LOINC, code, display),
        also=also,
        measure=Measure(f"{tag}/mmolPerL", "", display, "mmol/L", "mmol/L", kind, display_path=f"{tag}/display"),
    )


MAPPING = ElementMapping(
    resource_type="Observation",
    type_ids=("98f76958-e34f-459b-a760-83c1699add38",),
    root="cholesterol-profile",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", LABORATORY), ("code", CODE)),
    fields=(
        Field("when", ("effectiveDateTime",), "datetime", required=True),
        _member(
            "ldl",
            "22748-8",
            "Cholesterol in LDL [Moles/volume] in Serum or Plasma",
            "cholesterol",
            "18262-6",
            "13457-7",
        ),
        _member("hdl", "14646-4", "Cholesterol in HDL [Moles/volume] in Serum or Plasma", "cholesterol", "2085-9"),
        _member(
            "total-cholesterol", "14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "cholesterol", "2093-3"
        ),
        _member("triglyceride", "14927-8", "Triglyceride [Moles/volume] in Serum or Plasma", "triglyceride", "2571-8"),
    ),
    order=("when", "ldl", "hdl", "total-cholesterol", "triglyceride"),
    by_codes=((LOINC, "57698-3"),),
)
