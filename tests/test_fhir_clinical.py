"""FHIR mappings of the clinical types (Immunization, AllergyIntolerance,
Procedure, MedicationStatement of both medication versions) and of the
further measurements (oxygen saturation, HbA1C of both versions), without a
server: resources made of hypothesis-generated things validate against R4
(fhir.resources 6.4), thing → FHIR → thing is byte-exact, FHIR → thing →
FHIR keeps every mapped element, and FHIR written by other tools becomes
the right things."""

from __future__ import annotations

import base64
import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hvgen_server.fhir import xmlext
from hvgen_server.fhir.capability import capability_statement
from hvgen_server.fhir.errors import FhirError
from hvgen_server.fhir.registry import all_mappings, facts_of
from hvgen_server.fhir.search import parse

from . import fhirthings
from .fhirthings import FHIR, RECORD
from .fhirthings_clinical import STRATEGIES, mapping, resource_of
from .fhirthings_documents import OTHER_DOCUMENTS
from .fhirthings_documents import STRATEGIES as DOCUMENTS

construct = pytest.importorskip("fhir.resources").construct_fhir_element
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
NOT_MAPPED = ("id", "meta", "extension", "identifier", "subject", "patient")


def valid_r4(resource: dict[str, Any]) -> None:
    construct(resource["resourceType"], copy.deepcopy(resource))  # raises on anything R4 does not allow


@st.composite
def things(draw: st.DrawFn) -> tuple[str, etree._Element]:
    module = draw(st.sampled_from(sorted(STRATEGIES)))
    root: etree._Element = draw(STRATEGIES[module])
    if draw(st.booleans()):
        etree.indent(root, "\t")
    return module, root


def test_every_mapping_has_a_strategy() -> None:
    strategies = set(fhirthings.STRATEGIES) | {mapping(m).root for m in STRATEGIES}
    assert {m.root for m in all_mappings()} <= strategies
    assert {m.root for m in all_mappings()} - set(fhirthings.STRATEGIES) == {mapping(m).root for m in STRATEGIES}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(things())
def test_things_of_the_clinical_and_measurement_types_make_valid_r4(thing: tuple[str, etree._Element]) -> None:
    module, root = thing
    resource = resource_of(module, root)
    valid_r4(resource)
    assert resource["resourceType"] == mapping(module).resource_type
    reference = resource.get("patient") or resource.get("subject")
    assert reference == {"reference": f"Patient/{RECORD}"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(things())
def test_things_come_back_byte_for_byte(thing: tuple[str, etree._Element]) -> None:
    module, root = thing
    original = etree.tostring(root, encoding="utf-8")
    resource = resource_of(module, root)
    found = mapping(module)
    back = found.to_thing(resource, xmlext.carried_root(resource, found.root))
    assert etree.tostring(back, encoding="utf-8") == original


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(things())
def test_fhir_to_thing_to_fhir_keeps_every_mapped_element(thing: tuple[str, etree._Element]) -> None:
    """Without the extension, the thing is made of FHIR's elements alone;
    made into FHIR again, it is the same resource."""
    module, root = thing
    resource = resource_of(module, root)
    bare = {k: v for k, v in resource.items() if k != "extension"}
    found = mapping(module)
    if module in DOCUMENTS:  # a CCR or CDA is its attachment's bytes: FHIR has it as data or not at all
        with pytest.raises(FhirError, match="as base64 in the attachment's data"):
            found.to_thing(bare, None)
        document = base64.b64encode(etree.tostring(root)).decode()
        bare["content"] = [{"attachment": {"contentType": "application/xml", "data": document}}]
        assert etree.tostring(found.to_thing(bare, None)) == etree.tostring(root)
        return
    dated = module != "lab_test_results"  # lab test results may have no date at all
    if resource["resourceType"] == "Observation" and "effectiveDateTime" not in resource and dated:  # a descriptive one
        with pytest.raises(FhirError, match="effectiveDateTime is needed"):
            found.to_thing(bare, None)
        return
    again = found.to_fhir(found.to_thing(bare, None))
    assert again.pop("meta", {}).get("profile") == resource["meta"].get("profile")
    assert again == {k: v for k, v in resource.items() if k not in NOT_MAPPED}


CHANGES = {
    "immunization": ("vaccineCode", {"text": "MMR", "coding": [{"system": CVX, "code": "03"}]}),
    "allergy_intolerance": ("onsetDateTime", "2019-07"),
    "procedure": ("code", {"text": "Cataract surgery", "coding": [{"system": "http://snomed.info/sct", "code": "110473004"}]}),
    "medication_statement": ("effectivePeriod", {"start": "2020-01-05", "end": "2020-02"}),
    "medication_statement_v1": ("reasonCode", [{"text": "Back pain"}]),
    "oxygen_saturation": ("valueQuantity", {"value": 93.5, "unit": "%", "system": UCUM, "code": "%"}),
    "hba1c": ("valueQuantity", {"value": 48, "unit": "mmol/mol", "system": UCUM, "code": "mmol/mol"}),
    "hba1c_v1": ("valueQuantity", {"value": 6.5, "unit": "%", "system": UCUM, "code": "%"}),
    "body_dimension": ("valueQuantity", {"value": 81.5, "unit": "cm", "system": UCUM, "code": "cm"}),
    "body_composition": ("effectiveDateTime", "2020-02-02T10:00:00Z"),
    "exercise": ("note", [{"text": "Evening walk"}]),
    "peak_flow": ("valueQuantity", {"value": 420, "unit": "L/min", "system": UCUM, "code": "L/min"}),
    "cholesterol": ("effectiveDateTime", "2019-12-31"),
    "sleep_session": ("valueQuantity", {"value": 400, "unit": "min", "system": UCUM, "code": "min"}),
    "immunization_v1": ("occurrenceString", "in 1999"),
    "procedure_v1": ("performedDateTime", "2011-11-11T11:11:11Z"),
    "cholesterol_v1": ("effectiveDateTime", "2019-12-31"),
    "vital_signs": ("bodySite", {"text": "right arm"}),
    "lab_test_results": ("effectiveDateTime", "2021-03-04"),
    "sleep_pm": ("component", [{"code": {"coding": [{"system": "urn:healthvault:wc:sleep-journal-pm", "code": "caffeine",
                                                     "display": "Caffeine"}], "text": "Caffeine"}, "valueTime": "15:00:00"}]),
}  # fmt: skip


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(things())
def test_changed_values_win_over_the_carried_xml(thing: tuple[str, etree._Element]) -> None:
    module, root = thing
    resource = resource_of(module, root)
    if module in DOCUMENTS:  # the attachment's data wins over the carried XML
        other = base64.b64encode(OTHER_DOCUMENTS[module]).decode()
        resource["content"] = [{"attachment": {"contentType": "application/xml", "data": other}}]
        made_root = mapping(module).to_thing(resource, xmlext.carried_root(resource, mapping(module).root))
        assert etree.tostring(made_root) == OTHER_DOCUMENTS[module]
        return
    name, value = CHANGES[module]
    for other in ("onsetString", "occurrenceDateTime"):  # a choice element is given once
        resource.pop(other, None)
    resource[name] = value
    found = mapping(module)
    made = found.to_fhir(found.to_thing(resource, xmlext.carried_root(resource, found.root)))
    assert made[name] == value


# -- FHIR written by other tools ----------------------------------------------------------------


def test_the_specifications_immunization_example_maps() -> None:
    resource = {  # immunization-example.json, trimmed to what FHIR R4 needs and the mapping reads
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": "urn:oid:1.2.36.1.2001.1005.17", "code": "FLUVAX"}], "text": "Fluvax (Influenza)"},
        "patient": {"reference": "Patient/example"},
        "occurrenceDateTime": "2013-01-10",
        "lotNumber": "AAJN11K",
        "expirationDate": "2015-02-15",
        "site": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActSite", "code": "LA", "display": "left arm"}]},
        "route": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "code": "IM"}]},
        "performer": [{"actor": {"reference": "Practitioner/example", "display": "Dr Adam Careful"}}],
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert thing.findtext("name/text") == "Fluvax (Influenza)" and thing.findtext("name/code/value") == "FLUVAX"
    assert [thing.findtext(f"administration-date/structured/date/{p}") for p in "ymd"] == ["2013", "1", "10"]
    assert thing.findtext("lot") == "AAJN11K" and thing.findtext("administrator/name/full") == "Dr Adam Careful"
    assert [thing.findtext(f"expiration-date/{p}") for p in "ymd"] == ["2015", "2", "15"]
    assert thing.findtext("anatomic-surface/text") == "left arm" and thing.findtext("route/code/value") == "IM"
    assert [c.tag for c in thing] == [
        "name", "administration-date", "administrator", "lot", "route", "expiration-date", "anatomic-surface",
    ]  # fmt: skip


def test_cvx_codes_are_healthvaults_immunization_vocabulary() -> None:
    resource = {
        "resourceType": "Immunization", "status": "completed", "occurrenceString": "as a child",
        "vaccineCode": {"coding": [{"system": CVX, "code": "24", "display": "anthrax"}]},
        "patient": {"reference": "Patient/x"},
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert etree.tostring(thing.find("name")) == (
        b"<name><text>anthrax</text><code><value>24</value><family>wc</family><type>immunizations</type></code></name>"
    )
    assert thing.findtext("administration-date/descriptive") == "as a child"
    assert FHIR.resource(RECORD, _row("immunization", thing))["vaccineCode"]["coding"][0]["system"] == CVX
    # a code of the vocabulary that is not of CVX's form (older data holds names) is not served as CVX,
    # and the vocabulary's version is not a version of CVX
    named = etree.fromstring(
        b"<name><text>adenovirus vaccine</text><code><value>adenovirus, type 7</value><family>wc</family>"
        b"<type>immunizations</type><version>1</version></code></name>"
    )
    thing.replace(thing.find("name"), named)
    coding = FHIR.resource(RECORD, _row("immunization", thing))["vaccineCode"]["coding"][0]
    assert coding == {"system": "urn:healthvault:wc:immunizations", "code": "adenovirus, type 7", "version": "1"}
    named.find("code/value").text = "140"
    coding = FHIR.resource(RECORD, _row("immunization", thing))["vaccineCode"]["coding"][0]
    assert coding == {"system": CVX, "code": "140"}


def _row(module: str, root: etree._Element) -> Any:
    from hvgen_server.store.rows import ThingVersion

    from .fhirthings_clinical import stored

    return ThingVersion("0f0f0f0f-0000-0000-0000-000000000003", mapping(module).type_ids[0], "v1", "Active", "",
                        1.0, 2.0, stored(module, root), 1, None)  # fmt: skip


def test_a_refuted_allergy_is_negated_and_inactive() -> None:
    resource = {  # allergyintolerance-nka-like: a refuted peanut allergy
        "resourceType": "AllergyIntolerance",
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "refuted"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91935009", "display": "Allergy to peanuts"}]},
        "patient": {"reference": "Patient/example"},
        "reaction": [{"manifestation": [{"text": "Hives"}]}],
        "onsetDateTime": "2004",
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert [c.tag for c in thing] == ["name", "reaction", "first-observed", "is-negated"]
    assert thing.findtext("is-negated") == "true" and thing.findtext("name/code/family") == "snomed"
    made = FHIR.resource(RECORD, _row("allergy_intolerance", thing))
    valid_r4(made)
    # ait-1: clinicalStatus is present unless entered-in-error
    assert made["clinicalStatus"]["coding"][0]["code"] == "inactive"
    assert made["verificationStatus"]["coding"][0]["code"] == "refuted"


def test_a_medication_statement_takes_its_contained_medications_code() -> None:
    resource = {  # as medicationstatementexample1.json: the medication is a contained resource
        "resourceType": "MedicationStatement",
        "contained": [{"resourceType": "Medication", "id": "med0309", "code": {"coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG"}]}}],
        "status": "active",
        "medicationReference": {"reference": "#med0309"},
        "subject": {"reference": "Patient/pat1"},
        "effectivePeriod": {"start": "2015-01-23", "end": "2015-03-02T08:00:00-05:00"},
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": "Hypertension"}],
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert thing.findtext("name/code/value") == "197361" and thing.findtext("name/code/family") == "rxnorm"
    assert thing.findtext("name/text") == "Amlodipine 5 MG" and thing.findtext("indication/text") == "Hypertension"
    assert [thing.findtext(f"date-discontinued/structured/time/{p}") for p in "hms"] == ["13", "0", "0"]
    made = FHIR.resource(RECORD, _row("medication_statement", thing))
    assert made["status"] == "completed" and made["effectivePeriod"]["start"] == "2015-01-23"


def test_a_reference_to_a_medication_not_contained_is_refused() -> None:
    resource = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationReference": {"reference": "Medication/x"},
    }
    with pytest.raises(FhirError, match="not a contained Medication"):
        FHIR.mapping_for(resource).to_thing(resource, None)


@pytest.mark.parametrize(
    ("code", "quantity", "path", "expected"),
    [
        # the specification's oxygen saturation example (observation-example-satO2.json): 95 %
        ("2708-6", {"value": 95, "unit": "%", "system": UCUM, "code": "%"}, "value", "0.95"),
        ("2708-6", {"value": 0.93, "unit": "1", "system": UCUM, "code": "1"}, "value", "0.93"),
        ("4548-4", {"value": 6.5, "unit": "%", "system": UCUM, "code": "%"}, "value", "0.065"),
        ("59261-8", {"value": 48, "unit": "mmol/mol", "system": UCUM, "code": "mmol/mol"}, "value/mmol-per-mol", "48"),
        # waist circumference in inches; body fat as a percentage; peak flow in L/min and L/s
        ("8280-0", {"value": 34, "unit": "in", "system": UCUM, "code": "[in_i]"}, "value/m", "0.8636"),
        ("41982-0", {"value": 22.5, "unit": "%", "system": UCUM, "code": "%"}, "value/percent-value", "0.225"),
        ("19935-6", {"value": 450, "unit": "L/min", "system": UCUM, "code": "L/min"}, "pef/liters-per-second", "7.5"),
        ("19935-6", {"value": 7.5, "unit": "L/s", "system": UCUM, "code": "L/s"}, "pef/liters-per-second", "7.5"),
    ],
)
def test_measurements_of_other_tools_are_converted(
    code: str, quantity: dict[str, Any], path: str, expected: str
) -> None:
    resource = {
        "resourceType": "Observation", "status": "final", "effectiveDateTime": "2021-06-01T10:00:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "valueQuantity": quantity,
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert Decimal(thing.findtext(path)) == Decimal(expected)


def test_a_lipid_panel_in_mass_units_is_converted_into_moles() -> None:
    def member(code: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": {"value": value, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}}  # fmt: skip

    resource = {  # as laboratories (and Synthea) write it: mass concentrations
        "resourceType": "Observation", "status": "final", "effectiveDateTime": "2020-05-06T08:30:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": "57698-3"}]},
        "component": [member("2093-3", 193.325), member("2085-9", 50), member("18262-6", 116), member("2571-8", 177.14)],
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert [c.tag for c in thing] == ["when", "ldl", "hdl", "total-cholesterol", "triglyceride"]
    held = {c.tag: Decimal(c.findtext("mmolPerL")) for c in thing if c.tag != "when"}
    assert held["total-cholesterol"] == Decimal(5) and held["triglyceride"] == Decimal(2)
    assert abs(held["hdl"] - Decimal("1.2931592")) < Decimal("0.0000001")
    made = FHIR.resource(RECORD, _row("cholesterol", thing))
    valid_r4(made)
    assert [c["code"]["coding"][0]["code"] for c in made["component"]] == ["22748-8", "14646-4", "14647-2", "14927-8"]


def test_an_exercise_of_another_tool_keeps_its_activity_duration_and_distance() -> None:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": "final", "effectiveDateTime": "2022-08-01T06:00:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": "73985-4"}]},
        "valueCodeableConcept": {"text": "Cycling"},
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "55411-3"}]},
             "valueQuantity": {"value": 1.5, "unit": "h", "system": UCUM, "code": "h"}},
            {"code": {"coding": [{"system": "urn:healthvault:wc:exercise", "code": "Distance"}]},
             "valueQuantity": {"value": 20, "unit": "km", "system": UCUM, "code": "km"}},
        ],
    }  # fmt: skip
    with pytest.raises(FhirError, match="'km' is not a unit of length"):
        FHIR.mapping_for(resource).to_thing(resource, None)
    resource["component"][1]["valueQuantity"] = {"value": 20000, "unit": "m", "system": UCUM, "code": "m"}
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert etree.tostring(thing) == (
        b"<exercise><when><structured><date><y>2022</y><m>8</m><d>1</d></date><time><h>6</h><m>0</m><s>0</s></time>"
        b"</structured></when><activity><text>Cycling</text></activity><distance><m>20000</m></distance>"
        b"<duration>90</duration></exercise>"
    )


def test_a_sleep_session_of_another_tool_needs_its_bed_and_wake_times() -> None:
    vocabulary = "urn:healthvault:wc:sleep-journal-am"

    def part(code: str, **value: Any) -> dict[str, Any]:
        return {"code": {"coding": [{"system": vocabulary, "code": code}]}, **value}

    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": "final", "effectiveDateTime": "2021-01-02T07:10:00+01:00",
        "code": {"coding": [{"system": "http://loinc.org", "code": "93832-4"}]},
        "valueQuantity": {"value": 7.5, "unit": "h", "system": UCUM, "code": "h"},
        "component": [
            part("bed-time", valueTime="23:05:00"),
            part("settling-minutes", valueQuantity={"value": 900, "unit": "s", "system": UCUM, "code": "s"}),
            part("wake-state", valueInteger=2),
        ],
    }  # fmt: skip
    with pytest.raises(FhirError, match=r"component wake-time \(Wake time\) is needed"):
        FHIR.mapping_for(resource).to_thing(resource, None)
    resource["component"].append(part("wake-time", valueTime="06:40:30.25"))
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert etree.tostring(thing) == (
        b"<sleep-am><when><date><y>2021</y><m>1</m><d>2</d></date><time><h>6</h><m>10</m><s>0</s></time></when>"
        b"<bed-time><h>23</h><m>5</m><s>0</s></bed-time><wake-time><h>6</h><m>40</m><s>30</s><f>250</f></wake-time>"
        b"<sleep-minutes>450</sleep-minutes><settling-minutes>15</settling-minutes><wake-state>2</wake-state></sleep-am>"
    )
    resource["component"][0] = part("bed-time", valueTime="25:00:00")
    with pytest.raises(FhirError, match="not a FHIR time"):
        FHIR.mapping_for(resource).to_thing(resource, None)


@pytest.mark.parametrize(
    ("resource", "said"),
    [
        ({"resourceType": "Immunization", "status": "completed", "occurrenceDateTime": "2020"}, "vaccineCode is needed"),
        ({"resourceType": "Procedure", "status": "completed", "code": {"text": "X"}, "performedDateTime": "May"}, "not a FHIR dateTime"),
        ({"resourceType": "Immunization", "vaccineCode": {"text": "X"}, "expirationDate": "soon"}, "not a FHIR date"),
        ({"resourceType": "Procedure", "code": {"text": "X"}, "performer": [{"actor": {"reference": "Practitioner/1"}}]}, "display"),
        ({"resourceType": "AllergyIntolerance", "code": {}}, "neither text nor a code"),
        ({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "2708-6"}]},
          "effectiveDateTime": "2020-01-01", "valueQuantity": {"value": 95, "code": "mm[Hg]", "system": UCUM}}, "not a unit of fraction"),
    ],
)  # fmt: skip
def test_what_cannot_be_mapped_is_refused_naming_it(resource: dict[str, Any], said: str) -> None:
    with pytest.raises(FhirError, match=said):
        FHIR.mapping_for(resource).to_thing(resource, None)


def test_the_index_holds_each_types_code_and_date() -> None:
    immunization = resource_of("immunization", etree.fromstring(
        b"<immunization><name><text>MMR</text><code><value>03</value><family>wc</family><type>immunizations</type>"
        b"</code></name><administration-date><structured><date><y>2020</y><m>3</m><d>4</d></date></structured>"
        b"</administration-date></immunization>"))  # fmt: skip
    facts = facts_of(immunization)
    assert {(f.code, f.date) for f in facts} == {(f"{CVX}|03", "2020-03-04T00:00:00"), ("03", "2020-03-04T00:00:00")}
    medication = resource_of("medication_statement", etree.fromstring(
        b"<medication><name><text>Aspirin</text><code><value>1191</value><family>RxNorm</family><type>RxNorm</type>"
        b"</code></name><date-started><structured><date><y>2021</y><m>5</m></date></structured></date-started>"
        b"</medication>"))  # fmt: skip
    assert {(f.code, f.date) for f in facts_of(medication)} >= {("1191", "")}  # a month is not a full date
    query = parse("Immunization", [("vaccine-code", "03"), ("date", "ge2020")], RECORD).query
    assert query.codes == ("03",) and query.dates == ((">=", "2020-01-01T00:00:00"),)
    assert parse("MedicationStatement", [("effective", "2021")], RECORD).query.dates
    with pytest.raises(FhirError, match="not supported for AllergyIntolerance"):
        parse("AllergyIntolerance", [("date", "2020")], RECORD)


def test_the_capability_statement_lists_the_new_types_with_their_search_parameters() -> None:
    statement = capability_statement(FHIR, "http://h/fhir", "1")
    valid_r4(statement)
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for kind, params in {
        "Immunization": {"patient", "date", "vaccine-code"},
        "AllergyIntolerance": {"patient", "code"},
        "Procedure": {"patient", "subject", "date", "code"},
        "MedicationStatement": {"patient", "subject", "effective", "code"},
    }.items():
        assert {p["name"] for p in by_type[kind]["searchParam"]} == params | {"_id", "_lastUpdated", "_count"}
        assert {"code": "create"} in by_type[kind]["interaction"]
    assert "http://hl7.org/fhir/StructureDefinition/oxygensat" in by_type["Observation"]["supportedProfile"]


def test_every_new_mapping_states_its_source() -> None:
    for module in STRATEGIES:
        found = mapping(module)
        assert "http" in found.source and found.type_ids[0] in found.source, module
