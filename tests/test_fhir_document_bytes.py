"""A CCR's or CDA's attachment is sliced from the stored version's bytes,
not written again: over generated documents in unusual lexical forms
(prefixes, unused declarations, attribute order, white space, comments,
processing instructions, CDATA), stored as PutThings stores a thing, the
slice is the document as sent, and its DocumentReference is valid R4."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hvgen_server import thingxml
from hvgen_server.fhir.documents import document_bytes, standalone
from hvgen_server.fhir.registry import all_mappings

from .fhirthings_documents import PARSER, ccr_bytes, cda_bytes

construct = pytest.importorskip("fhir.resources").construct_fhir_element
MAPPINGS = {m.root: m for m in all_mappings()}


def stored_as_putthings(document: bytes, envelope_ns: str = "") -> bytes:
    """The version PutThings stores of a thing holding ``document`` (sent inside a request envelope)."""
    request = (
        f'<request xmlns:wc="urn:com.microsoft.wc.request"{envelope_ns}><info><thing>'
        "<type-id>t</type-id><data-xml>".encode()
        + document
        + b"<common/></data-xml></thing></info></request>"
    )
    thing = etree.fromstring(request, PARSER).find("info/thing")
    assert thing is not None
    root = thing.find("data-xml")[0]
    xml, _layout = thingxml.serialize(thingxml.clean_copy(thing, root))
    return xml


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(ccr_bytes(), cda_bytes()))
def test_the_attachment_is_the_document_as_sent(document: bytes) -> None:
    stored = stored_as_putthings(document)
    found = document_bytes(stored)
    assert found == document
    root = thingxml.parse_stored(stored).find("data-xml")[0]
    assert standalone(found, root) == document
    resource = MAPPINGS[root.tag].to_fhir(root)
    construct("DocumentReference", copy.deepcopy(resource))  # raises on anything R4 does not allow


def test_a_prefix_declared_outside_the_document_is_declared_in_it() -> None:
    """A document using a prefix the request envelope declares: its stored
    bytes are no document of their own, so lxml writes it with the declaration."""
    document = b"<c:ContinuityOfCareRecord><c:Version>V1.0</c:Version></c:ContinuityOfCareRecord>"
    stored = stored_as_putthings(document, ' xmlns:c="urn:astm-org:CCR"')
    found = document_bytes(stored)
    assert found == document
    root = thingxml.parse_stored(stored).find("data-xml")[0]
    alone = standalone(found, root)
    assert (
        alone
        == b'<c:ContinuityOfCareRecord xmlns:c="urn:astm-org:CCR"><c:Version>V1.0</c:Version></c:ContinuityOfCareRecord>'
    )


def test_an_empty_document_element_and_a_thing_without_one() -> None:
    document = b'<ClinicalDocument xmlns="urn:hl7-org:v3" a="x&gt;y"/>'
    assert document_bytes(stored_as_putthings(document)) == document
    assert document_bytes(b"<thing><type-id>t</type-id><data-xml><common/></data-xml></thing>") is None
