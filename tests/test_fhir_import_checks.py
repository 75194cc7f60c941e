"""What an import keeps, checked before anything is stored (importing.plan
on a store of its own): a status the thing type cannot hold, an element it
has no place for, a quantity with no unit and a subject that is another
patient refuse the resource with 422 naming them; a note is kept as the
thing's note; a thing the person marked Personal is not there for an
application (its client thing id is not found); XML inside FHIR is parsed
with the platform's limits."""

from __future__ import annotations

import base64
import copy
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hvgen_server import appview
from hvgen_server.fhir import importing, keeping, xmlext
from hvgen_server.fhir.errors import FhirError
from hvgen_server.fhir.mapping import Mapping
from hvgen_server.fhir.registry import all_mappings
from hvgen_server.store import SqliteStore
from hvgen_server.store.rows import ACTIVE

from .fhirthings import FHIR, RECORD, ServesAll, roots, stored
from .fhirthings import resource_of as plain_resource
from .fhirthings_clinical import STRATEGIES as CLINICAL
from .fhirthings_clinical import mapping as clinical_mapping
from .fhirthings_clinical import resource_of as clinical_resource

BASE = "http://127.0.0.1:1/fhir"  # the platform's URL, and /fhir
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
CVX = "http://hl7.org/fhir/sid/cvx"
LOINC = "http://loinc.org"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = SqliteStore(Path(tmp_path_factory.mktemp("checks")) / "store.sqlite")
    record = store.add_record("r", [store.add_application("a", "-", "T")])[0]
    config = SimpleNamespace(
        url=BASE.removesuffix("/fhir"), max_request_bytes=32 << 20, max_request_elements=250_000,
        max_attributes=64, max_depth=64,
    )  # fmt: skip
    yield SimpleNamespace(fhir=FHIR, store=store, config=config, thing_types=ServesAll(), record=record)
    store.close()


def plan(platform: Any, *resources: dict[str, Any], hidden: int = 0) -> list[importing.Planned]:
    return importing.plan(platform, platform.record, list(resources), *((hidden,) if hidden else ()))


def refused(platform: Any, resource: dict[str, Any]) -> str:
    with pytest.raises(FhirError) as caught:
        plan(platform, resource)
    assert caught.value.status == 422, caught.value.message
    return caught.value.message


IMMUNIZATION = {
    "resourceType": "Immunization", "status": "completed", "occurrenceDateTime": "2021-10-04",
    "vaccineCode": {"coding": [{"system": CVX, "code": "140"}], "text": "Influenza"},
}  # fmt: skip
PROCEDURE = {
    "resourceType": "Procedure", "status": "completed", "performedDateTime": "2013-04-05",
    "code": {"coding": [{"system": SNOMED, "code": "80146002"}], "text": "Appendectomy"},
}  # fmt: skip
MEDICATION = {
    "resourceType": "MedicationStatement", "status": "active", "effectivePeriod": {"start": "2022-02-01"},
    "medicationCodeableConcept": {"text": "lisinopril"},
}  # fmt: skip
ALLERGY = {
    "resourceType": "AllergyIntolerance", "code": {"text": "Peanut allergy"},
    "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
}  # fmt: skip
CONDITION = {"resourceType": "Condition", "code": {"text": "Hypertension"}, "onsetDateTime": "2019-04"}
WEIGHT = {
    "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
    "effectiveDateTime": "2023-05-01T07:30:00Z", "valueQuantity": {"value": 70, "unit": "kg", "system": UCUM, "code": "kg"},
}  # fmt: skip


def test_what_the_thing_types_hold_is_imported(platform: Any) -> None:
    planned = plan(platform, IMMUNIZATION, PROCEDURE, MEDICATION, ALLERGY, CONDITION, WEIGHT)
    assert all(p.thing_el is not None for p in planned)
    refuted = {**ALLERGY, "verificationStatus": {"coding": [{"system": ALLERGY_VERIFICATION, "code": "refuted"}]}}
    del refuted["clinicalStatus"]
    (made,) = plan(platform, refuted)  # is-negated holds it
    assert made.thing_el is not None and made.thing_el.findtext("data-xml/allergy/is-negated") == "true"
    stopped = {**MEDICATION, "status": "completed", "effectivePeriod": {"start": "2022-02-01", "end": "2022-03-01"}}
    assert plan(platform, stopped)[0].thing_el is not None  # completed, with the date it was discontinued


@pytest.mark.parametrize(
    ("resource", "named"),
    [
        ({**IMMUNIZATION, "status": "not-done"}, "status 'not-done'"),
        ({**IMMUNIZATION, "status": "entered-in-error"}, "status 'entered-in-error'"),
        ({**PROCEDURE, "status": "not-done"}, "status 'not-done'"),
        ({**PROCEDURE, "status": "in-progress"}, "status 'in-progress'"),
        ({**MEDICATION, "status": "not-taken"}, "status 'not-taken'"),
        ({**MEDICATION, "status": "stopped"}, "status 'stopped'"),
        ({**ALLERGY, "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "resolved"}]}},
         "clinicalStatus.coding[0].code 'resolved'"),
        ({**ALLERGY, "verificationStatus": {"coding": [{"system": ALLERGY_VERIFICATION, "code": "entered-in-error"}]}},
         "verificationStatus"),
        ({**CONDITION, "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": "refuted"}]}},
         "verificationStatus"),
        ({**CONDITION, "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": "entered-in-error"}]}},
         "verificationStatus"),
        ({**WEIGHT, "status": "entered-in-error"}, "status 'entered-in-error'"),
        ({**WEIGHT, "status": "preliminary"}, "status 'preliminary'"),
    ],
)  # fmt: skip
def test_a_status_the_thing_type_cannot_hold_is_refused_not_turned_around(
    platform: Any, resource: dict[str, Any], named: str
) -> None:
    said = refused(platform, resource)
    assert named in said and "resource 0" in said, said


@pytest.mark.parametrize(
    ("resource", "named"),
    [
        ({**WEIGHT, "effectivePeriod": {"start": "2023-05-01T07:30:00Z", "end": "2023-05-01T08:00:00Z"},
          "effectiveDateTime": None}, "effectivePeriod"),
        ({**CONDITION, "onsetAge": {"value": 40, "unit": "a", "system": UCUM, "code": "a"}, "onsetDateTime": None},
         "onsetAge"),
        ({**ALLERGY, "criticality": "high"}, "criticality"),
        ({**ALLERGY, "category": ["food"]}, "category"),
        ({**ALLERGY, "type": "allergy"}, "type"),
        ({**ALLERGY, "reaction": [{"manifestation": [{"text": "Hives"}]}, {"manifestation": [{"text": "Rash"}]}]},
         "reaction[1]"),
        ({**WEIGHT, "interpretation": [{"text": "high"}]}, "interpretation"),
        ({**WEIGHT, "extension": [{"url": "urn:example:x", "valueString": "y"}]}, "extension[0] (urn:example:x)"),
        ({**WEIGHT, "note": [{"text": "a", "authorString": "me"}]}, "note[0].authorString"),
        ({**WEIGHT, "note": [{"text": "a"}, {"text": "b"}]}, "note[1]"),
        ({**PROCEDURE, "performer": [{"actor": {"reference": "Practitioner/1", "display": "Dr X"}}]},
         "performer[0].actor.reference"),
    ],
)  # fmt: skip
def test_an_element_the_thing_type_has_no_place_for_is_refused_by_name(
    platform: Any, resource: dict[str, Any], named: str
) -> None:
    resource = {k: v for k, v in resource.items() if v is not None}
    said = refused(platform, resource)
    assert named in said and "nothing was stored" in said, said


def test_a_quantity_with_no_unit_is_refused_not_taken_as_kg(platform: Any) -> None:
    said = refused(platform, {**WEIGHT, "valueQuantity": {"value": 70}})
    assert "valueQuantity" in said and "no unit" in said


@pytest.mark.parametrize("reference", ["Patient/someone-else", "#p1", "Group/1"])
def test_a_subject_of_another_patient_is_refused(platform: Any, reference: str) -> None:
    said = refused(platform, {**WEIGHT, "subject": {"reference": reference}})
    assert reference in said and f"Patient/{platform.record}" in said
    said = refused(platform, {**IMMUNIZATION, "patient": {"reference": reference}})
    assert reference in said and "patient" in said


def test_the_records_own_patient_is_taken(platform: Any) -> None:
    for reference in (f"Patient/{platform.record}", f"{BASE}/Patient/{platform.record}"):
        (made,) = plan(platform, {**WEIGHT, "subject": {"reference": reference}})
        assert made.thing_el is not None


def test_a_note_is_kept_as_the_things_note_and_served_back(platform: Any) -> None:
    (made,) = plan(platform, {**WEIGHT, "note": [{"text": "after breakfast"}], "identifier": [{"value": "n-1"}]})
    assert made.thing_el is not None
    common = made.thing_el.find("data-xml/common")
    assert [c.tag for c in common] == ["note", "client-thing-id"] and common.findtext("note") == "after breakfast"
    root = made.thing_el.find("data-xml/weight")
    served = FHIR.body(copy.deepcopy(made.thing_el.find("data-xml")).find("weight"), "t", FHIR.mapping_for(WEIGHT))
    assert root is not None and served["note"] == [{"text": "after breakfast"}]


def test_a_personal_thing_is_not_there_for_an_application(platform: Any) -> None:
    weight = {**WEIGHT, "identifier": [{"system": "urn:example:scale", "value": "personal-1"}]}
    (made,) = plan(platform, weight)
    assert made.thing_el is not None
    thing_id, stamp = str(uuid.uuid4()), str(uuid.uuid4())
    root = made.thing_el.find("data-xml/weight")
    assert root is not None
    with platform.store.write() as tx:
        tx.things.add(platform.record, thing_id, FHIR.mapping_for(weight).type_ids[0], stamp,
                      "urn:example:scale|personal-1", "2024-01-01T00:00:00.000Z", 2.0)  # fmt: skip
        tx.things.add_version(thing_id, stamp, 1, ACTIVE, stored(root, "urn:example:scale|personal-1"), 2.0, [])
        tx.things.set_flags(thing_id, appview.PERSONAL)
    (mine,) = plan(platform, weight)  # the person's own view: their thing, updated
    assert mine.existing == thing_id
    (theirs,) = plan(platform, weight, hidden=appview.HIDDEN_FROM_APPLICATIONS)  # an application's: not there
    assert theirs.existing is None and theirs.thing_el is not None
    assert thing_id not in etree.tostring(theirs.thing_el).decode()


def _deep(depth: int) -> bytes:
    return b"<ClinicalDocument xmlns='urn:hl7-org:v3'>" + b"<a>" * depth + b"</a>" * depth + b"</ClinicalDocument>"


def test_xml_inside_fhir_is_parsed_with_the_platforms_limits(platform: Any) -> None:
    document = {
        "resourceType": "DocumentReference", "status": "current",
        "content": [{"attachment": {"contentType": "application/xml",
                                    "data": base64.b64encode(_deep(100)).decode()}}],
    }  # fmt: skip
    (made,) = plan(platform, document)  # not parsed past the limit: not a CDA, its bytes a file's
    assert made.thing_el is not None and made.thing_el.find("data-xml/file") is not None
    carried = {**WEIGHT, "extension": [{"url": "urn:hvgen:fhir:extension:thing-data-xml",
                                        "valueBase64Binary": base64.b64encode(_deep(100)).decode()}]}  # fmt: skip
    said = refused(platform, carried)
    assert "64 deep" in said, said


@st.composite
def served_things(draw: st.DrawFn) -> tuple[Mapping, dict[str, Any]]:
    """A thing of any imported type, and the resource the server serves of it."""
    if draw(st.booleans()):
        root: etree._Element = draw(roots(two_way=True))
        return next(m for m in all_mappings() if m.root == root.tag), plain_resource(root, "urn:example|x-1")
    module = draw(st.sampled_from(sorted(CLINICAL)))
    root = draw(CLINICAL[module])
    return clinical_mapping(module), clinical_resource(module, root)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(served_things())
def test_a_served_resource_imported_back_is_kept_whole(served: tuple[Mapping, dict[str, Any]]) -> None:
    """The lossless check refuses nothing the server itself serves: every
    element of a served resource is held by the thing imported from it."""
    mapping, resource = served
    if not mapping.imports:
        return
    keeping.check_patient(resource, RECORD, BASE)
    root = mapping.to_thing(resource, xmlext.carried_root(resource, mapping.root))
    assert keeping.unkept(mapping.normal(resource), mapping.to_fhir(root)) == []
