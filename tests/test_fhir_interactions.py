"""/fhir's interactions beyond search and create, end to end: a transaction
takes POST entries only (a PUT or DELETE entry refuses it whole, nothing
stored), a batch answers each entry on its own, what is not supported
answers an OperationOutcome with its status (405 with Allow, 501, 404,
406 for another format than JSON, 415 for another body, 400 for a
conditional create or a body nested too deep), the Location of a create is
read back (vread of the current version), search by POST, and the self link
of a search says the _count used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .test_fhir_server import CATALOG, get, served, token, weight

__all__ = ["served"]  # the module's server (a fixture of test_fhir_server, one per module)

pytestmark = pytest.mark.skipif(not CATALOG.is_dir(), reason="../shared/reference/catalog is not present")


def outcome(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    found = answer.json()
    assert found["resourceType"] == "OperationOutcome", found
    said: str = found["issue"][0]["diagnostics"]
    return said


def total(server: Any, headers: dict[str, str]) -> int:
    found: int = get(server, "/Observation", headers, code="29463-7", _count="0").json()["total"]
    return found


def test_a_transaction_takes_post_entries_only_and_stores_nothing_else(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    before = total(server, headers)
    for method, more in (("PUT", {"resource": weight(71, "kg", 2, "put-1")}), ("DELETE", {}), ("GET", {})):
        bundle = {
            "resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": weight(70, "kg", 1, "tx-1"), "request": {"method": "POST", "url": "Observation"}},
                      {**more, "request": {"method": method, "url": "Observation/0f0f0f0f-0000-0000-0000-000000000001"}}],
        }  # fmt: skip
        said = outcome(httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60), 422)
        assert f"Bundle entry 1: {method} is not supported in a transaction" in said, said
        assert "has no resource" not in said
    assert total(server, headers) == before


def test_a_batch_answers_each_entry_on_its_own(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    before = total(server, headers)
    no_unit = weight(70, "kg", 4, "batch-2")
    no_unit["valueQuantity"] = {"value": 70}
    bundle = {
        "resourceType": "Bundle", "type": "batch",
        "entry": [{"resource": weight(70, "kg", 3, "batch-1"), "request": {"method": "POST", "url": "Observation"}},
                  {"resource": no_unit, "request": {"method": "POST", "url": "Observation"}},
                  {"request": {"method": "DELETE", "url": "Observation/x"}}],
    }  # fmt: skip
    answer = httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["type"] == "batch-response"
    responses = [e["response"] for e in answer.json()["entry"]]
    assert [r["status"] for r in responses] == ["201 Created", "422 Unprocessable Entity", "422 Unprocessable Entity"]
    assert "resource 1" in responses[1]["outcome"]["issue"][0]["diagnostics"]
    assert "no unit" in responses[1]["outcome"]["issue"][0]["diagnostics"]
    assert "DELETE is not supported" in responses[2]["outcome"]["issue"][0]["diagnostics"]
    assert total(server, headers) == before + 1


def test_what_is_not_supported_answers_an_operation_outcome(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    url = server.url + "/fhir/Observation/0f0f0f0f-0000-0000-0000-000000000001"
    for method in ("PUT", "DELETE", "PATCH"):
        answer = httpx.request(method, url, json=weight(70, "kg", 1), headers=headers, timeout=60)
        assert "not supported" in outcome(answer, 405) and answer.headers["allow"] == "GET, HEAD"
    outcome(httpx.get(url + "/_history", headers=headers, timeout=60), 501)
    outcome(httpx.get(server.url + "/fhir/Observation/_history", headers=headers, timeout=60), 501)
    outcome(httpx.get(server.url + "/fhir/Group/x/$export", headers=headers, timeout=60), 501)
    outcome(httpx.get(server.url + "/fhir/Observation/x/y/z", headers=headers, timeout=60), 404)
    answer = httpx.delete(server.url + "/fhir/Observation", headers=headers, timeout=60)
    assert outcome(answer, 405) and answer.headers["allow"] == "GET, HEAD, POST"


def test_the_location_of_a_create_is_read_back(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    made = httpx.post(server.url + "/fhir/Observation", json=weight(72, "kg", 5, "loc-1"), headers=headers, timeout=60)
    assert made.status_code == 201, made.text
    location = made.headers["location"]
    assert location.endswith(f"/Observation/{made.json()['id']}/_history/{made.json()['meta']['versionId']}")
    read = httpx.get(location, headers=headers, timeout=60)
    assert read.status_code == 200 and read.json() == made.json()
    assert read.headers["etag"] == f'W/"{made.json()["meta"]["versionId"]}"'
    other = location.rsplit("/", 1)[0] + "/0f0f0f0f-0000-0000-0000-000000000009"
    assert "current version" in outcome(httpx.get(other, headers=headers, timeout=60), 404)


def test_a_note_is_kept_and_served(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    noted = {**weight(73, "kg", 6, "note-1"), "note": [{"text": "after breakfast"}]}
    made = httpx.post(server.url + "/fhir/Observation", json=noted, headers=headers, timeout=60)
    assert made.status_code == 201, made.text
    assert made.json()["note"] == [{"text": "after breakfast"}]
    again = httpx.post(server.url + "/fhir/Observation", json=made.json(), headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == made.json()["meta"]["versionId"]


def test_answers_are_json_and_bodies_json(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    url = server.url + "/fhir/Observation"
    outcome(httpx.get(url, headers={**headers, "Accept": "application/fhir+xml"}, timeout=60), 406)
    outcome(httpx.get(url, params={"_format": "xml"}, headers=headers, timeout=60), 406)
    outcome(httpx.get(server.url + "/fhir/metadata", headers={"Accept": "application/xml"}, timeout=60), 406)
    assert httpx.get(url, params={"_format": "json"}, headers=headers, timeout=60).status_code == 200
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert httpx.get(url, headers={**headers, "Accept": browser}, timeout=60).status_code == 200
    xml = {**headers, "Content-Type": "application/fhir+xml"}
    outcome(httpx.post(url, content=b"<Observation xmlns='http://hl7.org/fhir'/>", headers=xml, timeout=60), 415)
    before = total(server, headers)
    conditional = {**headers, "If-None-Exist": "identifier=urn:example:scale|cond-1"}
    said = outcome(httpx.post(url, json=weight(70, "kg", 7, "cond-1"), headers=conditional, timeout=60), 400)
    assert "If-None-Exist" in said
    assert total(server, headers) == before


@pytest.mark.parametrize(
    "body", [b"[" * 100_000, b'{"resourceType": "Observation", "code": ' + b'{"a": ' * 200 + b"1" + b"}" * 201]
)
def test_a_body_nested_too_deep_is_refused(served: Any, tmp_path: Path, body: bytes) -> None:
    server, _ = served
    headers = {**token(server, tmp_path), "Content-Type": "application/fhir+json"}
    for url in (server.url + "/fhir/Observation", server.url + "/fhir"):
        assert "nests deeper" in outcome(httpx.post(url, content=body, headers=headers, timeout=60), 400)
    ndjson = {**headers, "Content-Type": "application/fhir+ndjson"}
    answer = httpx.post(server.url + "/fhir/Observation", content=body + b"\n", headers=ndjson, timeout=60)
    assert "nest" in outcome(answer, 400)


def test_search_by_post_and_the_count_used(served: Any, tmp_path: Path) -> None:
    server, _ = served
    headers = token(server, tmp_path)
    assert httpx.post(server.url + "/fhir/Observation", json=weight(74, "kg", 8, "s-1"), headers=headers,
                      timeout=60).status_code in (200, 201)  # fmt: skip
    by_get = get(server, "/Observation", headers, code="29463-7").json()
    by_post = httpx.post(
        server.url + "/fhir/Observation/_search", data={"code": "29463-7"}, headers=headers, timeout=60
    ).json()
    assert by_post["type"] == "searchset" and by_post["total"] == by_get["total"] > 0
    capped = get(server, "/Observation", headers, _count="5000").json()
    (self_link,) = [link["url"] for link in capped["link"] if link["relation"] == "self"]
    assert "_count=1000" in self_link and "5000" not in self_link
