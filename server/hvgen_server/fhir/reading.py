"""Reading resources of the record: one by id, or a search's page.

Every version read passes :func:`.access.visible`. Before a search, the
index catches up with mapped things written before it knew their type
(:func:`refresh`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..context import Platform
from ..store.base import Transaction
from ..store.rows import FhirRow, ThingSelection, ThingVersion
from . import imaging, registry, search
from .access import Caller, hidden_flags, may_see, visible
from .documents import DocumentMapping, document_bytes, standalone
from .errors import FhirError
from .maps.document_reference import OCTET_STREAM

#: Versions indexed per write transaction when the index catches up with older things.
REFRESH_BATCH = 500


def refresh(platform: Platform, record_id: str) -> None:
    """Index the current versions of mapped things that have no facts yet,
    or whose resource was made in another form (once per record and server
    process: from then on every write indexes its thing, whichever server
    process of the store writes it)."""
    if record_id in platform.fhir.refreshed:
        return
    type_ids = list(platform.fhir.by_type_id)
    while True:
        with platform.store.read() as tx:
            stale = tx.fhir.stale(record_id, type_ids, REFRESH_BATCH, registry.FORM)
            if not stale:
                platform.fhir.refreshed.add(record_id)
                return
            versions = [m.version for m in tx.things.select(record_id, ThingSelection(keys=dict(stale)), with_xml=True)]
        with platform.store.write() as tx:
            for v in versions:  # a version no mapping reads is indexed with nothing, not tried again
                found = platform.fhir.entry(v.type_id, platform.fhir.data_root(v), v.thing_id) or ([], "")
                tx.fhir.replace(record_id, v.thing_id, v.version_stamp, found[0], found[1], registry.FORM)
        if not versions:
            return


def resource_of(platform: Platform, tx: Transaction, record_id: str, row: FhirRow) -> dict[str, Any]:
    """The resource of an indexed thing: from the JSON kept with its
    version, else made from its XML (read in ``tx``)."""
    found = platform.fhir.from_row(record_id, row)
    if found is None:
        selection = ThingSelection(keys={row.thing_id: row.version_stamp})
        for match in tx.things.select(record_id, selection, with_xml=True):
            found = platform.fhir.resource(record_id, match.version)
    if found is None:
        raise FhirError(404, f"thing {row.thing_id} changed while it was read")
    return imaging.add_instances(tx, record_id, found) if found["resourceType"] == "ImagingStudy" else found


def patient(platform: Platform, record_id: str) -> dict[str, Any]:
    """The record's person as a Patient (its id: the record's id)."""
    with platform.store.read() as tx:
        record = tx.records.get(record_id)
        person = tx.persons.get(record.person_id) if record is not None else None
    name = (person.name if person is not None else "") or (record.name if record is not None else "")
    resource: dict[str, Any] = {"resourceType": "Patient", "id": record_id, "active": True}
    if name:
        resource["name"] = [{"text": name}]
    return resource


def read(platform: Platform, caller: Caller, kind: str, wanted: str) -> dict[str, Any]:
    """The resource ``kind/wanted`` of the caller's record."""
    if kind == "Patient":
        if wanted != caller.record_id:
            raise FhirError(404, f"no Patient/{wanted} here")
        return patient(platform, caller.record_id)
    with platform.store.read() as tx:
        selection = ThingSelection(thing_ids=(wanted,))
        found = [m.version for m in tx.things.select(caller.record_id, selection, with_xml=True)]
        if not found or platform.fhir.by_type_id.get(found[0].type_id) is None or not visible(caller, found[0]):
            raise FhirError(404, f"no {kind}/{wanted} here")
        resource = platform.fhir.resource(caller.record_id, found[0])
        if resource["resourceType"] == "ImagingStudy":
            resource = imaging.add_instances(tx, caller.record_id, resource)
    if resource["resourceType"] != kind:
        raise FhirError(404, f"no {kind}/{wanted} here (it is a {resource['resourceType']})")
    return resource


def find(platform: Platform, caller: Caller, kind: str, parsed: search.Search, base: str) -> dict[str, Any]:
    """A searchset Bundle of one page of a search."""
    if kind == "Patient":
        q = parsed.query
        match = parsed.patient_ok and (not q.ids or caller.record_id in q.ids)
        found = [patient(platform, caller.record_id)] if match and q.offset == 0 and q.limit else []
        return search.bundle(base, kind, parsed, 1 if match else 0, found)
    if not parsed.patient_ok:
        return search.bundle(base, kind, parsed, 0, [])
    refresh(platform, caller.record_id)
    with platform.store.read() as tx:
        query = dataclasses.replace(parsed.query, hidden_flags=hidden_flags(caller))
        rows, total = tx.fhir.page(caller.record_id, query)
        resources = [resource_of(platform, tx, caller.record_id, r) for r in rows if may_see(caller, r.flags)]
    return search.bundle(base, kind, parsed, total, resources)


def attachment(platform: Platform, caller: Caller, wanted: str) -> tuple[str, str, int] | bytes:
    """The bytes of a DocumentReference: the blob of a file thing (blob id,
    media type, size), or a CCR's or CDA's document as stored (its bytes)."""
    with platform.store.read() as tx:
        selection = ThingSelection(thing_ids=(wanted,))
        found = [m.version for m in tx.things.select(caller.record_id, selection, with_xml=True)]
        mapping = platform.fhir.by_type_id.get(found[0].type_id) if found else None
        if (
            not found
            or mapping is None
            or mapping.resource_type != "DocumentReference"
            or not visible(caller, found[0])
        ):
            raise FhirError(404, f"no DocumentReference/{wanted} here")
        if isinstance(mapping, DocumentMapping):
            return _document(platform, found[0], wanted)
        refs = tx.things.blob_refs(found[0].version_stamp)
    default = next((r for r in refs if r.name == ""), None)
    if default is None:
        raise FhirError(404, f"DocumentReference/{wanted} has no bytes (its file thing has no default blob)")
    return default.blob_id, default.content_type or OCTET_STREAM, platform.files.size(default.blob_id)


def _document(platform: Platform, version: ThingVersion, wanted: str) -> bytes:
    """A CCR's or CDA's document: its bytes in the stored version."""
    found = document_bytes(version.xml)
    root = platform.fhir.data_root(version)
    if found is None or root is None:
        raise FhirError(500, f"DocumentReference/{wanted}: its stored thing holds no document")
    return standalone(found, root)
