"""/fhir end to end for the clinical types and the further measurements: a
server started with the published catalog, the catalog's own sample things
put through the HealthVault API and served, FHIR written by other tools
imported (a transaction Bundle mixing types, a contained Medication, other
units, NDJSON by `hvgen fhir import` twice), searched by code and date, and
exported; every resource validated against FHIR R4 (fhir.resources 6.4)."""

from __future__ import annotations

import base64
import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import rawhttp
from .test_fhir_server import CATALOG, SAMPLES, get, hvgen, served, token

__all__ = ["served"]  # the module's server (a fixture of test_fhir_server, one per module)

construct = pytest.importorskip("fhir.resources").construct_fhir_element
pytestmark = pytest.mark.skipif(not CATALOG.is_dir(), reason="../shared/reference/catalog is not present")
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def valid_r4(resource: dict[str, Any]) -> None:
    construct(resource["resourceType"], copy.deepcopy(resource))


def ident(value: str) -> list[dict[str, str]]:
    return [{"system": "urn:example:ehr", "value": value}]


IMMUNIZATION = {
    "resourceType": "Immunization", "identifier": ident("imm-1"), "status": "completed",
    "vaccineCode": {"coding": [{"system": CVX, "code": "140", "display": "Influenza, seasonal, injectable"}]},
    "occurrenceDateTime": "2021-10-04T09:15:00-04:00",
    "lotNumber": "LOT-77", "performer": [{"actor": {"display": "Nurse Joy"}}],
}  # fmt: skip
PROCEDURE = {
    "resourceType": "Procedure", "identifier": ident("proc-1"), "status": "completed",
    "code": {"coding": [{"system": SNOMED, "code": "80146002", "display": "Appendectomy"}], "text": "Appendectomy"},
    "performedDateTime": "2013-04-05",
    "bodySite": [{"coding": [{"system": SNOMED, "code": "66754008"}], "text": "Appendix"}],
}  # fmt: skip
MEDICATION = {
    "resourceType": "MedicationStatement", "identifier": ident("med-1"), "status": "active",
    "contained": [{"resourceType": "Medication", "id": "m1",
                   "code": {"coding": [{"system": RXNORM, "code": "314076", "display": "lisinopril 10 MG Oral Tablet"}]}}],
    "medicationReference": {"reference": "#m1"},
    "effectivePeriod": {"start": "2022-02-01"},
    "dosage": [{"route": {"coding": [{"system": SNOMED, "code": "26643006"}], "text": "Oral"}}],
}  # fmt: skip
ALLERGY = {
    "resourceType": "AllergyIntolerance", "identifier": ident("alg-1"),
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
    "code": {"coding": [{"system": SNOMED, "code": "91935009"}], "text": "Peanut allergy"},
    "onsetString": "as a child",
    "reaction": [{"manifestation": [{"text": "Hives"}]}],
}  # fmt: skip


def observation(code: str, quantity: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "identifier": ident(name), "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": "2022-03-01T07:00:00Z", "valueQuantity": quantity,
    }  # fmt: skip


SPO2 = observation("2708-6", {"value": 96, "unit": "%", "system": UCUM, "code": "%"}, "spo2-1")
HBA1C = observation("59261-8", {"value": 53, "unit": "mmol/mol", "system": UCUM, "code": "mmol/mol"}, "a1c-1")


def test_metadata_lists_the_clinical_types_and_their_search_parameters(served: Any) -> None:
    server, _ = served
    answer = rawhttp.request(server.port, "GET", "/fhir/metadata")
    assert answer.status == 200
    statement = json.loads(answer.body)
    valid_r4(statement)
    kinds = {r["type"]: {p["name"] for p in r["searchParam"]} for r in statement["rest"][0]["resource"]}
    common = {"_id", "_lastUpdated", "_count"}
    assert kinds["Immunization"] == common | {"patient", "date", "vaccine-code"}
    assert kinds["MedicationStatement"] == common | {"patient", "subject", "effective", "code"}
    assert kinds["Procedure"] == common | {"patient", "subject", "date", "code"}
    assert kinds["AllergyIntolerance"] == common | {"patient", "code"}


def test_the_catalogs_samples_are_served_with_their_xml_whole(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    for type_id in ("cd3587b5-b6e1-4565-ab3b-1c3ad45eb04f", "52bf9104-2c5e-4f1f-a66d-552ebcc53df7",
                    "227F55FB-1001-4D4E-9F6A-8D893E07B451", "11C52484-7F1A-11DB-AEAC-87D355D89593",
                    "0A5F9A43-DC88-4E9F-890F-1F9159B76E7B"):  # fmt: skip
        data = (SAMPLES / f"{type_id}.xml").read_bytes()
        thing = tmp_path / f"{type_id}.xml"
        thing.write_bytes(
            b"<thing><type-id>" + type_id.encode() + b"</type-id><data-xml>" + data + b"</data-xml></thing>"
        )
        run = hvgen(server, tmp_path, "thing", "put", str(thing))
        assert run.code == 0, run.output
    vaccine = get(server, "/Immunization", headers, **{"vaccine-code": f"{CVX}|24", "date": "2005-01-01"}).json()
    assert vaccine["total"] == 1
    immunization = vaccine["entry"][0]["resource"]
    valid_r4(immunization)
    assert immunization["vaccineCode"]["text"] == "Anthrax vaccine"
    assert immunization["occurrenceDateTime"] == "2005-01-01T06:00:00Z"
    assert immunization["performer"] == [{"actor": {"display": "John Mc kense"}}]
    carried = base64.b64decode(immunization["extension"][0]["valueBase64Binary"])
    assert carried == (SAMPLES / "cd3587b5-b6e1-4565-ab3b-1c3ad45eb04f.xml").read_bytes().strip()
    allergy = get(server, "/AllergyIntolerance", headers, code="V1509").json()["entry"][0]["resource"]
    valid_r4(allergy)
    assert allergy["verificationStatus"]["coding"][0]["code"] == "refuted"
    assert allergy["clinicalStatus"]["coding"][0]["code"] == "inactive"  # (ait-1)
    assert allergy["reaction"][0]["manifestation"][0]["text"] == "difficulty swallowing"
    a1c = get(server, "/Observation", headers, code="http://loinc.org|4548-4").json()["entry"][0]["resource"]
    valid_r4(a1c)
    assert a1c["valueQuantity"] == {"value": 70, "unit": "%", "system": UCUM, "code": "%"}
    procedure = get(server, "/Procedure", headers, code="84f1cdaf-5179-4126-9c23-8322a7c941e1").json()
    assert procedure["total"] == 1  # version 1 of procedure: its title is the code
    valid_r4(procedure["entry"][0]["resource"])
    assert procedure["entry"][0]["resource"]["code"]["text"] == "Amputation"
    sleep = get(server, "/Observation", headers, code="93832-4", date="2005").json()["entry"][0]["resource"]
    valid_r4(sleep)
    assert sleep["valueQuantity"] == {"value": 420, "unit": "min", "system": UCUM, "code": "min"}
    parts = {c["code"]["coding"][0]["code"]: c for c in sleep["component"]}
    assert parts["bed-time"]["valueTime"] == "00:00:00" and parts["wake-time"]["valueTime"] == "07:00:00"
    assert (
        parts["wake-state"]["valueInteger"] == 2 and parts["medications"]["valueCodeableConcept"]["text"] == "Benzaclin"
    )


def test_a_bundle_mixing_types_from_another_tool_is_imported_once(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    resources = [IMMUNIZATION, PROCEDURE, MEDICATION, ALLERGY, SPO2, HBA1C]
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in resources],
    }  # fmt: skip
    answer = httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    assert [e["response"]["status"] for e in answer.json()["entry"]] == ["201 Created"] * 6
    source = tmp_path / "ehr.ndjson"
    source.write_text("\n".join(json.dumps(r) for r in resources) + "\n", encoding="utf-8")
    run = hvgen(server, tmp_path, "fhir", "import", str(source))  # the same identifiers: nothing new
    assert run.code == 0, run.output
    assert "6 resource(s)" in run.output and "0 created" in run.output

    found = get(server, "/Immunization", headers, **{"vaccine-code": "140", "date": "ge2021-10"}).json()
    assert found["total"] == 1
    immunization = found["entry"][0]["resource"]
    valid_r4(immunization)
    assert immunization["occurrenceDateTime"] == "2021-10-04T13:15:00Z" and immunization["lotNumber"] == "LOT-77"
    assert immunization["vaccineCode"]["coding"][0] == {"system": CVX, "code": "140"}
    assert get(server, "/Immunization", headers, date="lt2021-10-04").json()["total"] <= 1  # the sample's, if put

    procedure = get(server, "/Procedure", headers, code=f"{SNOMED}|80146002", date="2013-04").json()
    assert procedure["total"] == 1 and procedure["entry"][0]["resource"]["bodySite"][0]["text"] == "Appendix"
    assert get(server, "/Procedure", headers, code="80146002", date="2014").json()["total"] == 0

    medication = get(server, "/MedicationStatement", headers, code=f"{RXNORM}|314076", effective="ge2022-01").json()
    statement = medication["entry"][0]["resource"]
    valid_r4(statement)
    assert statement["medicationCodeableConcept"]["text"] == "lisinopril 10 MG Oral Tablet"
    assert statement["status"] == "active" and statement["dosage"][0]["route"]["text"] == "Oral"

    allergy = get(server, "/AllergyIntolerance", headers, code="91935009").json()["entry"][0]["resource"]
    valid_r4(allergy)
    assert allergy["onsetString"] == "as a child" and allergy["clinicalStatus"]["coding"][0]["code"] == "active"

    spo2 = get(server, "/Observation", headers, code="2708-6", date="2022-03-01").json()["entry"][0]["resource"]
    carried = base64.b64decode(spo2["extension"][0]["valueBase64Binary"])
    assert b"<value>0.96</value>" in carried and spo2["valueQuantity"]["value"] == 96
    a1c = get(server, "/Observation", headers, code="59261-8").json()["entry"][0]["resource"]
    assert Decimal(str(a1c["valueQuantity"]["value"])) == 53


def test_a_bundle_with_a_clinical_resource_that_cannot_be_mapped_is_refused_whole(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    before = get(server, "/Procedure", headers).json()["total"]
    broken = {**IMMUNIZATION, "identifier": ident("imm-2")}
    del broken["vaccineCode"]
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": {**PROCEDURE, "identifier": ident("proc-2")}, "request": {"method": "POST", "url": "Procedure"}},
                  {"resource": broken, "request": {"method": "POST", "url": "Immunization"}}],
    }  # fmt: skip
    answer = httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)
    assert answer.status_code == 422
    said = answer.json()["issue"][0]["diagnostics"]
    assert "resource 1" in said and "vaccineCode is needed" in said
    assert get(server, "/Procedure", headers).json()["total"] == before


def test_the_export_holds_the_clinical_types(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    resources = [
        {**r, "identifier": ident(f"export-{i}")} for i, r in enumerate([IMMUNIZATION, PROCEDURE, MEDICATION, ALLERGY])
    ]
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in resources],
    }  # fmt: skip
    assert httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60).status_code == 200
    out = tmp_path / "export"
    run = hvgen(server, tmp_path, "fhir", "export", "--out", str(out))
    assert run.code == 0, run.output
    for kind in ("Immunization", "Procedure", "MedicationStatement", "AllergyIntolerance"):
        lines = (out / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines()
        assert len(lines) == get(server, f"/{kind}", headers, _count="0").json()["total"] > 0
        for line in lines:
            valid_r4(json.loads(line))


def test_measurements_of_another_tool_are_stored_converted_and_found_by_code_and_date(
    served: Any, tmp_path: Path
) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    loinc = "http://loinc.org"

    def coded(code: str, value: float, unit: str, system: str = loinc) -> dict[str, Any]:
        quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
        return {"code": {"coding": [{"system": system, "code": code}]}, "valueQuantity": quantity}

    lipids = {
        "resourceType": "Observation", "identifier": ident("lipids-1"), "status": "final",
        "code": {"coding": [{"system": loinc, "code": "57698-3"}]}, "effectiveDateTime": "2020-05-06T08:30:00Z",
        "component": [coded("2093-3", 193.325, "mg/dL"), coded("2085-9", 50, "mg/dL")],
    }  # fmt: skip
    waist = {
        "resourceType": "Observation", "identifier": ident("waist-1"), "status": "final",
        "effectiveDateTime": "2020-05-07", "valueQuantity": coded("x", 34, "[in_i]")["valueQuantity"],
        "code": {"coding": [{"system": loinc, "code": "8280-0"}], "text": "Waist"},
    }  # fmt: skip
    run = {
        "resourceType": "Observation", "identifier": ident("run-1"), "status": "final",
        "code": {"coding": [{"system": loinc, "code": "73985-4"}]}, "effectiveDateTime": "2020-05-08T06:00:00Z",
        "valueCodeableConcept": {"text": "Running"}, "component": [coded("55411-3", 0.5, "h")],
    }  # fmt: skip
    flow = {
        "resourceType": "Observation", "identifier": ident("pef-1"), "status": "final",
        "code": {"coding": [{"system": loinc, "code": "19935-6"}]}, "effectiveDateTime": "2020-05-09",
        "valueQuantity": coded("x", 480, "L/min")["valueQuantity"],
    }  # fmt: skip
    bundle = {
        "resourceType": "Bundle", "type": "batch",
        "entry": [{"resource": r, "request": {"method": "POST", "url": "Observation"}} for r in (lipids, waist, run, flow)],
    }  # fmt: skip
    answer = httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text

    panel = get(server, "/Observation", headers, code=f"{loinc}|57698-3", date="2020-05-06").json()
    assert panel["total"] == 1
    served_panel = panel["entry"][0]["resource"]
    valid_r4(served_panel)
    by_code = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in served_panel["component"]}
    assert by_code["14647-2"] == {"value": 5, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
    assert by_code["14646-4"]["value"] == pytest.approx(1.2931592)
    served_waist = get(server, "/Observation", headers, code="8280-0", date="ge2020-05").json()["entry"][0]["resource"]
    valid_r4(served_waist)
    assert Decimal(str(served_waist["valueQuantity"]["value"])) == Decimal("86.36")
    assert served_waist["valueQuantity"]["code"] == "cm"
    exercise = get(
        server, "/Observation", headers, category="activity", code="73985-4", date="le2020-05-08T23:00:00Z"
    ).json()
    assert exercise["total"] == 1
    assert exercise["entry"][0]["resource"]["component"][0]["valueQuantity"]["value"] == 30
    peak = get(server, "/Observation", headers, code="19935-6").json()["entry"][0]["resource"]
    valid_r4(peak)
    assert peak["valueQuantity"]["value"] == 480 and b"<liters-per-second>8</liters-per-second>" in base64.b64decode(
        peak["extension"][0]["valueBase64Binary"]
    )
