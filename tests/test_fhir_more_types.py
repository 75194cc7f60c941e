"""FHIR mappings of vital signs, the evening sleep journal and lab test
results without a server, over many hypothesis-generated things of these
types alone (test_fhir_clinical runs the same properties over every type):
valid R4 (fhir.resources), thing → FHIR → thing byte-exact, FHIR → thing →
FHIR keeps every mapped element; and FHIR written by other tools."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hvgen_server.fhir import xmlext
from hvgen_server.fhir.capability import capability_statement
from hvgen_server.fhir.errors import FhirError
from hvgen_server.fhir.registry import facts_of

from .fhirthings import FHIR
from .fhirthings_clinical import mapping, resource_of
from .fhirthings_more import STRATEGIES

construct = pytest.importorskip("fhir.resources").construct_fhir_element
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
NOT_MAPPED = ("id", "meta", "extension", "identifier", "subject")


@st.composite
def things(draw: st.DrawFn) -> tuple[str, etree._Element]:
    module = draw(st.sampled_from(sorted(STRATEGIES)))
    root: etree._Element = draw(STRATEGIES[module])
    if draw(st.booleans()):
        etree.indent(root, "  ")
    return module, root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(things())
def test_each_thing_is_valid_r4_comes_back_byte_for_byte_and_keeps_its_elements(
    thing: tuple[str, etree._Element],
) -> None:
    module, root = thing
    original = etree.tostring(root, encoding="utf-8")
    resource = resource_of(module, root)
    construct("Observation", copy.deepcopy(resource))
    found = mapping(module)
    assert FHIR.mapping_for(resource) is found
    back = found.to_thing(resource, xmlext.carried_root(resource, found.root))
    assert etree.tostring(back, encoding="utf-8") == original
    bare = {k: v for k, v in resource.items() if k not in NOT_MAPPED}
    assert FHIR.mapping_for(bare) is found
    again = found.to_fhir(found.to_thing(bare, None))
    assert again == bare


def lab(*components: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "11502-2"}, {"system": LOINC, "code": "24323-8"}],
                 "text": "Metabolic panel"},
        "component": list(components), **more,
    }  # fmt: skip


def test_a_lab_report_of_another_tool_is_one_group_of_results() -> None:
    glucose = {"code": {"coding": [{"system": LOINC, "code": "2345-7"}], "text": "Glucose"},
               "valueQuantity": {"value": 95, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
               "referenceRange": [{"low": {"value": 70}, "high": {"value": 99}}],
               "interpretation": [{"text": "Normal"}]}  # fmt: skip
    note = {"code": {"text": "Specimen"}, "valueString": "slightly haemolysed"}
    resource = lab(glucose, note, effectiveDateTime="2021-03-04T08:00:00Z")
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert thing.findtext("lab-group/group-name/text") == "Metabolic panel"
    assert thing.findtext("lab-group/group-name/code/value") == "24323-8"
    first, second = thing.findall("lab-group/results")
    assert first.findtext("clinical-code/code/value") == "2345-7"
    assert first.findtext("value/measurement/display") == "95 mg/dL"
    assert first.findtext("value/measurement/structured/value") == "95"
    assert first.findtext("value/measurement/structured/units/code/value") == "mg/dL"
    assert [first.findtext(f"value/ranges/value/{t}") for t in ("minimum-range", "maximum-range")] == ["70", "99"]
    assert first.findtext("value/ranges/text/text") == "70–99" and first.findtext("value/flag/text") == "Normal"
    assert second.findtext("value/measurement/display") == "slightly haemolysed"
    assert [c.tag for c in thing] == ["when", "lab-group"]
    served = FHIR.mapping_for(resource).to_fhir(thing)
    construct("Observation", served)
    assert served["component"][0]["valueQuantity"] == glucose["valueQuantity"]
    assert {(f.code, f.date) for f in facts_of(served)} >= {("http://loinc.org|11502-2", "2021-03-04T08:00:00"),
                                                           ("24323-8", "2021-03-04T08:00:00")}  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "said"),
    [
        (lab({"code": {"text": "X"}, "valueBoolean": True}), "only valueQuantity"),
        (lab({"valueString": "7"}), "component 0 code: a CodeableConcept is needed"),
        (lab({"code": {"text": "X"}, "interpretation": [{"text": "High"}]}), "without a value"),
        ({"resourceType": "Observation", "status": "final", "effectiveDateTime": "2020-01-01",
          "code": {"coding": [{"system": LOINC, "code": "85353-1"}]},
          "component": [{"code": {"text": "T"}, "valueQuantity": {"value": 37}, "referenceRange": [{}, {}]}]},
         "one referenceRange at most"),
        ({"resourceType": "Observation", "status": "final", "effectiveDateTime": "2020-01-01",
          "code": {"coding": [{"system": LOINC, "code": "8310-5"}]},
          "component": [{"code": {"text": "T"}, "valueQuantity": {"value": 37}}]},
         "components of a single vital sign are not held"),
        ({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": LOINC, "code": "9279-1"}]},
          "valueQuantity": {"value": 16, "unit": "/min"}}, "effectiveDateTime is needed"),
        ({"resourceType": "Observation", "status": "final", "effectiveDateTime": "2020-01-01T20:00:00Z",
          "code": {"coding": [{"system": "urn:healthvault:wc:sleep-journal-pm", "code": "sleepiness"}]},
          "valueInteger": 3, "component": [{"code": {"coding": [{"system": "urn:healthvault:wc:sleep-journal-pm",
                                                                 "code": "nap"}]},
                                            "valueQuantity": {"value": 20, "unit": "min"}}]},
         "the start time"),
    ],
)  # fmt: skip
def test_what_cannot_be_held_is_refused_naming_it(resource: dict[str, Any], said: str) -> None:
    with pytest.raises(FhirError, match=said):
        FHIR.mapping_for(resource).to_thing(resource, None)


def test_a_nap_of_another_tool_in_hours_is_held_in_minutes() -> None:
    vocabulary = "urn:healthvault:wc:sleep-journal-pm"
    resource = {
        "resourceType": "Observation", "status": "final", "effectiveDateTime": "2020-01-01T20:00:00Z",
        "code": {"coding": [{"system": vocabulary, "code": "sleepiness"}]}, "valueInteger": 3,
        "component": [{"code": {"coding": [{"system": vocabulary, "code": "nap"}]},
                       "extension": [{"url": "urn:hvgen:fhir:extension:start-time", "valueTime": "13:30:00"}],
                       "valueQuantity": {"value": 0.5, "unit": "h", "system": UCUM, "code": "h"}}],
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert etree.tostring(thing) == (
        b"<sleep-pm><when><date><y>2020</y><m>1</m><d>1</d></date><time><h>20</h><m>0</m><s>0</s></time></when>"
        b"<nap><when><h>13</h><m>30</m><s>0</s></when><minutes>30</minutes></nap><sleepiness>3</sleepiness></sleep-pm>"
    )


def test_a_vital_sign_of_another_tool_may_say_its_moment_as_an_instant() -> None:
    resource = {
        "resourceType": "Observation", "status": "final", "effectiveInstant": "2020-01-01T20:15:00Z",
        "code": {"coding": [{"system": LOINC, "code": "9279-1"}]},
        "valueQuantity": {"value": 16, "unit": "/min", "system": UCUM, "code": "/min"},
    }  # fmt: skip
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    assert etree.tostring(thing.find("when")) == (
        b"<when><date><y>2020</y><m>1</m><d>1</d></date><time><h>20</h><m>15</m><s>0</s></time></when>"
    )


def test_the_capability_statement_offers_the_new_types_through_observation() -> None:
    statement = capability_statement(FHIR, "http://h/fhir", "1")
    construct("CapabilityStatement", statement)
    kinds = [r["type"] for r in statement["rest"][0]["resource"]]
    assert kinds.count("Observation") == 1
    assert {m.root for m in FHIR.mappings if m.resource_type == "Observation"} >= {
        "vital-signs", "sleep-pm", "lab-test-results"
    }  # fmt: skip
