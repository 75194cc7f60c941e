"""Continuity of Care Record (thing type 1e1ccbfc-a55d-4d91-8940-fa2fbf73c195) as a DocumentReference.

Source: FHIR R4 DocumentReference (http://hl7.org/fhir/R4/documentreference.html)
and ASTM E2369 (the CCR, ``ContinuityOfCareRecord`` in ``urn:astm-org:CCR``):
type LOINC 34133-9 "Summary of episode note" (a CCR is a summary of care;
LOINC has no code of the CCR itself) with the text "Continuity of Care
Record (CCR)", format code ``urn:ihe:iti:xds:2017:mimeTypeSufficient`` (no
IHE format code names the CCR), date from ``DateTime/ExactDateTime``. See
:mod:`..documents`.
"""

from __future__ import annotations

from ..documents import DocumentMapping

MAPPING = DocumentMapping(
    resource_type="DocumentReference",
    type_ids=("1e1ccbfc-a55d-4d91-8940-fa2fbf73c195",),
    root="{urn:astm-org:CCR}ContinuityOfCareRecord",
    source=__doc__ or "",
    label="Continuity of Care Record (CCR)",
)
