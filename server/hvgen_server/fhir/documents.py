"""CCR and CDA things as DocumentReferences, and their documents' bytes.

Sources: FHIR R4 DocumentReference (http://hl7.org/fhir/R4/documentreference.html:
``type`` from the LOINC document codes, ``date`` an instant,
``content.attachment`` with ``contentType`` and ``url``, ``content.format``
from the value set http://hl7.org/fhir/R4/valueset-formatcodes.html, the IHE
format codes), HL7 C-CDA R2.1 (the US Realm Header template
2.16.840.1.113883.10.20.22.1.1, the CCD template 2.16.840.1.113883.10.20.22.1.2,
LOINC 34133-9 "Summary of episode note" as a CCD's code) and ASTM E2369 (a
CCR's ``DateTime/ExactDateTime``).

The document is the thing's data-xml root, kept as given
(:mod:`hvgen_server.clinicaldocs`). Its attachment is served from the bytes
of the stored version (:func:`document_bytes`): the element's bytes as
they are in the stored XML, not written again by lxml, so namespace
prefixes, declarations, attribute order, white space, comments and CDATA
sections come back as stored. An imported DocumentReference whose
attachment's ``data`` (base64) holds a CCR or a CDA makes that thing (one
per identifier, as every import).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from lxml import etree

from healthvault.errors import HealthVaultXmlError

from ..errors import ServerError
from . import xmlext
from .errors import FhirError
from .mapping import LOINC, Mapping

#: The media type a document's attachment is served as.
XML = "application/xml"
#: The IHE format codes (the code system of R4's formatcodes value set).
FORMAT_CODES = "http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem"
MIME_SUFFICIENT = (FORMAT_CODES, "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")
SUMMARY = (LOINC, "34133-9", "Summary of episode note")
HL7 = "urn:hl7-org:v3"
LOINC_OID = "2.16.840.1.113883.6.1"
US_REALM_HEADER = "2.16.840.1.113883.10.20.22.1.1"
CCD_TEMPLATES = ("2.16.840.1.113883.10.20.22.1.2", "2.16.840.1.113883.10.20.1")
C32 = "2.16.840.1.113883.10.20.1"
_HL7_TS = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?([+-]\d{4}|Z)")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


class _Found(ServerError):
    """Stops the byte scan once the document element has ended."""


def document_bytes(xml: bytes) -> bytes | None:
    """The bytes of the data-xml root of a stored thing version, exactly as
    they are in ``xml`` (None: no root found). The platform wrote ``xml``
    itself: it holds no DTD, and expat gives the byte offsets of tags."""
    parser = expat.ParserCreate()
    stack: list[str] = []
    where: list[int] = []

    def start(name: str, _attrs: Any) -> None:
        stack.append(name)
        if len(stack) == 3 and not where and stack[1] == "data-xml" and name != "common":
            where.append(parser.CurrentByteIndex)

    def end(name: str) -> None:
        if len(stack) == 3 and len(where) == 1:
            at = parser.CurrentByteIndex  # an end tag's start; after an empty element's tag (<a/>)
            where.append(xml.index(b">", at) + 1 if xml.startswith(b"</", at) else at)
            raise _Found
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(xml, True)
    except _Found:
        return xml[where[0] : where[1]]
    except expat.ExpatError:
        return None
    return None


def standalone(found: bytes, root: etree._Element) -> bytes:
    """The document as a document of its own: its stored bytes, unless they
    use a prefix declared outside the document (on the thing): then lxml
    writes it with that declaration."""
    try:
        etree.fromstring(found, etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True))
    except etree.XMLSyntaxError:
        return bytes(etree.tostring(root, with_tail=False))
    return found


def _coding(code: tuple[str, str, str]) -> dict[str, str]:
    found = {"system": code[0], "code": code[1]}
    if code[2]:
        found["display"] = code[2]
    return found


def _instant(value: str) -> str | None:
    """An R4 instant of an xs:dateTime or an HL7 TS, when it has seconds and a zone."""
    value = value.strip()
    found = _HL7_TS.fullmatch(value)
    if found is not None:
        y, mo, d, h, mi, s, frac, zone = found.groups()
        zone = "Z" if zone == "Z" else f"{zone[:3]}:{zone[3:]}"
        value = f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac or ''}{zone}"
    return value if _INSTANT.fullmatch(value) else None


@dataclass(frozen=True)
class DocumentMapping(Mapping):
    """A clinical-document thing as a DocumentReference."""

    label: str = ""

    def takes(self, resource: dict[str, Any]) -> bool:
        if resource.get("resourceType") != "DocumentReference":
            return False
        data = _data(resource)
        if data is None:
            return False
        try:
            return bool(xmlext.parse_base64(data, what="the attachment's data").tag == self.root)
        except HealthVaultXmlError:
            return False

    def normal(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Without the bytes (kept as the document), and an XML media type of the attachment
        (``text/xml``, ``application/xml``, ``...+xml``, with parameters) as the one served:
        the thing holds the XML document itself."""
        out = without_data(resource)
        for content in out.get("content") or []:
            attachment = content.get("attachment") if isinstance(content, dict) else None
            if isinstance(attachment, dict) and _xml_media(attachment.get("contentType")):
                content["attachment"] = {**attachment, "contentType": XML}
        return out

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        kind, fmt, title, when = self.describe(root)
        resource: dict[str, Any] = {"resourceType": "DocumentReference", "status": "current"}
        resource["type"] = {"coding": [_coding(kind)], "text": self.label} if kind[1] else {"text": self.label}
        instant = _instant(when) if when else None
        if instant:
            resource["date"] = instant
        if title:
            resource["description"] = title
        attachment: dict[str, Any] = {"contentType": XML}
        if title:
            attachment["title"] = title
        resource["content"] = [{"attachment": attachment, "format": _coding(fmt)}]
        return resource

    def describe(self, root: etree._Element) -> tuple[tuple[str, str, str], tuple[str, str, str], str, str]:
        """(type, format code, title, time as written) of a document."""
        if root.tag != f"{{{HL7}}}ClinicalDocument":
            when = root.findtext("{urn:astm-org:CCR}DateTime/{urn:astm-org:CCR}ExactDateTime") or ""
            return SUMMARY, MIME_SUFFICIENT, "", when
        templates = {t.get("root"): t.get("extension") for t in root.iterfind(f"{{{HL7}}}templateId")}
        code = root.find(f"{{{HL7}}}code")
        kind = SUMMARY if any(t in templates for t in CCD_TEMPLATES) else (LOINC, "", "")
        if code is not None and code.get("codeSystem") == LOINC_OID and code.get("code"):
            kind = (LOINC, str(code.get("code")), str(code.get("displayName") or ""))
        if US_REALM_HEADER in templates:
            version = "2.1" if templates[US_REALM_HEADER] else "1.1"
            fmt = (FORMAT_CODES, f"urn:hl7-org:sdwg:ccda-structuredBody:{version}", f"C-CDA R{version} Structured Body")
        elif C32 in templates:
            fmt = (FORMAT_CODES, "urn:ihe:pcc:xphr:2007", "Personal Health Records (HL7 CCD, HITSP C32)")
        else:
            fmt = MIME_SUFFICIENT
        if not kind[1]:
            kind = SUMMARY if fmt != MIME_SUFFICIENT else (LOINC, "", "")
        title = " ".join((root.findtext(f"{{{HL7}}}title") or "").split())
        effective = root.find(f"{{{HL7}}}effectiveTime")
        return kind, fmt, title, effective.get("value", "") if effective is not None else ""

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        data = _data(resource)
        if data is None:
            if base is not None:
                return base
            raise FhirError(
                422, f"DocumentReference ({self.label}): send the document as base64 in the attachment's data"
            )
        try:
            root = xmlext.parse_base64(data, what="the attachment's data")
        except HealthVaultXmlError as exc:
            raise FhirError(422, f"DocumentReference ({self.label}): {exc}") from None
        xmlext.forget()  # the element is the thing's now
        if root.tag != self.root:
            raise FhirError(422, f"DocumentReference ({self.label}): the attachment is not a {self.label}")
        return root


def _xml_media(value: Any) -> bool:
    """Whether a media type is one of XML's (its parameters aside)."""
    base = str(value or "").split(";", 1)[0].strip().lower()
    return base in ("text/xml", "application/xml") or (base.startswith("application/") and base.endswith("+xml"))


def without_data(resource: dict[str, Any]) -> dict[str, Any]:
    """A DocumentReference without its attachments' bytes (``data``, kept as
    the thing's document or blob) and this server's attachment URL (served
    with it): what :mod:`.keeping` compares with the resource its thing makes."""
    contents = resource.get("content")
    if not isinstance(contents, list):
        return resource
    out = []
    for content in contents:
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if isinstance(attachment, dict):
            attachment = {k: v for k, v in attachment.items() if k != "data"}
            if str(attachment.get("url") or "").endswith("/attachment") and "/fhir/DocumentReference/" in str(
                attachment.get("url")
            ):
                del attachment["url"]
            content = {**content, "attachment": attachment}
        out.append(content)
    return {**resource, "content": out}


def _data(resource: dict[str, Any]) -> Any:
    """The base64 text of the one attachment's data (None: none, or not one attachment)."""
    contents = resource.get("content") or []
    if len(contents) != 1 or not isinstance(contents[0], dict):
        return None
    attachment = contents[0].get("attachment")
    if not isinstance(attachment, dict) or not attachment.get("data"):
        return None
    return attachment["data"]
