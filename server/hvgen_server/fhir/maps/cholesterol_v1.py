"""Cholesterol profile, version 1 (thing type 796c186f-b874-471c-8468-3eeff73bf66e), as an Observation.

Sources: LOINC 57698-3 "Lipid panel with direct LDL - Serum or Plasma"
(https://loinc.org/57698-3) with its members in mass concentration as the
thing holds them (UCUM ``mg/dL``, whole numbers): 18262-6 "Cholesterol in
LDL [Mass/volume] in Serum or Plasma by Direct assay", 2085-9 "Cholesterol
in HDL [Mass/volume] in Serum or Plasma", 2093-3 "Cholesterol
[Mass/volume] in Serum or Plasma", 2571-8 "Triglyceride [Mass/volume] in
Serum or Plasma", category laboratory, and HealthVault's first cholesterol
profile schema (cholesterol-profile.xsd: ``when`` (a date), ``ldl``,
``hdl``, ``total-cholesterol``, ``triglyceride``). Imports make version 2
things (:mod:`.cholesterol`, in moles) when the server serves version 2,
these when it serves only version 1 (values in moles are converted and
must come to whole mg/dL).
"""

from ..mapping import LOINC, Measure
from .cholesterol import CODE, LABORATORY
from .fields import ElementMapping, Field


def _member(tag: str, code: str, display: str, kind: str) -> Field:
    measure = Measure(tag, "", display, "mg/dL", "mg/dL", kind, integer=True)
    return Field(tag, ("valueQuantity",), "quantity", component=(LOINC, code, display), measure=measure)


MAPPING = ElementMapping(
    resource_type="Observation",
    type_ids=("796c186f-b874-471c-8468-3eeff73bf66e",),
    root="cholesterol-profile",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", LABORATORY), ("code", CODE)),
    fields=(
        Field("when", ("effectiveDateTime",), "date", required=True),
        _member("ldl", "18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "cholesterol"),
        _member("hdl", "2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "cholesterol"),
        _member("total-cholesterol", "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "cholesterol"),
        _member("triglyceride", "2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "triglyceride"),
    ),
    order=("when", "ldl", "hdl", "total-cholesterol", "triglyceride"),
    by_codes=((LOINC, "57698-3"),),
)
