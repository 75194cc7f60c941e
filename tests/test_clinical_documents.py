"""CCR and CDA things: documents kept as given, over raw bytes on the wire,
and served by /fhir as DocumentReferences whose attachment is the stored
document, byte for byte (R4-valid, found by patient and date; imported
from a DocumentReference's base64 data, once per identifier).

A CCR (``ContinuityOfCareRecord`` in ``urn:astm-org:CCR``) or a CDA
(``ClinicalDocument`` in ``urn:hl7-org:v3``) that does not validate
against the published CCR/CDA schema is accepted by PutThings (its content
is not validated, its document element is) and comes back byte for byte
from GetThings, in the lexical form it was sent in: namespace prefixes,
unused namespace declarations, attribute order, white space, comments and
CDATA sections. What XML parsing itself normalizes (``<a></a>`` is written
``<a/>``, single-quoted attributes double-quoted, character references as
characters, white space inside tags, namespace declarations written
before the attributes) is not kept by an XML server; the documents here
are in the form libxml2 writes.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from .fhirthings_documents import ccr_bytes, cda_bytes
from .foreign import Answer, Application, ForeignClient
from .localserver import RunningServer, start_server
from .terminal import hvgen_env, in_terminal

CCR_TYPE = "1e1ccbfc-a55d-4d91-8940-fa2fbf73c195"
CDA_TYPE = "9c48a2b8-952c-4f5a-935d-f3292326bf54"
CATALOG_SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "catalog" / "samples"

#: A CCR the published schema refuses: <Body> is missing and <Extra> is not in its content model;
#: a prefix, an unused declaration, attributes in no particular order, white space, a comment, CDATA.
ODD_CCR = (
    b'<ccr:ContinuityOfCareRecord xmlns:ccr="urn:astm-org:CCR" xmlns:unused="urn:example:unused"'
    b' zeta="1" alpha="2">\n  <ccr:CCRDocumentObjectID>  id-1  </ccr:CCRDocumentObjectID>\n'
    b"  <!-- a comment -->\n  <ccr:Language><ccr:Text>English</ccr:Text></ccr:Language>"
    b"<ccr:Version>V1.0</ccr:Version><ccr:DateTime><ccr:ExactDateTime>2023-02-03T04:05:06Z</ccr:ExactDateTime>"
    b'</ccr:DateTime>\n\t<ccr:Extra b="x" a="y"><![CDATA[<kept> & as given]]></ccr:Extra>\n'
    b"<?pi as given?></ccr:ContinuityOfCareRecord>"
)
#: A C-CDA CCD with an unused namespace declaration (common in real CDAs) and no recordTarget (required).
ODD_CDA = (
    b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:voc="urn:hl7-org:v3/voc"'
    b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" classCode="DOCCLIN" moodCode="EVN">'
    b'<realmCode code="US"/><templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/>'
    b'<templateId root="2.16.840.1.113883.10.20.22.1.2"/>'
    b'<code code="34133-9" codeSystem="2.16.840.1.113883.6.1" displayName="Summary of episode note"/>'
    b"<title>Summary   of care</title>"
    b'<effectiveTime value="20240517103000-0500"/><unexpected xsi:type="ST">not in CDA</unexpected>'
    b"</ClinicalDocument>"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("clinical"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def headers(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    run = in_terminal(
        ["token", "--json"], hvgen_env(tmp_path_factory.mktemp("token"), server.profile_path), timeout=300
    )
    assert run.code == 0, run.output
    return {"Authorization": "Bearer " + json.loads(run.output[run.output.index("{") :])["token"]}


@pytest.fixture(scope="module")
def app(server: RunningServer) -> Iterator[ForeignClient]:
    profile = server.profile
    client = ForeignClient(
        server.url, Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    )
    try:
        opened = client.open_v2()
        assert opened.code == 0, opened.message
        yield client
    finally:
        client.http.close()


def put(app: ForeignClient, server: RunningServer, type_id: str, document: bytes) -> Answer:
    body = f"<info><thing><type-id>{type_id}</type-id><data-xml>".encode() + document + b"</data-xml></thing></info>"
    return app.call("PutThings", 2, body.decode("utf-8"), record_id=server.profile.record_id)


def get(app: ForeignClient, server: RunningServer, thing_id: str) -> Answer:
    group = f"<info><group><id>{thing_id}</id><format><section>core</section><xml/></format></group></info>"
    answer = app.call("GetThings", 3, group, record_id=server.profile.record_id)
    assert answer.code == 0, answer.message
    return answer


def round_trip(app: ForeignClient, server: RunningServer, type_id: str, document: bytes) -> str:
    """Put a document, get it back: the same bytes; returns the thing-id."""
    stored = put(app, server, type_id, document)
    assert stored.code == 0, stored.message
    thing_id = stored.text("thing-id")
    assert uuid.UUID(thing_id)
    answer = get(app, server, thing_id)
    assert document in answer.raw, answer.raw[:2000]
    return thing_id


def test_a_ccr_the_published_schema_refuses_is_kept_byte_for_byte(app: ForeignClient, server: RunningServer) -> None:
    round_trip(app, server, CCR_TYPE, ODD_CCR)


def test_a_cda_the_published_schema_refuses_is_kept_byte_for_byte(app: ForeignClient, server: RunningServer) -> None:
    round_trip(app, server, CDA_TYPE, ODD_CDA)


def test_the_document_element_is_still_checked(app: ForeignClient, server: RunningServer) -> None:
    wrong_namespace = b'<ContinuityOfCareRecord xmlns="urn:example:other"><A/></ContinuityOfCareRecord>'
    refused = put(app, server, CCR_TYPE, wrong_namespace)
    assert refused.code != 0 and "ContinuityOfCareRecord" in refused.message and "urn:astm-org:CCR" in refused.message
    cda_as_ccr = put(app, server, CCR_TYPE, ODD_CDA)
    assert cda_as_ccr.code != 0 and "urn:astm-org:CCR" in cda_as_ccr.message
    hostile = b'<!DOCTYPE x [<!ENTITY e "boom">]><ClinicalDocument xmlns="urn:hl7-org:v3">&e;</ClinicalDocument>'
    assert put(app, server, CDA_TYPE, hostile).code != 0


def test_the_catalogs_ccr_sample_round_trips(app: ForeignClient, server: RunningServer) -> None:
    sample = CATALOG_SAMPLES / f"{CCR_TYPE}.xml"
    if not sample.is_file():
        pytest.skip("the catalog's samples (../shared/reference) are not here")
    published = sample.read_bytes().strip()
    # the sample declares its default namespace after an attribute; libxml2 (every lxml server) writes
    # namespace declarations first: in libxml2's form it is kept byte for byte, and it is the same XML
    document = etree.tostring(etree.fromstring(published))
    assert document != published and etree.tostring(etree.fromstring(document), method="c14n") == etree.tostring(
        etree.fromstring(published), method="c14n"
    )
    round_trip(app, server, CCR_TYPE, document)


def valid_r4(resource: dict[str, Any]) -> None:
    construct = pytest.importorskip("fhir.resources").construct_fhir_element
    construct(resource["resourceType"], copy.deepcopy(resource))  # raises on anything R4 does not allow


def served(server: RunningServer, headers: dict[str, str], thing_id: str) -> dict[str, Any]:
    """The DocumentReference of a thing, R4-valid, and its attachment: the document's bytes."""
    found = httpx.get(server.url + "/fhir/DocumentReference", headers=headers, params={"_id": thing_id}, timeout=60)
    assert found.status_code == 200, found.text
    (entry,) = found.json()["entry"]
    resource: dict[str, Any] = entry["resource"]
    valid_r4(resource)
    (content,) = resource["content"]
    assert content["attachment"]["url"] == f"{server.url}/fhir/DocumentReference/{thing_id}/attachment"
    assert content["attachment"]["contentType"] == "application/xml"
    return resource


def attachment(server: RunningServer, headers: dict[str, str], resource: dict[str, Any]) -> bytes:
    answer = httpx.get(resource["content"][0]["attachment"]["url"], headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert answer.headers["content-disposition"] == "attachment"
    return answer.content


def test_ccr_and_cda_things_are_document_references_serving_their_bytes(
    app: ForeignClient, server: RunningServer, headers: dict[str, str]
) -> None:
    ccr = served(server, headers, round_trip(app, server, CCR_TYPE, ODD_CCR))
    assert ccr["type"]["coding"] == [
        {"system": "http://loinc.org", "code": "34133-9", "display": "Summary of episode note"}
    ]
    assert ccr["type"]["text"] == "Continuity of Care Record (CCR)" and ccr["date"] == "2023-02-03T04:05:06Z"
    assert ccr["content"][0]["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
    assert attachment(server, headers, ccr) == ODD_CCR
    cda = served(server, headers, round_trip(app, server, CDA_TYPE, ODD_CDA))
    assert cda["type"]["coding"][0]["code"] == "34133-9" and cda["date"] == "2024-05-17T10:30:00-05:00"
    assert cda["content"][0]["format"]["code"] == "urn:hl7-org:sdwg:ccda-structuredBody:2.1"
    assert cda["description"] == "Summary of care"
    assert attachment(server, headers, cda) == ODD_CDA
    assert httpx.get(cda["content"][0]["attachment"]["url"], timeout=60).status_code == 401
    sample = CATALOG_SAMPLES / f"{CCR_TYPE}.xml"
    if sample.is_file():
        document = etree.tostring(etree.fromstring(sample.read_bytes()))
        published = served(server, headers, round_trip(app, server, CCR_TYPE, document))
        assert published["date"] == "2005-11-16T23:32:39Z" and attachment(server, headers, published) == document


def test_documents_are_found_by_patient_and_date(
    app: ForeignClient, server: RunningServer, headers: dict[str, str]
) -> None:
    ccr, cda = round_trip(app, server, CCR_TYPE, ODD_CCR), round_trip(app, server, CDA_TYPE, ODD_CDA)
    url = server.url + "/fhir/DocumentReference"
    patient = f"Patient/{server.profile.record_id}"

    def ids(**params: str) -> set[str]:
        found = httpx.get(url, headers=headers, params={"patient": patient, "_count": "100", **params}, timeout=60)
        assert found.status_code == 200, found.text
        return {e["resource"]["id"] for e in found.json().get("entry", [])}

    assert {ccr, cda} <= ids()
    assert cda in ids(date="ge2024-05-01") and ccr not in ids(date="ge2024-05-01")
    assert ccr in ids(date="lt2024-01-01") and cda not in ids(date="lt2024-01-01")
    assert ids(patient="Patient/someone-else") == set()


def imported(document: bytes, ident: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "identifier": [{"system": "urn:example:summaries", "value": ident}],
        "content": [{"attachment": {"contentType": "text/xml", "data": base64.b64encode(document).decode()}}],
    }


def test_a_document_reference_holding_a_cda_or_ccr_makes_that_thing_once(
    app: ForeignClient, server: RunningServer, headers: dict[str, str]
) -> None:
    url = server.url + "/fhir/DocumentReference"
    made = httpx.post(url, json=imported(ODD_CDA, "cda-1"), headers=headers, timeout=60)
    assert made.status_code == 201, made.text
    valid_r4(made.json())
    assert made.json()["type"]["text"] == "Clinical Document Architecture (CDA)"
    assert attachment(server, headers, made.json()) == ODD_CDA
    stored = get(app, server, made.json()["id"])
    assert stored.text("group/thing/type-id") == CDA_TYPE and ODD_CDA in stored.raw
    again = httpx.post(url, json=imported(ODD_CDA, "cda-1"), headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    assert again.json()["meta"]["versionId"] == made.json()["meta"]["versionId"]  # nothing changed
    ccr = httpx.post(url, json=imported(ODD_CCR, "ccr-1"), headers=headers, timeout=60)
    assert ccr.status_code == 201 and ccr.json()["type"]["text"] == "Continuity of Care Record (CCR)"
    assert attachment(server, headers, ccr.json()) == ODD_CCR
    assert ODD_CCR in get(app, server, ccr.json()["id"]).raw


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(ccr_bytes().map(lambda d: (CCR_TYPE, d)), cda_bytes().map(lambda d: (CDA_TYPE, d))))
def test_generated_documents_in_unusual_lexical_forms_come_back_byte_for_byte(
    app: ForeignClient, server: RunningServer, headers: dict[str, str], made: tuple[str, bytes]
) -> None:
    """Prefixes, unused declarations, attribute order, white space,
    comments, PIs and CDATA: through PutThings and GetThings in raw bytes,
    and through the FHIR attachment."""
    type_id, document = made
    thing_id = round_trip(app, server, type_id, document)
    assert attachment(server, headers, served(server, headers, thing_id)) == document


def test_the_capability_statement_says_exactly_what_document_references_do(server: RunningServer) -> None:
    answer = httpx.get(server.url + "/fhir/metadata", timeout=60)
    assert answer.status_code == 200
    statement = answer.json()
    valid_r4(statement)
    (documents,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "DocumentReference"]
    assert documents == {
        "type": "DocumentReference",
        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}, {"code": "create"}],
        "searchParam": [
            {"name": n, "type": t}
            for n, t in (("_id", "token"), ("_lastUpdated", "date"), ("_count", "number"))
            + (("date", "date"), ("patient", "reference"), ("subject", "reference"))
        ],
    }


def test_get_thing_type_describes_the_document_types(app: ForeignClient) -> None:
    answer = app.call("GetThingType", 1, f"<info><id>{CCR_TYPE}</id><id>{CDA_TYPE}</id></info>")
    assert answer.code == 0, answer.message
    names = [t.findtext("name") for t in answer.findall("thing-type")]
    assert names == ["Continuity of Care Record (CCR)", "Clinical Document Architecture (CDA)"], answer.raw
