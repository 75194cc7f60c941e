"""Condition (thing type 7ea7a1f9-880b-4bd4-b593-f5660f20eda8) as a Condition.

Sources: FHIR R4 Condition (http://hl7.org/fhir/R4/condition.html: code,
category ``problem-list-item``, clinicalStatus in
http://terminology.hl7.org/CodeSystem/condition-clinical, onset and
abatement as dateTime or string) and HealthVault's condition schema
(condition.xsd: ``name`` (a codable value: its codes keep their vocabulary,
SNOMED CT as http://snomed.info/sct), ``onset-date`` and ``stop-date``
(approximate date-times: structured, or descriptive text), ``status``
(vocabulary condition-occurrence), ``stop-reason`` (travels in the
thing-XML extension)). Every Condition maps, whatever its code system.
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from ..datatypes import approx_date_time, approx_date_time_element, child, codable_element, concept, text
from ..errors import FhirError
from ..mapping import Mapping

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
#: HealthVault condition-occurrence values that are FHIR clinical statuses.
STATUSES = ("active", "recurrence", "relapse", "inactive", "remission", "resolved")
_ORDER = ("name", "onset-date", "status", "stop-date", "stop-reason")


class ConditionMapping(Mapping):
    any_code = True

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "Condition"}
        status = text(root, "status/code/value")
        if status in STATUSES:
            resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": status}]}
        resource["category"] = [{"coding": [{"system": CATEGORY, "code": "problem-list-item"}]}]
        name = child(root, "name")
        if name is not None:
            resource["code"] = concept(name)
        for tag, element in (("onset-date", "onset"), ("stop-date", "abatement")):
            found = child(root, tag)
            if found is not None:
                value, kind = approx_date_time(found)
                resource[f"{element}{kind}"] = value
        return resource

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        root = copy.deepcopy(base) if base is not None else etree.Element(self.root)
        made = self.to_fhir(root) if base is not None else {}
        if not isinstance(resource.get("code"), dict):
            raise FhirError(422, "Condition: a code is needed (it is the condition's name)")
        if made.get("code") != resource["code"]:
            self._put(root, codable_element(resource["code"], "name"))
        for tag, element in (("onset-date", "onset"), ("stop-date", "abatement")):
            wanted = {k: v for k, v in resource.items() if k in (f"{element}DateTime", f"{element}String")}
            had = {k: v for k, v in made.items() if k in (f"{element}DateTime", f"{element}String")}
            if len(wanted) > 1:
                raise FhirError(422, f"Condition: {element}[x] is given twice ({', '.join(sorted(wanted))})")
            if wanted != had:
                self._drop(root, tag)
                for key, value in wanted.items():
                    self._put(root, approx_date_time_element(str(value), tag, descriptive=key.endswith("String")))
        status = next((c.get("code") for c in (resource.get("clinicalStatus") or {}).get("coding") or []), None)
        if status != (made.get("clinicalStatus") or {"coding": [{}]})["coding"][0].get("code"):
            self._drop(root, "status")
            if status:
                concept_ = {
                    "text": status,
                    "coding": [{"system": "urn:healthvault:wc:condition-occurrence", "code": status, "version": "1"}],
                }
                self._put(root, codable_element(concept_, "status"))
        return root

    def _drop(self, root: etree._Element, tag: str) -> None:
        old = child(root, tag)
        if old is not None:
            root.remove(old)

    def _put(self, root: etree._Element, el: etree._Element) -> None:
        old = child(root, el.tag)
        if old is not None:
            root.replace(old, el)
            return
        before = _ORDER[: _ORDER.index(str(el.tag))]
        anchor = next((c for c in reversed(list(root)) if c.tag in before), None)
        if anchor is not None:
            anchor.addnext(el)
        else:
            root.insert(0, el)


MAPPING = ConditionMapping(
    resource_type="Condition",
    type_ids=("7ea7a1f9-880b-4bd4-b593-f5660f20eda8",),
    root="condition",
    source=__doc__ or "",
)
