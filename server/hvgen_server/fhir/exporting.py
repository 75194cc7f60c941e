"""The whole record as NDJSON, one resource type at a time, streamed.

Things are read from one query whose rows are streamed from the store (a
read transaction), each made a resource and written as one line: memory
stays the same whatever the record holds. Used by ``GET /fhir/$export``
(files written by a background job) and ``hvgen fhir export``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..context import Platform
from ..store.rows import ThingFilter, ThingSelection
from .access import Caller, visible


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


def lines(platform: Platform, caller: Caller, resource_type: str) -> Iterator[bytes]:
    """NDJSON lines of every resource of one type in the record."""
    if resource_type == "Patient":
        yield _line(patient(platform, caller.record_id))
        return
    type_ids = tuple(platform.fhir.type_ids(resource_type))
    if not type_ids:
        return
    with platform.store.read() as tx:
        found = tx.things.select(caller.record_id, ThingSelection(), [ThingFilter(type_ids=type_ids)], with_xml=True)
        for match in found:
            if visible(caller, match.version):
                yield _line(platform.fhir.resource(caller.record_id, match.version))


def _line(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
