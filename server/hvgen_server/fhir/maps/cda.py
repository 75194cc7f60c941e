"""Clinical Document Architecture document (thing type 9c48a2b8-952c-4f5a-935d-f3292326bf54) as a DocumentReference.

Source: FHIR R4 DocumentReference (http://hl7.org/fhir/R4/documentreference.html)
and HL7 CDA R2 / C-CDA R2.1 (``ClinicalDocument`` in ``urn:hl7-org:v3``):
type the document's own LOINC ``code``, else LOINC 34133-9 "Summary of
episode note" for a CCD (C-CDA 2.16.840.1.113883.10.20.22.1.2, HITSP C32
2.16.840.1.113883.10.20.1); format code the C-CDA structured body (1.1, or
2.1 when the US Realm Header template has its 2015-08-01 extension), the
IHE XPHR (C32), else ``mimeTypeSufficient``; date from ``effectiveTime``;
description from ``title``. See :mod:`..documents`.
"""

from __future__ import annotations

from ..documents import DocumentMapping

MAPPING = DocumentMapping(
    resource_type="DocumentReference",
    type_ids=("9c48a2b8-952c-4f5a-935d-f3292326bf54",),
    root="{urn:hl7-org:v3}ClinicalDocument",
    source=__doc__ or "",
    label="Clinical Document Architecture (CDA)",
)
