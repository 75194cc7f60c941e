"""Allergy (thing type 52bf9104-2c5e-4f1f-a66d-552ebcc53df7) as an AllergyIntolerance.

Sources: FHIR R4 AllergyIntolerance (http://hl7.org/fhir/R4/allergyintolerance.html:
code, clinicalStatus and verificationStatus in
http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical and
-verification, onset[x] as dateTime or string, reaction.manifestation,
invariant ait-1: clinicalStatus is present unless the
verificationStatus is entered-in-error) and HealthVault's allergy schema (allergy.xsd: ``name`` (its codes
keep their vocabulary: SNOMED CT as http://snomed.info/sct, ICD-9-CM as
http://hl7.org/fhir/sid/icd-9-cm), ``reaction``, ``first-observed``
(approximate), ``is-negated`` (true:
verificationStatus ``refuted`` and clinicalStatus ``inactive``; else
clinicalStatus ``active``);
``allergen-type``, ``allergen-code``, ``treatment-provider`` and ``treatment`` travel in the
thing-XML extension). Every AllergyIntolerance maps, whatever its code.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..datatypes import child, text
from .fields import ElementMapping, Field

CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
ORDER = (
    "name", "reaction", "first-observed", "allergen-type", "allergen-code",
    "treatment-provider", "treatment", "is-negated",
)  # fmt: skip


class AllergyMapping(ElementMapping):
    def finish(self, root: etree._Element, resource: dict[str, Any]) -> None:
        if text(root, "is-negated") in ("true", "1"):  # (ait-1: a refuted allergy has a clinical status too)
            resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": "inactive"}]}
            resource["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": "refuted"}]}
        else:
            resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": "active"}]}

    def patch(self, root: etree._Element, resource: dict[str, Any], made: dict[str, Any]) -> None:
        def refuted(r: dict[str, Any]) -> bool:
            codings = (r.get("verificationStatus") or {}).get("coding") or []
            return any(isinstance(c, dict) and c.get("code") == "refuted" for c in codings)

        if refuted(resource) == refuted(made):
            return
        old = child(root, "is-negated")
        if refuted(resource):
            el = etree.Element("is-negated")
            el.text = "true"
            self.place(root, el)
        elif old is not None:
            root.remove(old)


MAPPING = AllergyMapping(
    resource_type="AllergyIntolerance",
    type_ids=("52bf9104-2c5e-4f1f-a66d-552ebcc53df7",),
    root="allergy",
    source=__doc__ or "",
    fields=(
        Field("name", ("code",), "concept", required=True),
        Field("reaction", ("reaction", 0, "manifestation", 0), "concept"),
        Field("first-observed", ("onset",), "approx", choice=True),
    ),
    order=ORDER,
)
