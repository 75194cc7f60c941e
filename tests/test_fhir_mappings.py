"""FHIR mappings without a server: every resource made of hypothesis-generated
things of every mapped type validates against FHIR R4 (fhir.resources 6.4,
R4 4.0.1), thing → FHIR → thing is byte-exact, FHIR → thing → FHIR keeps every
mapped element, and FHIR written by other tools (other units, the
specification's vital-signs examples) becomes the right values."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from hvgen_server.fhir import xmlext
from hvgen_server.fhir.errors import FhirError
from hvgen_server.fhir.registry import all_mappings, facts_of
from hvgen_server.store.rows import FhirFact

from .fhirthings import FHIR, resource_of, roots

construct = pytest.importorskip("fhir.resources").construct_fhir_element
R4 = pytest.importorskip("fhir.resources").__fhir_version__

MAPPED = (
    "code", "category", "effectiveDateTime", "valueQuantity", "component", "status",
    "clinicalStatus", "onsetDateTime", "onsetString", "abatementDateTime", "abatementString",
)  # fmt: skip


def valid_r4(resource: dict[str, Any]) -> None:
    assert R4 == "4.0.1"
    construct(resource["resourceType"], copy.deepcopy(resource))  # raises on anything R4 does not allow


def mapping_of(tag: str) -> Any:
    return next(m for m in all_mappings() if m.root == tag)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roots())
def test_things_of_every_mapped_type_make_valid_r4(root: etree._Element) -> None:
    resource = resource_of(root, client_id="urn:example|w-1")
    valid_r4(resource)
    assert resource["subject"] == {"reference": "Patient/11111111-2222-3333-4444-555555555555"}
    assert {"system": "urn:example", "value": "w-1"} in resource["identifier"]
    if resource["resourceType"] == "ImagingStudy":
        endpoint = resource["contained"][0]
        assert resource["endpoint"] == [{"reference": "#dicomweb"}] and endpoint["resourceType"] == "Endpoint"
        assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
        assert resource["numberOfInstances"] == len(root.findall("series/images"))
        uid = root.findtext("study-instance-uid")
        if uid:
            assert resource["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}
        assert [s["uid"] for s in resource.get("series", [])] == [
            u.text for u in root.findall("series/series-instance-uid")
        ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roots(two_way=True))
def test_things_come_back_byte_for_byte(root: etree._Element) -> None:
    original = etree.tostring(root, encoding="utf-8")
    resource = resource_of(root, client_id="urn:example|w-1")
    mapping = mapping_of(root.tag)
    back = mapping.to_thing(resource, xmlext.carried_root(resource, mapping.root))
    assert etree.tostring(back, encoding="utf-8") == original


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roots(two_way=True))
def test_fhir_to_thing_to_fhir_keeps_every_mapped_element(root: etree._Element) -> None:
    """Without the extension, the thing is made from FHIR's elements alone;
    made into FHIR again, each mapped element is what it was."""
    resource = resource_of(root)
    bare = {k: v for k, v in resource.items() if k != "extension"}
    mapping = mapping_of(root.tag)
    thing = mapping.to_thing(bare, None)
    again = mapping.to_fhir(thing)
    for name in MAPPED:
        assert again.get(name) == resource.get(name), name


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roots(two_way=True))
def test_changed_values_win_over_the_carried_xml(root: etree._Element) -> None:
    resource = resource_of(root)
    mapping = mapping_of(root.tag)
    if "valueQuantity" in resource:
        resource["valueQuantity"]["value"] = resource["valueQuantity"]["value"] + 1
    elif "component" in resource:
        resource["component"][0]["valueQuantity"]["value"] += 1
    else:
        resource["code"] = {"text": "Changed", "coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}
        resource.pop("onsetString", None)
        resource["onsetDateTime"] = "2001-02"
    thing = mapping.to_thing(resource, xmlext.carried_root(resource, mapping.root))
    made = mapping.to_fhir(thing)
    assert made.get("code") == resource.get("code") and made.get("onsetDateTime") == resource.get("onsetDateTime")
    assert made.get("valueQuantity") == resource.get("valueQuantity")
    assert made.get("component") == resource.get("component")


def test_index_facts_hold_codes_with_and_without_system_and_the_date_in_utc() -> None:
    resource = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "effectiveDateTime": "2024-03-01T08:00:00+01:00",
    }
    facts = facts_of(resource)
    assert FhirFact("Observation", "http://loinc.org|29463-7", "vital-signs", "2024-03-01T07:00:00") in facts
    assert FhirFact("Observation", "29463-7", "vital-signs", "2024-03-01T07:00:00") in facts
    assert len(facts) == 4


# -- FHIR written by other tools ----------------------------------------------------------------

UCUM = "http://unitsofmeasure.org"


def observation(code: str, quantity: dict[str, Any], when: str = "2016-03-28") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": when,
        "valueQuantity": quantity,
    }


@pytest.mark.parametrize(
    ("code", "quantity", "path", "expected"),
    [
        # the R4 specification's body weight example (observation-example.json): 185 lbs
        ("29463-7", {"value": 185, "unit": "lbs", "system": UCUM, "code": "[lb_av]"}, "value/kg", "83.91458845"),
        ("29463-7", {"value": 72500, "unit": "g", "system": UCUM, "code": "g"}, "value/kg", "72.5"),
        ("29463-7", {"value": 160, "unit": "pounds"}, "value/kg", "72.5747792"),
        # the specification's body height example (observation-example-body-height.json): 66.9 in
        ("8302-2", {"value": 66.9, "unit": "in", "system": UCUM, "code": "[in_i]"}, "value/m", "1.69926"),
        ("8302-2", {"value": 180, "unit": "cm", "system": UCUM, "code": "cm"}, "value/m", "1.8"),
        # the specification's heart rate example (observation-example-heart-rate.json): 44 /min
        ("8867-4", {"value": 44, "unit": "beats/minute", "system": UCUM, "code": "/min"}, "value", "44"),
        # the specification's glucose example (observation-example-f001-glucose.json): 6.3 mmol/l
        ("15074-8", {"value": 6.3, "unit": "mmol/l", "system": UCUM, "code": "mmol/L"}, "value/mmolPerL", "6.3"),
        ("15074-8", {"value": 90.078, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}, "value/mmolPerL", "5"),
    ],
)
def test_quantities_in_other_units_are_converted(code: str, quantity: dict[str, Any], path: str, expected: str) -> None:
    resource = observation(code, quantity)
    mapping = FHIR.mapping_for(resource)
    thing = mapping.to_thing(resource, None)
    assert Decimal(thing.findtext(path)) == Decimal(expected)
    assert thing.findtext("when/date/y") == "2016"


def test_the_blood_pressure_example_of_the_specification_maps_its_components() -> None:
    resource = {  # observation-example-bloodpressure.json, trimmed to what the mapping reads
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": "2012-09-17",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 107, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 60, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
        ],
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert etree.tostring(thing) == (
        b"<blood-pressure><when><date><y>2012</y><m>9</m><d>17</d></date></when>"
        b"<systolic>107</systolic><diastolic>60</diastolic></blood-pressure>"
    )


def test_times_with_a_zone_are_kept_as_the_same_moment_in_utc() -> None:
    resource = observation("8867-4", {"value": 60, "code": "/min", "system": UCUM}, "2013-04-02T09:30:10+01:00")
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert [thing.findtext(f"when/time/{p}") for p in "hms"] == ["8", "30", "10"]


@pytest.mark.parametrize(
    ("resource", "said"),
    [
        (observation("29463-7", {"value": 3, "unit": "m", "system": UCUM, "code": "m"}), "not a unit of mass"),
        (observation("8867-4", {"value": 60.5, "system": UCUM, "code": "/min"}), "not a whole number"),
        (observation("29463-7", {"value": 70, "code": "kg", "system": UCUM}, "2016-03"), "full date"),
        (
            {**observation("29463-7", {"value": 70, "code": "kg", "system": UCUM}), "effectiveDateTime": None},
            "effectiveDateTime",
        ),
        (observation("1234-5", {"value": 70, "code": "kg", "system": UCUM}), "maps to no thing type"),
    ],
)
def test_what_cannot_be_mapped_is_refused_naming_it(resource: dict[str, Any], said: str) -> None:
    with pytest.raises(FhirError, match=said):
        FHIR.mapping_for(resource).to_thing(resource, None)


def test_an_imaging_study_is_not_imported() -> None:
    study = {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/x"}}
    with pytest.raises(FhirError, match="ImagingStudy is served but not imported"):
        FHIR.mapping_for(study)


def test_every_mapping_states_its_source() -> None:
    for mapping in all_mappings():
        assert "http" in mapping.source and mapping.type_ids[0] in mapping.source, mapping.root
