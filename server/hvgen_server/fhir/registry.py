"""The mappings of the thing types the server serves, and resources of things.

A mapping is offered when the server knows one of its thing types (the
project's own types always; catalog types when ``hvgen serve --schemas``
loads the catalog): mappings read and write the data XML itself, so they
work with whichever package serves the type, and what they write is
checked against that package's schema like any thing (PutThings' checks).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from typing import Any

from lxml import etree

from .. import thingxml
from ..store.base import Transaction
from ..store.rows import FhirFact, FhirRow, ThingVersion
from ..thingtypes import ThingTypes
from ..xmltime import iso
from . import keeping, maps, xmlext
from .datatypes import child, index_date
from .errors import FhirError
from .mapping import Mapping

#: Where each resource type's date search parameter (``date``) looks, and its reference to the patient.
DATE_ELEMENTS = {
    "Observation": ("effectiveDateTime", "effectivePeriod", "effectiveInstant"),
    "ImagingStudy": ("started",),
    "Immunization": ("occurrenceDateTime",),
    "Procedure": ("performedDateTime",),
    "MedicationStatement": ("effectivePeriod",),
    "DocumentReference": ("date",),
}
PATIENT_ELEMENT = {"Observation": "subject", "ImagingStudy": "subject", "Condition": "subject"}
#: The form of the resources the mappings make, kept with each indexed
#: version: change it when a mapping makes something else of the same data
#: (resources of another form are made again as searches arrive).
FORM = "2"
#: Resource types :meth:`FhirTypes.compose` adds more to than the kept JSON and the row say.
_COMPOSED = frozenset({"ImagingStudy", "DocumentReference"})
_DECODER = json.JSONDecoder()
PATIENT_ELEMENT |= {"Immunization": "patient", "AllergyIntolerance": "patient"}
#: Where a resource type's ``code`` search parameter looks, when not in ``code``.
CODE_ELEMENT = {"Immunization": "vaccineCode", "MedicationStatement": "medicationCodeableConcept"}
#: The Endpoint an ImagingStudy's images are retrieved from (this server's DICOMweb).
ENDPOINT_ID = "dicomweb"


def all_mappings() -> list[Mapping]:
    """Every mapping module's mapping."""
    return [importlib.import_module(f"{maps.__name__}.{name}").MAPPING for name in maps.MODULES]


class FhirTypes:
    """The mappings the server offers (those of the types it serves)."""

    def __init__(self, thing_types: ThingTypes, mappings: Iterable[Mapping] | None = None, base_url: str = "") -> None:
        self.base_url = base_url
        self.by_type_id: dict[str, Mapping] = {}
        for mapping in all_mappings() if mappings is None else mappings:
            for type_id in mapping.type_ids:
                if thing_types.get(type_id) is not None:
                    self.by_type_id[type_id] = mapping
        self.mappings = list(dict.fromkeys(self.by_type_id.values()))
        #: Records whose index has caught up with things written before it knew their types.
        self.refreshed: set[str] = set()

    def resource_types(self) -> list[str]:
        """The resource types served: Patient, and those of the mappings."""
        return ["Patient", *sorted({m.resource_type for m in self.mappings})]

    def type_ids(self, resource_type: str) -> list[str]:
        return [t for t, m in self.by_type_id.items() if m.resource_type == resource_type]

    def mapping_for(self, resource: dict[str, Any]) -> Mapping:
        """The mapping an imported resource is made into a thing by."""
        kind = resource.get("resourceType")
        codes = {
            (c.get("system"), c.get("code"))
            for c in (resource.get("code") or {}).get("coding") or []
            if isinstance(c, dict)
        }
        for mapping in self.mappings:
            if mapping.resource_type == kind and mapping.takes(resource):
                return mapping
        for mapping in self.mappings:
            if mapping.resource_type == kind and mapping.claims(codes):
                return mapping
        if kind in self.resource_types() and not any(m.imports for m in self.mappings if m.resource_type == kind):
            raise FhirError(
                422, f"{kind} is served but not imported (it comes into the record another way)", "not-supported"
            )
        named = ", ".join(f"{s}|{c}" for s, c in sorted(codes, key=str)) or "no code"
        raise FhirError(422, f"{kind} ({named}) maps to no thing type this server serves", "not-supported")

    def resource(self, record_id: str, row: ThingVersion) -> dict[str, Any]:
        """The resource of a thing version (``row`` read with its XML)."""
        mapping = self.by_type_id.get(row.type_id)
        if mapping is None:
            raise FhirError(404, f"thing {row.thing_id} is of a type with no FHIR mapping")
        body = self.body(_data_root(thingxml.parse_stored(row.xml), mapping.root), row.thing_id, mapping)
        return self.compose(record_id, row.thing_id, row.version_stamp, row.updated, body)

    def body(self, root: etree._Element, thing_id: str, mapping: Mapping) -> dict[str, Any]:
        """What a thing's data makes of its resource: all but what its row
        says (:meth:`compose`); kept in the index with each version."""
        made = mapping.to_fhir(root)
        # resourceType and meta first, always: :meth:`line` finds them at the start of the kept JSON
        body: dict[str, Any] = {"resourceType": made.pop("resourceType"), "meta": made.pop("meta", {})}
        body["extension"] = [xmlext.extension(etree.tostring(root, encoding="utf-8", with_tail=False))]
        identifiers = [*made.pop("identifier", []), {"system": xmlext.THING_ID_SYSTEM, "value": f"urn:uuid:{thing_id}"}]
        data = root.getparent()
        client_id = (data.findtext("common/client-thing-id") or "").strip() if data is not None else ""
        if client_id:
            system, bar, value = client_id.partition("|")
            found = {"system": system, "value": value} if bar and system and value else None
            identifiers.append(found or {"system": xmlext.CLIENT_ID_SYSTEM, "value": client_id})
        body["identifier"] = identifiers
        body.update(made)
        note = data.findtext("common/note") if data is not None else None
        if (
            note and body["resourceType"] in keeping.NOTED and "note" not in body
        ):  # the thing's note (what an imported resource's first note makes), unless the mapping has notes
            body["note"] = [{"text": note}]
        return body

    def compose(
        self, record_id: str, thing_id: str, version_stamp: str, updated: float, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The resource of a version from its :meth:`body` (which it takes
        apart) and its row: id, version, update time, this server's
        Endpoint, the patient."""
        kind = body.pop("resourceType")
        meta = {"versionId": version_stamp, "lastUpdated": iso(updated), **body.pop("meta", {})}
        resource: dict[str, Any] = {"resourceType": kind, "id": thing_id, "meta": meta}
        if kind == "ImagingStudy":
            resource["extension"] = body.pop("extension")
            resource["identifier"] = body.pop("identifier")
            resource["contained"] = [self.endpoint()]
            body["endpoint"] = [{"reference": f"#{ENDPOINT_ID}"}]
        if kind == "DocumentReference":  # its bytes: served by this server, from the blob store
            for content in body.get("content", []):
                content["attachment"]["url"] = f"{self.base_url}/fhir/DocumentReference/{thing_id}/attachment"
        resource.update(body)
        resource[PATIENT_ELEMENT.get(kind, "subject")] = {"reference": f"Patient/{record_id}"}
        return resource

    def from_row(self, record_id: str, row: FhirRow) -> dict[str, Any] | None:
        """The resource of an indexed thing from the JSON kept with its
        version; None when that is missing or of another form (the caller
        makes it from the thing's XML)."""
        if not row.resource or row.form != FORM:
            return None
        return self.compose(record_id, row.thing_id, row.version_stamp, row.updated, json.loads(row.resource))

    def endpoint(self) -> dict[str, Any]:
        """This server's DICOMweb service as an Endpoint (WADO-RS, the same bearer token)."""
        return {
            "resourceType": "Endpoint",
            "id": ENDPOINT_ID,
            "status": "active",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "dicom-wado-rs",
            },
            "payloadType": [{"text": "DICOM"}],
            "payloadMimeType": ["application/dicom"],
            "address": f"{self.base_url}/dicomweb",
        }

    def data_root(self, row: ThingVersion) -> etree._Element | None:
        """The data-xml root of a stored version (read with its XML) of a mapped type."""
        mapping = self.by_type_id.get(row.type_id)
        if mapping is None:
            return None
        return thingxml.parse_stored(row.xml).find(f"data-xml/{mapping.root}")

    def line(self, record_id: str, row: FhirRow) -> bytes | None:
        """The NDJSON line of an indexed thing, spliced from the JSON kept
        with its version without reading all of it (what :meth:`compose`
        makes, as text); None where that cannot be (nothing kept, another
        form, a type :meth:`compose` adds more to)."""
        text = row.resource
        head = '{"resourceType":"'
        if not text or row.form != FORM or not text.startswith(head):
            return None
        kind_end = text.find('"', len(head))
        kind = text[len(head) : kind_end]
        meta_at = kind_end + len('","meta":')
        if kind in _COMPOSED or text[kind_end:meta_at] != '","meta":':
            return None
        extra, end = _DECODER.raw_decode(text, meta_at)
        meta = {"versionId": row.version_stamp, "lastUpdated": iso(row.updated), **extra}
        subject = {"reference": f"Patient/{record_id}"}
        return (
            f'{{"resourceType":"{kind}","id":{_dumps(row.thing_id)},"meta":{_dumps(meta)}{text[end:-1]},'
            f'"{PATIENT_ELEMENT.get(kind, "subject")}":{_dumps(subject)}}}\n'
        ).encode()

    def facts(self, type_id: str, data_root: etree._Element | None) -> list[FhirFact] | None:
        """What the index holds of a thing of this type (None: a type with no mapping)."""
        found = self.entry(type_id, data_root, "")
        return None if found is None else found[0]

    def entry(self, type_id: str, data_root: etree._Element | None, thing_id: str) -> tuple[list[FhirFact], str] | None:
        """The index facts of a thing of this type and its resource's
        :meth:`body` as JSON ('' when the mapping cannot read its data: it
        is then found by type only); None for a type with no mapping."""
        mapping = self.by_type_id.get(type_id)
        if mapping is None or data_root is None or data_root.tag != mapping.root:
            return None
        try:
            body = self.body(data_root, thing_id, mapping)
        except FhirError:
            return [FhirFact(mapping.resource_type)], ""
        return facts_of(body), _dumps(body)

    def index(
        self,
        tx: Transaction,
        record_id: str,
        thing_id: str,
        version_stamp: str,
        type_id: str,
        data_root: etree._Element | None,
    ) -> None:
        """Index a version being written, in its write transaction (nothing for a type with no mapping)."""
        found = self.entry(type_id, data_root, thing_id)
        if found is not None:
            tx.fhir.replace(record_id, thing_id, version_stamp, found[0], found[1], FORM)


def facts_of(resource: dict[str, Any]) -> list[FhirFact]:
    """The index rows of a resource: each code with and without its system,
    by each category with and without its system, and its date."""
    kind = str(resource["resourceType"])
    date = ""
    for name in DATE_ELEMENTS.get(kind, ()):
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start")
        if value:
            date = index_date(str(value))
            break
    codes = _tokens([resource.get(CODE_ELEMENT.get(kind, "code"))]) or [""]
    categories = _tokens(resource.get("category") or []) or [""]
    return [FhirFact(kind, c, k, date) for c in codes for k in categories]


def _tokens(concepts: Iterable[Any]) -> list[str]:
    found: list[str] = []
    for concept in concepts:
        for coding in (concept or {}).get("coding") or []:
            code = coding.get("code")
            if code:
                found += [f"{coding.get('system') or ''}|{code}", str(code)]
    return list(dict.fromkeys(found))


def _data_root(thing: etree._Element, root: str) -> etree._Element:
    found = child(thing, f"data-xml/{root}")
    if found is None:
        raise FhirError(500, f"a stored thing has no <{root}> in its data-xml")
    return found


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
