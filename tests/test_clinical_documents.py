"""CCR and CDA things: documents kept as given, over raw bytes on the wire.

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

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from .foreign import Answer, Application, ForeignClient
from .localserver import RunningServer, start_server

CCR_TYPE = "1e1ccbfc-a55d-4d91-8940-fa2fbf73c195"
CDA_TYPE = "9c48a2b8-952c-4f5a-935d-f3292326bf54"
CATALOG_SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "catalog" / "samples"

#: A CCR the published schema refuses: <Body> is missing and <Extra> is not in its content model;
#: a prefix, an unused declaration, attributes in no particular order, white space, a comment, CDATA.
ODD_CCR = (
    b'<ccr:ContinuityOfCareRecord xmlns:ccr="urn:astm-org:CCR" xmlns:unused="urn:example:unused"'
    b' zeta="1" alpha="2">\n  <ccr:CCRDocumentObjectID>  id-1  </ccr:CCRDocumentObjectID>\n'
    b"  <!-- a comment -->\n  <ccr:Language><ccr:Text>English</ccr:Text></ccr:Language>"
    b'<ccr:Version>V1.0</ccr:Version>\n\t<ccr:Extra b="x" a="y"><![CDATA[<kept> & as given]]></ccr:Extra>\n'
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
