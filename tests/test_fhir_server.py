"""/fhir end to end: a server started with the published catalog (so that
weight, height, heart rate and blood glucose are served), FHIR sent in raw
HTTP and by `hvgen fhir import`/`export` in a pseudo-terminal, and every
resource answered validated against FHIR R4 (fhir.resources 6.4)."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import rawhttp
from .localserver import RunningServer, start_server
from .terminal import hvgen_env, in_terminal

construct = pytest.importorskip("fhir.resources").construct_fhir_element
CATALOG = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "catalog"
SAMPLES = CATALOG / "samples"
pytestmark = pytest.mark.skipif(not CATALOG.is_dir(), reason="../shared/reference/catalog is not present")
UCUM = "http://unitsofmeasure.org"


def valid_r4(resource: dict[str, Any]) -> None:
    construct(resource["resourceType"], copy.deepcopy(resource))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("fhir")
    compiled = subprocess.run(  # the catalog compiled once, before the server starts (it takes a while)
        [sys.executable, "-m", "hvgen_cli", "serve", "--no-profile", "--init-only", "--data", str(base / "data"),
         "--schemas", str(CATALOG / "xsd")],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    server = start_server(
        base, "--schemas", str(CATALOG / "xsd"), startup=300
    )  # 105 types load slowly on a busy machine
    try:
        yield server, base
    finally:
        server.stop()


def hvgen(server: RunningServer, home: Path, *args: str) -> Any:
    return in_terminal(list(args), hvgen_env(home, server.profile_path), timeout=300)


def token(server: RunningServer, home: Path) -> dict[str, str]:
    run = hvgen(server, home, "token", "--json")
    assert run.code == 0, run.output
    data = json.loads(run.output[run.output.index("{") :])
    return {"Authorization": f"Bearer {data['token']}"}


def get(server: RunningServer, path: str, headers: dict[str, str], **params: str) -> httpx.Response:
    return httpx.get(server.url + "/fhir" + path, params=params, headers=headers, timeout=60)


def weight(value: float, code: str, day: int, ident: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": f"2023-05-{day:02d}T07:30:00Z",
        "valueQuantity": {"value": value, "unit": code, "system": UCUM, "code": code},
    }
    if ident:
        resource["identifier"] = [{"system": "urn:example:scale", "value": ident}]
    return resource


def test_metadata_says_exactly_what_is_served_in_raw_http(served: Any) -> None:
    server, _ = served
    answer = rawhttp.request(server.port, "GET", "/fhir/metadata")
    assert answer.status == 200 and answer.headers["content-type"].startswith("application/fhir+json")
    statement = json.loads(answer.body)
    valid_r4(statement)
    assert statement["fhirVersion"] == "4.0.1"
    kinds = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(kinds) == {"Patient", "Observation", "ImagingStudy", "Condition", "DocumentReference"} | {
        "Immunization", "AllergyIntolerance", "Procedure", "MedicationStatement",
    }  # fmt: skip
    assert "create" not in {i["code"] for i in kinds["ImagingStudy"]["interaction"]}
    assert "create" in {i["code"] for i in kinds["DocumentReference"]["interaction"]}
    assert {p["name"] for p in kinds["Observation"]["searchParam"]} >= {
        "patient",
        "subject",
        "date",
        "code",
        "category",
        "_id",
        "_lastUpdated",
        "_count",
    }
    assert "http://hl7.org/fhir/StructureDefinition/bodyweight" in kinds["Observation"]["supportedProfile"]


def test_things_put_through_the_healthvault_api_are_served_and_their_xml_travels_whole(
    served: Any, tmp_path: Path
) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    for type_id in ("b81eb4a6-6eac-4292-ae93-3872d6870994", "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed"):
        data = (SAMPLES / f"{type_id}.xml").read_bytes()
        thing = tmp_path / f"{type_id}.xml"
        thing.write_bytes(
            b"<thing><type-id>" + type_id.encode() + b"</type-id><data-xml>" + data + b"</data-xml></thing>"
        )
        run = hvgen(server, tmp_path, "thing", "put", str(thing))
        assert run.code == 0, run.output
    found = get(server, "/Observation", headers, code="http://loinc.org|8867-4", date="2009-12-01").json()
    assert found["total"] == 1
    heart = found["entry"][0]["resource"]
    valid_r4(heart)
    assert heart["valueQuantity"] == {"value": 76, "unit": "/min", "system": UCUM, "code": "/min"}
    assert heart["effectiveDateTime"] == "2009-12-01T18:15:00Z"
    carried = base64.b64decode(heart["extension"][0]["valueBase64Binary"])
    assert carried == (SAMPLES / "b81eb4a6-6eac-4292-ae93-3872d6870994.xml").read_bytes().strip()
    read = get(server, f"/Observation/{heart['id']}", headers)
    assert read.status_code == 200 and read.json() == heart
    bp = get(server, "/Observation", headers, code="85354-9", category="vital-signs").json()["entry"][0]["resource"]
    assert [c["valueQuantity"]["value"] for c in bp["component"]] == [115, 76, 80]
    # the record's index has caught up (above); a thing put now is found by what its PutThings wrote
    run = hvgen(server, tmp_path, "thing", "put", str(tmp_path / "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed.xml"))
    assert run.code == 0, run.output
    assert get(server, "/Observation", headers, code="85354-9").json()["total"] == 2


def test_fhir_from_other_tools_is_imported_once_with_its_units_converted(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    lines = [
        weight(165, "[lb_av]", 1, "w-1"),
        weight(80500, "g", 2, "w-2"),
        weight(70, "kg", 3, "w-3"),
        {"resourceType": "Patient", "id": "someone-else", "name": [{"family": "Doe"}]},
        {"resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:example:scale", "value": "h-1"}],
         "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, "effectiveDateTime": "2023-05-01",
         "valueQuantity": {"value": 70, "unit": "in", "system": UCUM, "code": "[in_i]"}},
    ]  # fmt: skip
    source = tmp_path / "other-tool.ndjson"
    source.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    for _ in range(2):  # the second import finds every identifier imported already
        run = hvgen(server, tmp_path, "fhir", "import", str(source))
        assert run.code == 0, run.output
    assert "5 resource(s)" in run.output and "0 created" in run.output
    found = get(server, "/Observation", headers, code="29463-7", date="ge2023-05-01", _count="10").json()
    assert found["total"] == 3
    values = {r["resource"]["identifier"][1]["value"]: r["resource"]["valueQuantity"]["value"] for r in found["entry"]}
    assert values == {"w-1": pytest.approx(74.84274105), "w-2": 80.5, "w-3": 70}
    height = get(server, "/Observation", headers, code="8302-2").json()["entry"][0]["resource"]
    assert (
        Decimal(str(height["valueQuantity"]["value"])) == Decimal("177.8") and height["valueQuantity"]["code"] == "cm"
    )


def test_a_bundle_with_what_cannot_be_mapped_is_refused_whole(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    before = get(server, "/Observation", headers, code="29463-7").json()["total"]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": weight(90, "kg", 20), "request": {"method": "POST", "url": "Observation"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]}},
             "request": {"method": "POST", "url": "Observation"}},
        ],
    }  # fmt: skip
    answer = httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)
    assert answer.status_code == 422
    issue = answer.json()["issue"][0]
    assert answer.json()["resourceType"] == "OperationOutcome" and "2339-0" in issue["diagnostics"]
    assert "resource 1" in issue["diagnostics"]
    assert get(server, "/Observation", headers, code="29463-7").json()["total"] == before
    bundle["entry"].pop()
    answer = httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)
    assert answer.status_code == 200 and answer.json()["entry"][0]["response"]["status"] == "201 Created"
    assert get(server, "/Observation", headers, code="29463-7").json()["total"] == before + 1


def test_search_pages_date_prefixes_and_errors(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    entries = [
        {"resource": weight(60 + day, "kg", day), "request": {"method": "POST", "url": "Observation"}}
        for day in range(10, 17)
    ]
    posted = httpx.post(
        server.url + "/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}, headers=headers
    )
    assert posted.status_code == 200, posted.text
    first = httpx.get(
        server.url + "/fhir/Observation",
        params=[("code", "29463-7"), ("date", "ge2023-05-10"), ("date", "le2023-05-16"), ("_count", "3")],
        headers=headers,
    ).json()
    valid_r4(first)
    seen = [e["resource"]["effectiveDateTime"][:10] for e in first["entry"]]
    page = first
    while (nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None)) is not None:
        page = httpx.get(nxt, headers=headers).json()
        seen += [e["resource"]["effectiveDateTime"][:10] for e in page["entry"]]
    assert any(link["relation"] == "previous" for link in page["link"])
    assert seen == [f"2023-05-{d}" for d in range(16, 9, -1)] and first["total"] == 7
    assert get(server, "/Observation", headers, date="eq2023-05-12", code="29463-7").json()["total"] == 1
    assert get(server, "/Observation", headers, date="gt2023-05-15", code="29463-7").json()["total"] >= 1
    lt = get(server, "/Observation", headers, date="lt2023-05-11", code="29463-7").json()
    assert all(e["resource"]["effectiveDateTime"] < "2023-05-11" for e in lt["entry"])
    assert get(server, "/Observation", headers, patient="Patient/someone-else").json()["total"] == 0
    assert get(server, "/Observation", headers, code="29463-7", _lastUpdated="lt2000-01-01").json()["total"] == 0
    recent = get(server, "/Observation", headers, code="29463-7", _lastUpdated="ge2020-01-01").json()["total"]
    assert recent >= 7
    one = first["entry"][0]["resource"]["id"]
    assert [e["resource"]["id"] for e in get(server, "/Observation", headers, _id=one).json()["entry"]] == [one]
    refused = {
        "unknown parameter": (get(server, "/Observation", headers, color="red"), 400),
        "bad date": (get(server, "/Observation", headers, date="ge2023-13-45"), 400),
        "bad prefix": (get(server, "/Observation", headers, date="ap2023"), 400),
        "no token": (get(server, "/Observation", {}), 401),
        "forged token": (
            get(server, "/Observation", {"Authorization": "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            401,
        ),
        "unknown type": (get(server, "/Encounter", headers), 404),
        "unknown id": (get(server, "/Observation/0f0f0f0f-0000-0000-0000-000000000000", headers), 404),
    }
    for what, (answer, status) in refused.items():
        assert answer.status_code == status, what
        assert answer.headers["content-type"].startswith("application/fhir+json"), what
        valid_r4(answer.json())


def test_bulk_export_writes_valid_r4_ndjson(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    total = get(server, "/Observation", headers, _count="0").json()["total"]
    out = tmp_path / "export"
    run = hvgen(server, tmp_path, "fhir", "export", "--out", str(out))
    assert run.code == 0, run.output
    observations = (out / "Observation.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(observations) == total > 0
    for line in observations + (out / "Patient.ndjson").read_text(encoding="utf-8").splitlines():
        valid_r4(json.loads(line))
    kicked = httpx.get(server.url + "/fhir/$export", headers=headers)
    assert kicked.status_code == 400 and "respond-async" in kicked.json()["issue"][0]["diagnostics"]


def test_a_study_uploaded_as_dicom_is_an_imaging_study_whose_endpoint_serves_it(served: Any, tmp_path: Path) -> None:
    from .dicomgen import make_study

    server, _ = served
    headers = token(server, tmp_path)
    uids = make_study(tmp_path / "study", series=2, images=2, size=16, seed=7, modality="MR")
    run = hvgen(server, tmp_path, "study", "upload", str(tmp_path / "study"), "--no-progress")
    assert run.code == 0, run.output
    found = get(
        server,
        "/ImagingStudy",
        headers,
        patient="Patient/" + get(server, "/Patient", headers).json()["entry"][0]["resource"]["id"],
    ).json()
    study = next(
        e["resource"] for e in found["entry"]
        if {"system": "urn:dicom:uid", "value": f"urn:oid:{uids['study_uid']}"} in e["resource"]["identifier"]
    )  # fmt: skip
    valid_r4(study)
    assert study["numberOfSeries"] == 2 and study["numberOfInstances"] == 4
    assert {s["uid"] for s in study["series"]} == set(uids["series_uids"])
    assert {s["modality"]["code"] for s in study["series"]} == {"MR"}
    endpoint = study["contained"][0]
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs" and study["endpoint"] == [{"reference": "#dicomweb"}]
    metadata = httpx.get(f"{endpoint['address']}/studies/{uids['study_uid']}/metadata", headers=headers, timeout=60)
    assert metadata.status_code == 200 and len(metadata.json()) == 4
    refused = httpx.post(server.url + "/fhir/ImagingStudy", json={**study, "contained": []}, headers=headers)
    assert refused.status_code == 422 and "not imported" in refused.json()["issue"][0]["diagnostics"]


def test_the_viewers_browser_session_reads_but_does_not_write(served: Any, tmp_path: Path) -> None:
    server, _ = served
    printed = hvgen(server, tmp_path, "viewer", "--print")
    assert printed.code == 0, printed.output
    with httpx.Client(follow_redirects=False, timeout=60) as browser:
        assert browser.get(printed.lines[0]).status_code in (302, 303)  # signs the browser in
        found = browser.get(server.url + "/fhir/Observation", params={"code": "85354-9"})
        assert found.status_code == 200 and found.json()["total"] >= 1
        valid_r4(found.json())
        other = browser.get(
            server.url + "/fhir/Observation", params={"patient": "Patient/0f0f0f0f-0000-0000-0000-000000000000"}
        )
        assert other.status_code == 404
        written = browser.post(server.url + "/fhir/Observation", json=weight(70, "kg", 1))
        assert written.status_code == 401 and written.json()["resourceType"] == "OperationOutcome"
    assert httpx.get(server.url + "/fhir/Observation").status_code == 401  # and nobody else reads


def test_a_condition_coded_in_snomed_ct_is_imported_and_found_by_its_code(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    condition = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}], "text": "Hypertension"},
        "onsetDateTime": "2019-04",
    }  # fmt: skip
    created = httpx.post(server.url + "/fhir/Condition", json=condition, headers=headers, timeout=60)
    assert created.status_code == 201, created.text
    found = get(server, "/Condition", headers, code="http://snomed.info/sct|38341003").json()
    assert found["total"] == 1
    served_condition = found["entry"][0]["resource"]
    valid_r4(served_condition)
    assert (
        served_condition["onsetDateTime"] == "2019-04"
        and served_condition["clinicalStatus"] == condition["clinicalStatus"]
    )
    assert served_condition["code"]["coding"][0] == {"system": "http://snomed.info/sct", "code": "38341003"}
