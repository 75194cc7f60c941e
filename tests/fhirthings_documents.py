"""Hypothesis strategies of CCR and CDA documents in unusual lexical forms:
a prefix or the default namespace, unused namespace declarations,
attributes in any order, white space between elements and in text,
comments, processing instructions and CDATA sections. Each is in the form
libxml2 writes (what any XML server stores: a CDATA section stays one, but
``<a></a>`` is ``<a/>``, ``\\r\\n`` is ``\\n``, declarations come before
attributes), so that a server keeping documents as given returns it byte
for byte."""

from __future__ import annotations

import datetime as dt
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st
from lxml import etree

#: Parses as the platform does: CDATA sections kept.
PARSER = etree.XMLParser(strip_cdata=False, resolve_entities=False, load_dtd=False, no_network=True)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_SPACE = st.sampled_from(["", "\n", "\n  ", "\t", "  ", "\r\n"])
_ATTRS = st.lists(st.sampled_from(["zeta", "alpha", "mid", "b", "a"]), unique=True, max_size=4)


@st.composite
def _filler(draw: st.DrawFn, tag: str) -> str:
    """An element of no schema: odd attributes, CDATA, a comment or a PI."""
    attrs = "".join(f" {n}={quoteattr(draw(_TEXT))}" for n in draw(_ATTRS))
    kind = draw(st.sampled_from(["cdata", "comment", "pi", "text", "empty"]))
    body = {
        "cdata": f"<![CDATA[{draw(_TEXT).replace(']]>', '')}<x> & y]]>",
        "comment": f"<!--{draw(_TEXT).replace('-', '')}-->",
        "pi": f"<?keep {draw(_TEXT).replace('?>', '')}?>",
        "text": escape(draw(_TEXT)),
        "empty": "",
    }[kind]
    return f"<{tag}{attrs}>{body}</{tag}>"


def _libxml2(text: str) -> bytes:
    return bytes(etree.tostring(etree.fromstring(text.encode("utf-8"), PARSER), encoding="utf-8"))


@st.composite
def ccr_bytes(draw: st.DrawFn) -> bytes:
    prefix = draw(st.sampled_from(["", "ccr", "a1", "astm"]))
    q = f"{prefix}:" if prefix else ""
    declare = f'xmlns{":" + prefix if prefix else ""}="urn:astm-org:CCR"'
    unused = ' xmlns:unused="urn:example:unused"' if draw(st.booleans()) else ""
    sp = [draw(_SPACE) for _ in range(4)]
    when = draw(st.datetimes(timezones=st.just(dt.UTC))).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _libxml2(
        f"<{q}ContinuityOfCareRecord {declare}{unused}>{sp[0]}<{q}CCRDocumentObjectID>{escape(draw(_TEXT))}"
        f"</{q}CCRDocumentObjectID>{sp[1]}<{q}DateTime><{q}ExactDateTime>{when}</{q}ExactDateTime></{q}DateTime>"
        f"{sp[2]}{draw(_filler(q + 'Extra'))}{sp[3]}</{q}ContinuityOfCareRecord>"
    )


@st.composite
def cda_bytes(draw: st.DrawFn) -> bytes:
    prefix = draw(st.sampled_from(["", "hl7", "v3"]))
    q = f"{prefix}:" if prefix else ""
    declare = f'xmlns{":" + prefix if prefix else ""}="urn:hl7-org:v3"'
    unused = ' xmlns:voc="urn:hl7-org:v3/voc" xmlns:sdtc="urn:hl7-org:sdtc"' if draw(st.booleans()) else ""
    templates = draw(
        st.lists(
            st.sampled_from(
                [
                    'root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"',
                    'root="2.16.840.1.113883.10.20.22.1.1"',
                ]
                + ['root="2.16.840.1.113883.10.20.22.1.2"', 'root="2.16.840.1.113883.10.20.1"', 'root="1.2.3"']
            ),
            unique=True,
            max_size=3,
        )
    )
    code = draw(st.sampled_from(["34133-9", "18842-5", ""]))
    moment = draw(st.datetimes(timezones=st.just(dt.UTC)))
    stamp = moment.strftime(draw(st.sampled_from(["%Y%m%d", "%Y%m%d%H%M%S", "%Y%m%d%H%M%S+0000", "%Y%m%d%H%M%S-0500"])))
    sp = draw(_SPACE)
    parts = [f"<{q}templateId {t}/>" for t in templates]
    if code:
        parts.append(f'<{q}code codeSystem="2.16.840.1.113883.6.1" code="{code}"/>')
    parts.append(f"<{q}title>{escape(draw(_TEXT))}</{q}title>")
    parts.append(f'<{q}effectiveTime value="{stamp}"/>')
    parts.append(draw(_filler(q + "unexpected")))
    attrs = "".join(f' {n}="{n}"' for n in draw(_ATTRS))
    return _libxml2(f"<{q}ClinicalDocument {declare}{unused}{attrs}>{sp.join(parts)}</{q}ClinicalDocument>")


def element(document: bytes) -> etree._Element:
    return etree.fromstring(document, PARSER)


STRATEGIES = {"ccr": ccr_bytes().map(element), "cda": cda_bytes().map(element)}
#: A document of each kind other than those the strategies make.
OTHER_DOCUMENTS = {
    "ccr": b'<ContinuityOfCareRecord xmlns="urn:astm-org:CCR"><CCRDocumentObjectID>o</CCRDocumentObjectID></ContinuityOfCareRecord>',
    "cda": b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>other</title></ClinicalDocument>',
}
