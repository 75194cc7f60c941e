"""CCR and CDA things: clinical documents kept as given.

A Continuity of Care Record (ASTM E2369, ``ContinuityOfCareRecord`` in
``urn:astm-org:CCR``) and an HL7 Clinical Document Architecture document
(``ClinicalDocument`` in ``urn:hl7-org:v3``, a C-CDA CCD among them) are
thing types whose data-xml root is a whole document in its own namespace.
The published catalog has no thing-type schema for them (only the CCR and
CDA schemas themselves), and real documents often do not validate against
those schemas: the platform accepts them laxly. Their envelope is checked
as every thing's is (the request's size limits and hostile-XML guards
apply before), the data-xml root must be the type's document element, and
its content is kept as given, unvalidated, and written back byte for byte.
These two types are served this way whatever schema packages the server
loads (a package cannot make them strict).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from healthvault.errors import HealthVaultXmlError


@dataclass(frozen=True)
class DocumentType:
    """A thing type whose data-xml root is a clinical document kept as given."""

    type_id: str
    name: str
    namespace: str
    local_name: str

    @property
    def element(self) -> str:
        """The document element as lxml names it (``{namespace}local``)."""
        return f"{{{self.namespace}}}{self.local_name}"

    def check(self, root: etree._Element) -> None:
        """The lax check: the document element itself, its content as given."""
        if root.tag != self.element:
            raise HealthVaultXmlError(
                f"data-xml of a {self.name} thing must hold <{self.local_name}> in {self.namespace}"
            )


CCR = DocumentType(
    "1e1ccbfc-a55d-4d91-8940-fa2fbf73c195",
    "Continuity of Care Record (CCR)",
    "urn:astm-org:CCR",
    "ContinuityOfCareRecord",
)
CDA = DocumentType(
    "9c48a2b8-952c-4f5a-935d-f3292326bf54", "Clinical Document Architecture (CDA)", "urn:hl7-org:v3", "ClinicalDocument"
)
DOCUMENT_TYPES: dict[str, DocumentType] = {t.type_id: t for t in (CCR, CDA)}
