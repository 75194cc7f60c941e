"""/fhir end to end for vital signs, lab test results and the evening sleep journal: a
server started with the published catalog; the catalog's evening journal
sample put through the HealthVault API and served; the R4 specification's
vital sign examples and a body temperature in °F of another tool imported
(what they make is checked against the catalog's schema like any
PutThings), found by code and date, in the CapabilityStatement and in the
export; the R4 vital signs panel (hasMember) refused whole."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import rawhttp
from .test_fhir_server import CATALOG, SAMPLES, get, hvgen, served, token

__all__ = ["served"]  # the module's server (a fixture of test_fhir_server, one per module)

construct = pytest.importorskip("fhir.resources").construct_fhir_element
pytestmark = pytest.mark.skipif(not CATALOG.is_dir(), reason="../shared/reference/catalog is not present")
EXAMPLES = Path(__file__).with_name("fhir_r4_examples")
UCUM = "http://unitsofmeasure.org"
SLEEP_PM = "031F5706-7F1A-11DB-AD56-7BD355D89593"


def valid_r4(resource: dict[str, Any]) -> None:
    construct(resource["resourceType"], copy.deepcopy(resource))


def example(name: str) -> dict[str, Any]:
    """An R4 example as this record's: its subject (Patient/example, another patient) left out."""
    found: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    for key in ("subject", "patient"):
        found.pop(key, None)
    return found


def post(server: Any, headers: dict[str, str], resources: list[dict[str, Any]]) -> httpx.Response:
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in resources],
    }  # fmt: skip
    return httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)


FEVER = {  # as a thermometer's app writes it: °F, a unit text and no UCUM code
    "resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:example:app", "value": "t-1"}],
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                              "code": "vital-signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}], "text": "Body temperature"},
    "effectiveDateTime": "2023-02-03T21:00:00-05:00", "valueQuantity": {"value": 101.3, "unit": "°F"},
    "referenceRange": [{"high": {"value": 99.5, "unit": "°F"}}],
    "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                    "code": "H"}], "text": "High"}],
}  # fmt: skip


def test_metadata_lists_observation_for_the_new_types(served: Any) -> None:
    server, _ = served
    statement = json.loads(rawhttp.request(server.port, "GET", "/fhir/metadata").body)
    valid_r4(statement)
    observation = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Observation")
    assert {"code": "create"} in observation["interaction"]
    assert {p["name"] for p in observation["searchParam"]} >= {"code", "date", "category", "patient"}


def test_the_evening_journal_sample_is_served_and_found_by_code_and_date(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    data = (SAMPLES / f"{SLEEP_PM}.xml").read_bytes()
    thing = tmp_path / "sleep-pm.xml"
    thing.write_bytes(b"<thing><type-id>" + SLEEP_PM.encode() + b"</type-id><data-xml>" + data + b"</data-xml></thing>")
    run = hvgen(server, tmp_path, "thing", "put", str(thing))
    assert run.code == 0, run.output
    found = get(
        server, "/Observation", headers, code="urn:healthvault:wc:sleep-journal-pm|sleepiness", date="2005-01-01"
    )
    assert found.json()["total"] == 1
    journal = found.json()["entry"][0]["resource"]
    valid_r4(journal)
    assert journal["valueInteger"] == 2 and journal["effectiveDateTime"] == "2005-01-01T06:00:00Z"
    parts = [(c["code"]["coding"][0]["code"], c.get("valueTime"), c.get("valueQuantity", {}).get("value"))
             for c in journal["component"]]  # fmt: skip
    assert parts == [("caffeine", "17:30:00", None), ("alcohol", "22:00:00", None), ("nap", None, 420),
                     ("exercise", None, 90)]  # fmt: skip
    assert base64.b64decode(journal["extension"][0]["valueBase64Binary"]) == data.strip()
    assert get(server, "/Observation", headers, code="sleepiness", date="2006").json()["total"] == 0


def test_vital_signs_of_the_specification_and_another_tool_are_imported_and_found(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    names = ("observation-example-body-temperature.json", "observation-example-respiratory-rate.json",
             "observation-example-bmi.json")  # fmt: skip
    answer = post(server, headers, [example(n) for n in names] + [FEVER])
    assert answer.status_code == 200, answer.text
    assert [e["response"]["status"] for e in answer.json()["entry"]] == ["201 Created"] * 4

    temperatures = get(server, "/Observation", headers, code="http://loinc.org|8310-5").json()
    assert temperatures["total"] == 2
    by_day = {e["resource"]["effectiveDateTime"][:4]: e["resource"] for e in temperatures["entry"]}
    for resource in by_day.values():
        valid_r4(resource)
    assert by_day["1999"]["valueQuantity"] == {"value": 36.5, "unit": "C", "system": UCUM, "code": "Cel"}
    fever = by_day["2023"]  # kept in °F, as the thing holds its unit; the text became its UCUM code
    assert fever["effectiveDateTime"] == "2023-02-04T02:00:00Z"
    assert fever["valueQuantity"] == {"value": 101.3, "unit": "°F", "system": UCUM, "code": "[degF]"}
    assert fever["referenceRange"] == [{"high": {"value": 99.5, "unit": "°F", "system": UCUM, "code": "[degF]"}}]
    assert fever["interpretation"][0]["coding"][0]["code"] == "H"
    assert get(server, "/Observation", headers, code="8310-5", date="ge2023-02-04").json()["total"] == 1
    assert get(server, "/Observation", headers, code="8310-5", date="lt1999-07-02").json()["total"] == 0
    rate = get(server, "/Observation", headers, code="9279-1", date="1999-07-02").json()["entry"][0]["resource"]
    assert rate["valueQuantity"]["value"] == 26 and rate["valueQuantity"]["code"] == "/min"
    bmi = get(server, "/Observation", headers, code="39156-5", category="vital-signs").json()
    assert bmi["total"] == 1 and bmi["entry"][0]["resource"]["valueQuantity"]["value"] == 16.2

    again = post(server, headers, [FEVER])  # the same identifier: no second thing
    assert again.status_code == 200 and get(server, "/Observation", headers, code="8310-5").json()["total"] == 2


def test_a_panel_of_several_results_is_one_thing_and_one_observation(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)

    def component(code: str, value: float, unit: str, ucum: str) -> dict[str, Any]:
        return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum}}  # fmt: skip

    panel = {
        "resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:example:app", "value": "p-1"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85353-1"}]},
        "effectiveDateTime": "2024-06-01T08:00:00Z", "bodySite": {"text": "left arm"},
        "component": [component("8310-5", 37.1, "C", "Cel"), component("9279-1", 14, "breaths/minute", "/min")],
    }  # fmt: skip
    journal = {
        "resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:example:app", "value": "s-1"}],
        "code": {"coding": [{"system": "urn:healthvault:wc:sleep-journal-pm", "code": "sleepiness"}]},
        "effectiveDateTime": "2024-06-01T21:00:00Z", "valueInteger": 4,
    }  # fmt: skip
    assert post(server, headers, [panel, journal]).status_code == 200
    found = get(server, "/Observation", headers, code="85353-1", date="2024-06").json()
    assert found["total"] == 1
    served_panel = found["entry"][0]["resource"]
    valid_r4(served_panel)
    assert [c["valueQuantity"]["value"] for c in served_panel["component"]] == [37.1, 14]
    assert served_panel["bodySite"] == {"text": "left arm"}

    out = tmp_path / "export"
    run = hvgen(server, tmp_path, "fhir", "export", "--out", str(out))
    assert run.code == 0, run.output
    lines = [json.loads(line) for line in (out / "Observation.ndjson").read_text(encoding="utf-8").splitlines()]
    for line in lines:
        valid_r4(line)
    codes = {c.get("code") for r in lines for c in r["code"].get("coding", [])}
    assert {"85353-1", "sleepiness"} <= codes


def test_the_specifications_vital_signs_panel_is_refused_whole(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    before = get(server, "/Observation", headers, _count="0").json()["total"]
    bmi = {**example("observation-example-bmi.json"), "identifier": [{"system": "urn:example:app", "value": "b-2"}]}
    answer = post(server, headers, [bmi, example("observation-example-vitals-panel.json")])  # entries count from 0
    assert answer.status_code == 422
    outcome = answer.json()
    valid_r4(outcome)
    said = outcome["issue"][0]["diagnostics"]
    assert "resource 1" in said and "hasMember references are not imported" in said
    assert get(server, "/Observation", headers, _count="0").json()["total"] == before


def test_a_lab_report_is_imported_as_lab_test_results_and_found_by_its_codes(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    loinc = "http://loinc.org"
    report: dict[str, Any] = {
        "resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:example:lab", "value": "l-1"}],
        "code": {"coding": [{"system": loinc, "code": "11502-2"}, {"system": loinc, "code": "24323-8"}],
                 "text": "Metabolic panel"},
        "effectiveDateTime": "2021-03-04T08:00:00Z",
        "component": [
            {"code": {"coding": [{"system": loinc, "code": "2345-7"}], "text": "Glucose"},
             "valueQuantity": {"value": 95, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
             "referenceRange": [{"low": {"value": 70}, "high": {"value": 99}, "text": "70-99 mg/dL"}],
             "interpretation": [{"text": "Normal"}]},
            {"code": {"text": "Specimen"}, "valueString": "slightly haemolysed"},
        ],
    }  # fmt: skip
    answer = post(server, headers, [report])
    assert answer.status_code == 200, answer.text
    found = get(server, "/Observation", headers, code="24323-8", date="2021-03-04", category="laboratory").json()
    assert found["total"] == 1
    served_report = found["entry"][0]["resource"]
    valid_r4(served_report)
    assert served_report["code"]["text"] == "Metabolic panel"
    assert served_report["component"][0]["valueQuantity"] == report["component"][0]["valueQuantity"]
    assert served_report["component"][0]["referenceRange"][0]["text"] == "70-99 mg/dL"
    assert served_report["component"][1]["valueString"] == "slightly haemolysed"
    assert get(server, "/Observation", headers, code=f"{loinc}|11502-2", date="2022").json()["total"] == 0


def test_the_specifications_examples_that_fit_are_stored_as_valid_things(served: Any, tmp_path: Path) -> None:
    """Each R4 example a mapping takes (tests/fhir_r4_examples) is stored by
    the server when its thing holds all it says (the thing passes the
    catalog's schema); one that says more is refused, naming what, and the
    same example without those elements is stored."""
    server, _ = served
    headers = token(server, tmp_path)
    fitting = ["observation-example-body-height.json", "observation-example-heart-rate.json"]
    answer = post(server, headers, [example(n) for n in fitting])
    assert answer.status_code == 200, answer.text
    assert [e["response"]["status"] for e in answer.json()["entry"]] == ["201 Created"] * len(fitting)
    more = {  # what the thing type has no place for
        "observation-example.json": ["code.coding[1]", "encounter"],
        "observation-example-bloodpressure.json": ["basedOn", "interpretation", "component[0].interpretation"],
        "observation-example-satO2.json": ["device", "referenceRange"],
        "observation-example-f001-glucose.json": ["issued", "performer", "referenceRange"],
        "condition-example.json": ["verificationStatus", "'encounter-diagnosis'", "severity", "bodySite"],
        "allergyintolerance-example.json": ["criticality", "type", "category", "reaction[1]"],
        "procedure-example.json": ["recorder", "reasonCode", "followUp"],
        "medicationstatementexample1.json": ["category", "dosage[0].timing", "contained"],
    }
    before = get(server, "/Observation", headers, _count="0").json()["total"]
    for name, named in more.items():
        refused = post(server, headers, [example(name)])
        assert refused.status_code == 422, (name, refused.text)
        said = refused.json()["issue"][0]["diagnostics"]
        assert all(n in said for n in named), (name, said)
    assert get(server, "/Observation", headers, _count="0").json()["total"] == before
    weight = example("observation-example.json")
    weight["code"]["coding"] = weight["code"]["coding"][:1]
    del weight["encounter"]
    assert post(server, headers, [weight]).status_code == 200
    weight = get(server, "/Observation", headers, code="29463-7", date="2016-03-28").json()["entry"][0]["resource"]
    valid_r4(weight)
    assert weight["valueQuantity"] == {"value": 83.91458845, "unit": "kg", "system": UCUM, "code": "kg"}
    allergy = example("allergyintolerance-example.json")
    for name in ("verificationStatus", "type", "category", "criticality", "recordedDate", "recorder", "asserter",
                 "lastOccurrence", "note"):  # fmt: skip
        del allergy[name]
    allergy["reaction"] = [{"manifestation": allergy["reaction"][0]["manifestation"]}]
    assert post(server, headers, [allergy]).status_code == 200
    found = get(server, "/AllergyIntolerance", headers, code="http://snomed.info/sct|227493005").json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["onsetDateTime"] == "2004"
