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
from . import reading
from .access import Caller, may_see


def lines(platform: Platform, caller: Caller, resource_type: str, since: float | None = None) -> Iterator[bytes]:
    """NDJSON lines of every resource of one type in the record (with
    ``since``: of things updated after it, epoch seconds), each from the
    JSON the index keeps with the thing's version (made from the thing's
    XML where the index has none)."""
    if resource_type == "Patient":
        yield _line(reading.patient(platform, caller.record_id))
        return
    type_ids = tuple(platform.fhir.type_ids(resource_type))
    if not type_ids:
        return
    reading.refresh(platform, caller.record_id)
    with platform.store.read() as tx:
        rows = tx.fhir.current(caller.record_id, type_ids, since)
        try:
            for row in rows:
                if may_see(caller, row.flags):
                    spliced = platform.fhir.line(caller.record_id, row)
                    yield spliced or _line(reading.resource_of(platform, tx, caller.record_id, row))
        finally:
            rows.close()  # type: ignore[attr-defined]


def _line(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
